"""Datasets: MNIST and CIFAR-10 from standard files (or the embedded MNIST), splits, subsets, batches.

>>> from nasforge.data import load_dataset, class_balanced_subset, BatchLoader
>>> train = load_dataset("mnist", "train", allow_embedded=True)      # doctest: +SKIP
>>> small = class_balanced_subset(train, 0.05, seed=0)               # doctest: +SKIP
>>> for x, y in BatchLoader(small, 64, shuffle=True, augment=False, seed=0): ...  # doctest: +SKIP
"""

from nasforge.data._dataset import NORMALIZATION, ImageDataset, normalization
from nasforge.data.loader import BatchLoader, Normalizer, random_crop_flip
from nasforge.data.loading import DATASET_NAMES, load_dataset, load_embedded_mnist
from nasforge.data.splits import class_balanced_subset, train_valid_split

__all__ = [
    "DATASET_NAMES",
    "NORMALIZATION",
    "BatchLoader",
    "ImageDataset",
    "Normalizer",
    "class_balanced_subset",
    "load_dataset",
    "load_embedded_mnist",
    "normalization",
    "random_crop_flip",
    "train_valid_split",
]
