"""Readers for the standard dataset file formats: MNIST's IDX (raw or gzip), CIFAR-10's python pickle
batches and the shared CIFAR-10 ``.npz`` files.

Each reader returns numpy arrays and raises :class:`~nasforge.errors.DataError` naming the file and what
was expected (wrong magic number, truncated file, wrong shape), never a bare ``struct``/``zlib`` error.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from nasforge._io import open_capped, read_capped
from nasforge.errors import DataError

# IDX magic: two zero bytes, a type code (0x08 = unsigned byte) and the number of dimensions.
IDX_IMAGES_MAGIC = 2051  # 0x00000803: ubyte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: ubyte, 1 dimension

CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"


# Largest (decompressed) content accepted: far above the real files (MNIST train images: 47 MB; a CIFAR-10 batch:
# 31 MB), so a corrupt or hostile file is refused before it fills memory.
IDX_FILE_LIMIT = 1 << 30
CIFAR_BATCH_LIMIT = 1 << 27
CIFAR_NPZ_LIMIT = 1 << 29  # one array of a shared CIFAR-10 .npz file (the 50,000 training images: 154 MB)


def read_bytes(path: Path, limit: int = CIFAR_BATCH_LIMIT, what: str = "CIFAR-10 batch") -> bytes:
    """The content of ``path`` (decompressed when gzip/bz2/xz), refusing more than ``limit`` bytes."""
    return read_capped(path, limit, what=what, error=DataError)


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes; ``expected_magic`` is 2051 (images) or 2049 (labels).

    The header is read first and only as many bytes as it declares are then decompressed, so a header
    or a gzip stream that claims gigabytes is refused before anything large is read.
    """
    with open_capped(path, IDX_FILE_LIMIT, what="IDX file", error=DataError) as reader:
        head = reader.read(4)
        if len(head) < 4:
            raise DataError(
                f"{path}: truncated IDX file ({len(head)} bytes, no header); expected magic {expected_magic}"
            )
        magic = int.from_bytes(head, "big")
        if magic != expected_magic:
            raise DataError(
                f"{path}: wrong IDX magic number {magic} (0x{magic:08x}); expected {expected_magic} "
                f"({'images' if expected_magic == IDX_IMAGES_MAGIC else 'labels'}, unsigned bytes)"
            )
        ndim = head[3]
        header = 4 + 4 * ndim
        raw_dims = reader.read(4 * ndim)
        if len(raw_dims) < 4 * ndim:
            raise DataError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes, expected {header})")
        dims = [int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim)]
        expected = header + math.prod(dims)  # Python ints: a product of four 32-bit sizes cannot wrap
        if expected > IDX_FILE_LIMIT:
            raise DataError(
                f"{path}: IDX header declares shape {tuple(dims)} ({expected:,} bytes), more than any real IDX "
                f"dataset file ({IDX_FILE_LIMIT >> 20} MB at most); the header is corrupt, replace the file"
            )
        body = reader.read(expected - header + 1)  # one byte more reveals trailing data
    if header + len(body) != expected:
        what = "truncated" if header + len(body) < expected else "has trailing bytes"
        held = f"{header + len(body)} bytes" if len(body) <= expected - header else "more"
        raise DataError(
            f"{path}: IDX file {what}: header says shape {tuple(dims)} ({expected} bytes), "
            f"file holds {held}; replace it with a complete copy"
        )
    return np.frombuffer(body, np.uint8).reshape(dims)


def read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images (N×28×28 uint8) and labels (N) from a pair of IDX files, checked against each other."""
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; the two files must come from the same split"
        )
    _check_labels(labels, labels_path)
    return images, labels


def read_cifar_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N×32×32×3 uint8, NHWC as stored) and labels from a shared CIFAR-10 ``.npz`` file."""
    xkey, ykey = f"x_{split}", f"y_{split}"
    try:
        with np.load(path, allow_pickle=False) as npz:
            if xkey not in npz.files or ykey not in npz.files:
                raise DataError(f"{path}: expected arrays {xkey!r} and {ykey!r}, found {sorted(npz.files)}")
            for key in (xkey, ykey):  # the zip directory's sizes bound what decompression may produce
                size = npz.zip.getinfo(f"{key}.npy").file_size
                if size > CIFAR_NPZ_LIMIT:
                    raise DataError(
                        f"{path}: array {key!r} expands to {size:,} bytes, more than any CIFAR-10 split "
                        f"({CIFAR_NPZ_LIMIT >> 20} MB at most); the file is corrupt, replace it"
                    )
            images, labels = npz[xkey], npz[ykey]
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, OSError) as exc:
        raise DataError(f"{path}: truncated or corrupt .npz archive ({exc}); replace it with a complete copy") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: {xkey} must be uint8 of shape (N, 32, 32, 3), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{path}: {ykey} must have shape ({images.shape[0]},), got {labels.shape}")
    _check_labels(labels, path)
    return images, labels.astype(np.int64)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N×3×32×32 uint8) and labels of one official ``cifar-10-batches-py`` pickle batch."""
    batch = _unpickle_py2(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a CIFAR-10 batch dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{path}: a CIFAR-10 batch needs keys 'data' and 'labels', found {sorted(map(str, batch))}")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise DataError(
            f"{path}: 'data' must be uint8 of shape ({labels.shape[0]}, 3072), got {data.dtype} {data.shape}"
        )
    _check_labels(labels, path)
    return data.reshape(-1, 3, 32, 32), labels


def _unpickle_py2(path: Path) -> object:
    """Unpickle an official CIFAR-10 batch with nasforge's one restricted unpickler (the allow-list lives in
    :mod:`nasforge.benchmarks._unpickle`). The batches were written by Python 2, whose ``str`` holds raw bytes:
    ``encoding="bytes"`` keeps them bytes (the default ASCII decoding fails on the pixel data)."""
    from nasforge.benchmarks._unpickle import safe_loads

    return safe_loads(read_bytes(path), source=str(path), encoding="bytes")


def _check_labels(labels: np.ndarray, path: Path, num_classes: int = 10) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{path}: labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
