"""Tabular NAS benchmarks: a memory-mapped store, its importers, queries and the seed-compatible API.

Metric names, datasets and NB201's split semantics: :mod:`nasforge.benchmarks.metrics`.
This package never imports torch.
"""

from nasforge.benchmarks.api import Metric, NB201BenchmarkAPI
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.metrics import DATASETS, METRICS
from nasforge.benchmarks.nb201 import build_nb201_store, load_nb201
from nasforge.benchmarks.store import BenchmarkStore, open_store

__all__ = [
    "DATASETS",
    "METRICS",
    "BenchmarkStore",
    "Metric",
    "NB201BenchmarkAPI",
    "StoreBuilder",
    "build_nb201_store",
    "load_nb201",
    "open_store",
]
