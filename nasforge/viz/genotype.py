"""Drawings of DARTS results with matplotlib alone (no graphviz binary): cells of a Genotype, α over epochs.

matplotlib is imported lazily with the Agg backend; every figure is written atomically as PDF and PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasforge._io import atomic_write_bytes
from nasforge.spaces.darts import CellKind, Genotype

CELL_TITLES = {"normal": "normal cell", "reduce": "reduction cell"}
FILE_STEMS = {"normal": "normal", "reduce": "reduction"}
OP_COLORS = {
    "conv_3x3": "#1f77b4",
    "sep_conv_3x3": "#1f77b4",
    "sep_conv_5x5": "#17becf",
    "dil_conv_3x3": "#9467bd",
    "dil_conv_5x5": "#8c564b",
    "max_pool_3x3": "#d62728",
    "avg_pool_3x3": "#ff7f0e",
    "skip_connect": "#2ca02c",
    "none": "#7f7f7f",
    "nor_conv_1x1": "#17becf",
    "nor_conv_3x3": "#1f77b4",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: Path, formats: Sequence[str] = ("pdf", "png")) -> list[Path]:
    written = []
    for fmt in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=150)
        path = stem.with_suffix(f".{fmt}")
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def _node_positions(n_inputs: int, steps: int) -> dict[int | str, tuple[float, float]]:
    # Inputs stacked on the left, intermediate nodes on a rising diagonal, the output on the right.
    pos: dict[int | str, tuple[float, float]] = {}
    for i in range(n_inputs):
        pos[i] = (0.0, (n_inputs - 1 - i) * 2.0 - (n_inputs - 1))
    for j in range(steps):
        pos[n_inputs + j] = (2.2 * (j + 1), 1.6 * (j % 2) - 0.8 + (0.0 if steps > 1 else 0.8))
    pos["out"] = (2.2 * (steps + 1), 0.0)
    return pos


def input_label(i: int, n_inputs: int) -> str:
    """DARTS' names of the cell inputs: c_{k-1} for the newest, c_{k-2} before it."""
    return f"c_{{k-{n_inputs - i}}}"


def draw_cell(genotype: Genotype, kind: CellKind, stem: str | Path) -> list[Path]:
    """Draw the ``kind`` cell of ``genotype``; writes ``stem``.pdf and ``stem``.png, returns the paths."""
    plt = _pyplot()
    from matplotlib.patches import FancyArrowPatch

    n_in, steps = genotype.n_inputs, genotype.steps
    pos = _node_positions(n_in, steps)
    fig, ax = plt.subplots(figsize=(2.0 + 1.9 * (steps + 1), 3.6))
    labels = {i: f"${input_label(i, n_in)}$" for i in range(n_in)}
    labels.update({n_in + j: str(j) for j in range(steps)})
    labels["out"] = "$c_{k}$"
    colors = {**{i: "#a6cee3" for i in range(n_in)}, **{n_in + j: "#ffffbf" for j in range(steps)}, "out": "#b2df8a"}

    def arrow(a: int | str, b: int | str, color: str, rad: float, label: str | None) -> None:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        patch = FancyArrowPatch(
            (x0, y0),
            (x1, y1),
            connectionstyle=f"arc3,rad={rad}",
            arrowstyle="-|>",
            mutation_scale=14,
            color=color,
            lw=1.6,
            shrinkA=17,
            shrinkB=17,
            zorder=1,
        )
        ax.add_patch(patch)
        if label:
            # Label at the curve's midpoint: the chord's middle pushed sideways by the arc's bulge.
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            dx, dy = x1 - x0, y1 - y0
            lx, ly = mx + rad * dy / 2, my - rad * dx / 2
            ax.text(
                lx,
                ly,
                label,
                fontsize=8,
                ha="center",
                va="center",
                color=color,
                zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            )

    for j, edges in enumerate(genotype.node_edges(kind)):
        for k, (op, src) in enumerate(edges):
            rad = 0.0 if src == n_in + j - 1 and k == 0 else (-0.25 if k else 0.25)
            arrow(src, n_in + j, OP_COLORS.get(op, "#333333"), rad, op)
    for j in range(steps):
        arrow(n_in + j, "out", "#999999", 0.0, None)
    for node, (x, y) in pos.items():
        ax.scatter([x], [y], s=900, c=colors[node], edgecolors="black", zorder=2)
        ax.text(x, y, labels[node], ha="center", va="center", fontsize=10, zorder=4)
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(-2.2, 2.2)
    ax.set_axis_off()
    ax.set_title(CELL_TITLES[kind])
    try:
        return _save(fig, Path(stem))
    finally:
        plt.close(fig)


def draw_genotype(genotype: Genotype, out_dir: str | Path) -> list[Path]:
    """``normal.pdf``/``.png`` and ``reduction.pdf``/``.png`` in ``out_dir`` (the seed's file names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [p for kind in ("normal", "reduce") for p in draw_cell(genotype, kind, out / FILE_STEMS[kind])]


def plot_alphas(
    records: Sequence[dict[str, Any]], ops: Sequence[str], out_dir: str | Path, edge_names: Sequence[str] | None = None
) -> list[Path]:
    """softmax(α) of every edge over the epochs, one figure per α matrix (``alphas_<name>.pdf``/``.png``).

    ``records`` are the lines of ``search.jsonl``. When they carry NB201 benchmark lookups, also writes
    ``benchmark.pdf``/``.png``: the derived arch's true test accuracy next to the supernet's accuracy.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in records]
    written: list[Path] = []
    for name in records[0]["alphas"]:
        rows = len(records[0]["alphas"][name])
        cols = min(rows, 3)
        grid = -(-rows // cols)
        fig, axes = plt.subplots(grid, cols, figsize=(3.3 * cols, 2.4 * grid), squeeze=False, sharey=True)
        for e in range(rows):
            ax = axes[e // cols][e % cols]
            for o, op in enumerate(ops):
                ax.plot(
                    epochs,
                    [r["alphas"][name][e][o] for r in records],
                    marker="o",
                    ms=3,
                    label=op,
                    color=OP_COLORS.get(op),
                )
            ax.set_title(f"edge {edge_names[e] if edge_names else e}", fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for e in range(rows, grid * cols):
            axes[e // cols][e % cols].set_axis_off()
        axes[0][0].set_ylabel("softmax(α)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=len(ops), fontsize=8, bbox_to_anchor=(0.5, 1.04))
        fig.suptitle(name.replace("alpha_", "α ").replace("alpha", "α"), y=1.09)
        fig.tight_layout()
        try:
            written += _save(fig, out / f"alphas_{name.removeprefix('alpha_') if name != 'alpha' else 'cell'}")
        finally:
            plt.close(fig)
    if any(r.get("benchmark") for r in records):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(epochs, [r["valid_acc"] for r in records], marker="o", label="supernet search-valid acc")
        ax.plot(
            epochs,
            [r["benchmark"]["cifar10_test_acc"] for r in records],
            marker="s",
            label="derived arch: NB201 test acc (200 ep.)",
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        try:
            written += _save(fig, out / "benchmark")
        finally:
            plt.close(fig)
    return written
