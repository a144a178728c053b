"""Plots of black-box searches: incumbent traces, the seed's params-vs-accuracy scatter, anytime comparisons.

matplotlib is imported lazily with the Agg backend; every figure is written atomically (PNG).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasforge._io import atomic_write_bytes
from nasforge.trial import TrialRecord


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def _thousands(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if abs(x) >= 1000 else f"{x:g}"))


def incumbent_trace(trials: Sequence[TrialRecord], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trial numbers, clock after each trial, the incumbent's ``metric`` after each trial; NaN before one).

    The incumbent is the best COMPLETE trial at the highest fidelity reached so far (as in the study).
    """
    from nasforge.search.study import incumbent_of  # the one definition of "incumbent"

    numbers = np.arange(1, len(trials) + 1)
    # The study's clock when each result came in: the sum of costs with one worker, less with parallel workers.
    ends = [t.sim_end if t.sim_end is not None else math.nan for t in trials]
    clock = np.cumsum([t.result.cost for t in trials]) if not trials or np.isnan(ends).any() else np.asarray(ends)
    values = np.full(len(trials), math.nan)
    best = None
    for i, record in enumerate(trials):
        best = incumbent_of([best, record] if best is not None else [record])
        if best is not None:
            value = best.result.objective if metric == "objective" else best.result.metrics.get(metric, math.nan)
            values[i] = value
    return numbers, clock, values


def plot_incumbent(trials: Sequence[TrialRecord], path: str | Path, *, title: str = "", time_label: str = "") -> Path:
    """Incumbent validation (and, when known, test) accuracy vs trials and vs (simulated) time."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    numbers, clock, valid = incumbent_trace(trials, "objective")
    _, _, test = incumbent_trace(trials, "test_acc")
    for ax, x, label in ((axes[0], numbers, "trials"), (axes[1], clock, time_label or "time (s)")):
        ax.step(x, valid, where="post", label="incumbent valid acc (search objective)")
        if np.isfinite(test).any():
            ax.step(x, test, where="post", label="incumbent test acc (200 epochs)")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    _thousands(axes[1])
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title or "incumbent")
    return _save(fig, path)


def plot_params_vs_accuracy(trials: Sequence[TrialRecord], path: str | Path, *, title: str = "") -> Path:
    """The seed's scatter: parameters (M) vs validation accuracy of every finished trial, coloured by train time."""
    plt = _pyplot()
    done = [t for t in trials if t.result.ok and "params" in t.result.metrics]
    params = np.array([t.result.metrics["params"] for t in done])
    acc = np.array([t.result.objective for t in done])
    seconds = np.array([t.result.metrics.get("train_time", math.nan) for t in done])
    fidelity = np.array([t.fidelity for t in done])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    points = None
    markers = "os^Dv"
    timed = bool(np.isfinite(seconds).any())  # a benchmark without training times (nats-sss): one colour
    for k, level in enumerate(sorted(set(fidelity.tolist()))):
        mask = fidelity == level
        colour = {}
        if timed:
            colour = dict(c=seconds[mask], cmap="viridis", vmin=np.nanmin(seconds), vmax=np.nanmax(seconds))
        points = ax.scatter(params[mask], acc[mask], s=18, marker=markers[k % 5], label=f"{level} epochs", **colour)
    if points is not None and timed:
        fig.colorbar(points, ax=ax, label="training time (s / epoch)")
    if len(set(fidelity.tolist())) > 1:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{len(done)} evaluated architectures")
    return _save(fig, path)


def plot_anytime(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], grid: np.ndarray, path: str | Path, *, title: str = "",
    xlabel: str = "simulated time (s)", ylabel: str = "incumbent test accuracy (%)",
) -> Path:
    """Mean ± std band of the incumbent's test accuracy (``ylabel``) over simulated time (``xlabel``: the grid's
    unit); ``curves``: name -> (mean, std)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (mean, std) in curves.items():
        ax.plot(grid, mean, label=name)
        ax.fill_between(grid, mean - std, mean + std, alpha=0.1)
    ax.set_xlabel(xlabel)
    _thousands(ax)
    ax.set_ylabel(ylabel)
    finite = np.concatenate([m[np.isfinite(m)] for m, _ in curves.values()] or [np.zeros(0)])
    if finite.size:
        ax.set_ylim(np.percentile(finite, 5) - 1, finite.max() + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return _save(fig, path)
