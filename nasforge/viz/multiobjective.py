"""Multi-objective pictures: a found front against the true front, hypervolume regret over simulated time, and the
best feasible accuracy as a function of a latency budget."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.viz.search import _pyplot, _save, _thousands


def plot_fronts(true_front: np.ndarray, found: Mapping[str, np.ndarray], path: str | Path, *, xlabel: str,
                ylabel: str, title: str = "", log_x: bool = True) -> Path:  # fmt: skip
    """Scatter of ``found`` fronts (name -> ``(n, 2)`` points, x = cost such as latency, y = accuracy) over the
    true front (a step line), with a log x axis for latencies spanning decades."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    order = np.argsort(true_front[:, 0])
    ax.step(true_front[order, 0], true_front[order, 1], where="post", color="black", lw=1, label="true front")
    ax.scatter(true_front[:, 0], true_front[:, 1], s=12, color="black")
    for i, (name, pts) in enumerate(found.items()):
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=28, marker="osD^dv"[i % 6], facecolors="none", edgecolors=f"C{i}",
                       label=f"{name} ({len(pts)})")  # fmt: skip
    if log_x:
        ax.set_xscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title, "lower right")


def plot_regret(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], grid: np.ndarray, path: str | Path, *,
                title: str = "", xlabel: str = "simulated time (s)") -> Path:  # fmt: skip
    """Mean ± std band of the normalised hypervolume regret over simulated time (log y; ``xlabel``: the grid's
    unit); name -> (mean, std)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (mean, std) in curves.items():
        ax.plot(grid, mean, label=name)
        ax.fill_between(grid, np.maximum(mean - std, 1e-4), mean + std, alpha=0.1)
    ax.set_yscale("log")
    _thousands(ax)
    return _finish(fig, ax, path, xlabel, "hypervolume regret (fraction of the true front's)", title,
                   "upper right")  # fmt: skip


def plot_budget(budgets: np.ndarray, best: np.ndarray, path: str | Path, *, xlabel: str, ylabel: str,
                marks: Mapping[str, tuple[float, float]] | None = None, title: str = "") -> Path:  # fmt: skip
    """The best feasible accuracy (``best``) within each latency budget, as a step curve; ``marks``: labelled
    points (e.g. a paper's reported result) drawn on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.step(budgets, best, where="post", label="best arch within the budget (exact)")
    for label, (x, y) in (marks or {}).items():
        ax.scatter([x], [y], s=40, marker="x", color="C3", zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_xscale("log")
    return _finish(fig, ax, path, xlabel, ylabel, title, "lower right")


def _finish(fig: Any, ax: Any, path: str | Path, xlabel: str, ylabel: str, title: str, legend_loc: str) -> Path:
    """The three plots' common end: labels, a grid on both scales' ticks, the legend, the title, the file."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc=legend_loc)
    ax.set_title(title)
    return _save(fig, path)
