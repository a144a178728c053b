"""Whole-space views of a store as numbers: valid/test pairs, Pareto fronts, rank correlations.

The plots in :mod:`nasforge.viz.benchmark` draw these; the CLI prints them with ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasforge.benchmarks.store import BenchmarkStore
from nasforge.errors import BenchmarkError


def valid_test_pair(dataset: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """((dataset, metric) of the validation accuracy, (dataset, metric) of the test accuracy) NB201 reports.

    For CIFAR-10 the validation number comes from ``cifar10-valid`` (25k training images) and the test
    number from ``cifar10`` (trained on all 50k), as in the NB201 paper.
    """
    if dataset in ("cifar10", "cifar10-valid"):
        return ("cifar10-valid", "valid_acc"), ("cifar10", "test_acc")
    return (dataset, "valid_acc"), (dataset, "test_acc")


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices (into the arrays) of the points no other point beats: lower ``cost`` and higher ``score``.

    Sorted by increasing cost. Ties on both coordinates keep the first point.
    """
    cost, score = np.asarray(cost, dtype=float), np.asarray(score, dtype=float)
    order = np.lexsort((-score, cost))  # by cost, then best score first
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.asarray(front, dtype=np.intp)


@dataclass(frozen=True)
class RankCorrelation:
    spearman: float
    kendall: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"spearman": self.spearman, "kendall": self.kendall, "n": self.n}


def rank_correlation(x: np.ndarray, y: np.ndarray) -> RankCorrelation:
    """Spearman's rho and Kendall's tau-b of two score arrays (NaN pairs dropped)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < 2:
        raise BenchmarkError("rank correlation needs at least two archs with both values")
    rho = stats.spearmanr(x[keep], y[keep]).statistic
    tau = stats.kendalltau(x[keep], y[keep]).statistic
    return RankCorrelation(float(rho), float(tau), int(keep.sum()))


def whole_space(store: BenchmarkStore, dataset: str, metric: str) -> np.ndarray:
    """``metric`` for every arch (NaN where not recorded)."""
    return store.query_many(np.arange(store.num_archs), dataset, metric, missing="nan")
