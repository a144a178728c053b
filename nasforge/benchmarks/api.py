"""The seed exercise's benchmark API, kept so that a seed user's code keeps working.

>>> api = NB201BenchmarkAPI("benchmark/nb201_cifar10_full_training.pickle", "cifar10")  # doctest: +SKIP
>>> api.query(arch_str, Metric.VAL_ACCURACY, last_epoch_only=True)                      # doctest: +SKIP

``path`` is either the seed's NASLib-format pickle (imported once, safely, into a cached store keyed by
the file's size and mtime) or a nasforge store directory. As in the seed (and NASLib), ``"cifar10"``
means NB201's ``cifar10-valid`` data: models trained on 25k images, ``VAL_ACCURACY`` on the held-out
25k (200 epochs; the ``ori-test`` value NB201 appends to the file's eval lists is the store's ``test_acc``).
The sheet's raw view of the file (all 201 entries) is :class:`nasforge.exercises.nb201.NB201BenchmarkAPI`.
Prefer :class:`~nasforge.benchmarks.store.BenchmarkStore` for new code: it names every split.
"""

from __future__ import annotations

import hashlib
import os
from enum import Enum
from pathlib import Path

from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.importers import import_naslib_pickle
from nasforge.benchmarks.nb201 import cached_store, source_tag
from nasforge.benchmarks.store import ArchLike, BenchmarkStore, open_store
from nasforge.errors import BenchmarkError


class Metric(Enum):
    """The seed's metric names; each value is the store's metric name."""

    TRAIN_ACCURACY = "train_acc"
    VAL_ACCURACY = "valid_acc"
    TRAIN_LOSS = "train_loss"
    VAL_LOSS = "valid_loss"
    TRAIN_TIME = "train_time"
    PARAMS = "params"


_PER_ARCH = (Metric.TRAIN_TIME, Metric.PARAMS)  # one number per arch, not a curve
SEED_DATASETS = {"cifar10": "cifar10-valid", "cifar10-valid": "cifar10-valid", "cifar100": "cifar100",
                 "ImageNet16-120": "ImageNet16-120", "ImageNet16": "ImageNet16-120"}  # fmt: skip


def store_for_pickle(path: str | os.PathLike) -> BenchmarkStore:
    """A store built once from a NASLib-format pickle, cached under ``$NASFORGE_CACHE``."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise BenchmarkError(f"benchmark file {path} not found: pass the seed's pickle or a store directory") from None
    key = hashlib.sha256(f"{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]

    def write(target: Path, overwrite: bool) -> None:
        builder = StoreBuilder()
        import_naslib_pickle(builder, path)
        builder.write(target, overwrite=overwrite)

    return cached_store(f"naslib-{path.stem}-{source_tag(path)}", key, write)


class NB201BenchmarkAPI:
    """``NB201BenchmarkAPI(path, dataset).query(arch, metric, last_epoch_only=False)`` as in the seed."""

    def __init__(self, path: str | os.PathLike, dataset: str = "cifar10") -> None:
        path = Path(path)
        self.store = open_store(path) if path.is_dir() else store_for_pickle(path)
        if dataset not in SEED_DATASETS:
            raise BenchmarkError(f"unknown dataset {dataset!r}; the seed API knows {', '.join(SEED_DATASETS)}")
        self.dataset = SEED_DATASETS[dataset]

    def query(self, arch: ArchLike, metric: Metric | str, last_epoch_only: bool = False) -> float | list[float]:
        """The per-epoch list of ``metric`` or its last value; ``TRAIN_TIME`` (s/epoch), ``PARAMS`` (M): numbers."""
        if not isinstance(metric, Metric):
            try:
                metric = Metric[metric] if metric in Metric.__members__ else Metric(metric)
            except ValueError:
                raise BenchmarkError(f"unknown metric {metric!r}; use one of {', '.join(Metric.__members__)}") from None
        if metric in _PER_ARCH or last_epoch_only:
            return self.store.query(arch, self.dataset, metric.value)
        return self.store.curve(arch, self.dataset, metric.value).tolist()
