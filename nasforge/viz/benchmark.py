"""Plots of tabular benchmark data: learning curves of one arch and whole-space views.

matplotlib is imported lazily with the Agg backend, so importing this module is free and plots work
on machines without a display. Every function writes one image and returns the numbers it drew.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from nasforge._io import atomic_write_bytes
from nasforge.benchmarks.analysis import RankCorrelation, pareto_front, rank_correlation, valid_test_pair, whole_space
from nasforge.benchmarks.metrics import metric_unit
from nasforge.benchmarks.store import ArchLike, BenchmarkStore
from nasforge.errors import BenchmarkError
from nasforge.viz import figure_format


def _label(metric: str, dataset: str | None = None) -> str:
    unit = metric_unit(metric)
    return f"{metric}{f' on {dataset}' if dataset else ''}{f' ({unit})' if unit else ''}"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=figure_format(path), dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def plot_curves(store: BenchmarkStore, arch: ArchLike, dataset: str, path: str | os.PathLike) -> dict[str, Any]:
    """Accuracy and loss over epochs (train / valid / test, each per seed and mean), like the seed's plot_curves."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    drawn: dict[str, Any] = {}
    for ax, kind in zip(axes, ("acc", "loss")):
        for split, color in (("train", "C0"), ("valid", "C1"), ("test", "C2"), ("ori_test", "C3")):
            metric = f"{split}_{kind}"
            if metric not in store.metrics(dataset) or store.coverage(dataset, metric)["curves"] == 0:
                continue
            try:
                mean = store.curve(arch, dataset, metric)
            except BenchmarkError:
                continue
            seeds = store.seeds(arch, dataset, metric, curve=True)
            for seed in seeds:
                ax.plot(store.curve(arch, dataset, metric, seed=seed), color=color, alpha=0.3, lw=0.8)
            ax.plot(
                mean, color=color, lw=2, label=f"{metric} (mean of {len(seeds) or 'n/a'} seeds)" if seeds else metric
            )
            drawn[metric] = {"epochs": len(mean), "seeds": seeds, "final_mean": float(mean[-1])}
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)" if kind == "acc" else "cross-entropy")
        if ax.lines:
            ax.legend(fontsize=8)
    if not drawn:
        plt.close(fig)
        raise BenchmarkError(
            f"no curves for arch {arch} on {dataset} in this store; archs with valid_acc curves there: "
            f"{len(store.curve_archs(dataset, 'valid_acc')) if 'valid_acc' in store.metrics(dataset) else 0}"
        )
    fig.suptitle(f"arch {store.index(arch)} on {dataset}")
    _save(fig, path)
    return drawn


def plot_valid_vs_test(store: BenchmarkStore, dataset: str, path: str | os.PathLike) -> dict[str, Any]:
    (vds, vm), (tds, tm) = valid_test_pair(dataset)
    valid, test = whole_space(store, vds, vm), whole_space(store, tds, tm)
    corr = rank_correlation(valid, test)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(valid, test, s=2, alpha=0.4)
    ax.set_xlabel(_label(vm, vds))
    ax.set_ylabel(_label(tm, tds))
    ax.set_title(f"Spearman {corr.spearman:.3f}, Kendall {corr.kendall:.3f} (n={corr.n})")
    _save(fig, path)
    return {"valid": [vds, vm], "test": [tds, tm], **corr.to_dict()}


def plot_pareto(
    store: BenchmarkStore, dataset: str, cost_metric: str, score_metric: str, path: str | os.PathLike
) -> dict[str, Any]:
    """Score vs cost for the whole space with the Pareto front (lower cost, higher score) marked."""
    cost, score = whole_space(store, dataset, cost_metric), whole_space(store, dataset, score_metric)
    keep = np.flatnonzero(~(np.isnan(cost) | np.isnan(score)))
    if not len(keep):
        raise BenchmarkError(f"no arch has both {cost_metric} and {score_metric} on {dataset}")
    front = keep[pareto_front(cost[keep], score[keep])]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(cost[keep], score[keep], s=2, alpha=0.3, label="all archs")
    ax.plot(cost[front], score[front], "o-", color="C3", ms=3, label=f"Pareto front ({len(front)})")
    ax.set_xlabel(_label(cost_metric))
    ax.set_ylabel(_label(score_metric))
    ax.set_title(dataset)
    ax.legend()
    _save(fig, path)
    points = [{"index": int(i), cost_metric: float(cost[i]), score_metric: float(score[i])} for i in front]
    return {"dataset": dataset, "cost": cost_metric, "score": score_metric, "n": len(keep), "front": points}


def plot_rank_12_vs_200(store: BenchmarkStore, dataset: str, split: str, path: str | os.PathLike) -> dict[str, Any]:
    """The 12-epoch schedule's accuracy vs the 200-epoch one (``split`` = valid or test), with rank correlation."""
    (vds, _), (tds, _) = valid_test_pair(dataset)
    ds = vds if split == "valid" else tds
    short, long = whole_space(store, ds, f"{split}_acc_12ep"), whole_space(store, ds, f"{split}_acc")
    corr: RankCorrelation = rank_correlation(short, long)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(short, long, s=2, alpha=0.4)
    ax.set_xlabel(_label(f"{split}_acc_12ep", ds))
    ax.set_ylabel(_label(f"{split}_acc", ds))
    ax.set_title(f"12 vs 200 epochs: Spearman {corr.spearman:.3f}, Kendall {corr.kendall:.3f}")
    _save(fig, path)
    return {"dataset": ds, "split": split, **corr.to_dict()}
