"""Datasets: MNIST and CIFAR-10 from standard files (or the embedded MNIST), splits, subsets, batches.

>>> from nasforge.data import load_dataset, class_balanced_subset, BatchLoader
>>> train = load_dataset("mnist", "train", allow_embedded=True)      # doctest: +SKIP
>>> small = class_balanced_subset(train, 0.05, seed=0)               # doctest: +SKIP
>>> for x, y in BatchLoader(small, 64, shuffle=True, augment=False, seed=0): ...  # doctest: +SKIP

Modules: ``specs`` (the one table of dataset facts; no torch), ``formats`` (file readers), ``loading`` (find
and load a dataset's files), ``batches`` (batches, normalisation, augmentation), ``splits``.
"""

from __future__ import annotations

import importlib
from typing import Any

from nasforge.data.specs import DATASETS, DatasetSpec, dataset_spec, list_datasets

# The torch-backed names load on first use, so that torch-free code (the CLI's argument parsing, the
# benchmarks) can read the dataset facts in nasforge.data.specs without importing torch.
_LAZY = {
    "ImageDataset": "_dataset",
    "normalization": "_dataset",
    "BatchLoader": "batches",
    "Normalizer": "batches",
    "random_crop_flip": "batches",
    "DATASET_NAMES": "loading",
    "load_dataset": "loading",
    "load_embedded_mnist": "loading",
    "class_balanced_subset": "splits",
    "train_valid_split": "splits",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "BatchLoader",
    "DatasetSpec",
    "ImageDataset",
    "Normalizer",
    "class_balanced_subset",
    "dataset_spec",
    "list_datasets",
    "load_dataset",
    "load_embedded_mnist",
    "normalization",
    "random_crop_flip",
    "train_valid_split",
]
