"""Seeded, class-stratified train/valid splits and class-balanced subsets (the seed's "5% of CIFAR-10").

Both draw from ``numpy.random.default_rng(seed)`` only, keep the images in their original order, and give
each class its share, so the same seed gives the same images on every machine.
"""

from __future__ import annotations

import numpy as np
import torch

from nasforge.data._dataset import ImageDataset
from nasforge.errors import ConfigError, DataError


def train_valid_split(ds: ImageDataset, valid_fraction: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """Split ``ds`` into disjoint (train, valid) parts; each class puts ``valid_fraction`` of its images in valid."""
    if not 0 < valid_fraction < 1:
        raise ConfigError(f"valid fraction {valid_fraction!r} is outside (0, 1); give e.g. 0.1")
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    valid_mask = np.zeros(len(ds), dtype=bool)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        k = int(round(valid_fraction * where.size))
        valid_mask[rng.permutation(where)[:k]] = True
    if valid_mask.all() or not valid_mask.any():
        raise ConfigError(
            f"valid fraction {valid_fraction} of {len(ds)} images leaves one part empty; "
            "use a fraction nearer 0.5 or more data"
        )
    pct = f"{valid_fraction:g}"
    train = ds.subset(torch.from_numpy(np.flatnonzero(~valid_mask)), f"train part (valid fraction {pct}, seed {seed})")
    valid = ds.subset(torch.from_numpy(np.flatnonzero(valid_mask)), f"valid part (valid fraction {pct}, seed {seed})")
    return train, valid


def class_balanced_subset(ds: ImageDataset, fraction: float, seed: int) -> ImageDataset:
    """``fraction`` of the dataset's full split, the same share of every class (5% of CIFAR-10 = 250 per class).

    The fraction refers to ``ds.full_size`` when the files hold only part of the split (the shared CIFAR-10
    npz: 10,000 of 50,000), otherwise to ``len(ds)``. ``fraction == 1`` on a complete split returns ``ds``.
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ConfigError(f"fraction {fraction!r} is outside (0, 1]; give a fraction such as 0.05")
    if fraction == 1 and ds.full_size is None:
        return ds
    scale = (ds.full_size or len(ds)) / len(ds)
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    chosen: list[np.ndarray] = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        k = max(1, int(round(fraction * where.size * scale)))
        if k > where.size:
            most = where.size / (where.size * scale)
            raise DataError(
                f"fraction {fraction:g} of {ds.name} needs {k} images of class {c}, but {ds.source} holds "
                f"only {where.size}: use a fraction <= {most:.3g} or the complete dataset files"
            )
        chosen.append(rng.permutation(where)[:k])
    index = np.sort(np.concatenate(chosen))
    return ds.subset(
        torch.from_numpy(index), f"class-balanced {fraction:g} subset ({index.size:,} images, seed {seed})"
    )
