"""Drawings of DARTS results with matplotlib alone (no graphviz binary): cells of a Genotype, α over epochs,
the drift toward parameter-free ops.

matplotlib is imported lazily with the Agg backend; every figure is written atomically as PDF and PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
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


NODE_RADIUS = 0.36  # data units; the axes keep x and y at one scale, so nodes are drawn as true circles
CLEARANCE = 0.12  # empty space every edge keeps from a node that is not one of its two endpoints
CURVE_POINTS = 48  # segments of the polyline an edge is drawn as


@dataclass(frozen=True)
class CellEdge:
    """One drawn edge: ``src`` -> ``dst`` (node keys), its label and colour, the polyline drawn for it (from
    the boundary of ``src``'s circle to the boundary of ``dst``'s) and where on it the label sits."""

    src: int | str
    dst: int | str
    label: str | None
    color: str
    path: tuple[tuple[float, float], ...]
    label_at: tuple[float, float]


@dataclass(frozen=True)
class CellLayout:
    """Where :func:`draw_cell` puts everything: node centres (keys: state index, ``"out"``), one radius for
    every node, and the edges. Every node lies on one circle, so a straight edge never passes another node."""

    positions: dict[int | str, tuple[float, float]]
    radius: float
    edges: tuple[CellEdge, ...]


def cell_layout(genotype: Genotype, kind: CellKind) -> CellLayout:
    """The geometry of the ``kind`` cell's drawing.

    The inputs, the intermediate nodes and the output ``c_k`` sit on one circle, read left to right (inputs
    first, the output alone on the right). A chord of a circle keeps ``R (1 - cos θ)`` from every other point
    of it, θ being the smallest angle between two of the points, so R is chosen to make that at least a node
    radius plus :data:`CLEARANCE`. A second edge between the same two nodes (possible in a genotype) bends
    inwards; it takes the smallest bend that keeps the clearance.
    """
    n_in, steps = genotype.n_inputs, genotype.steps
    keys: list[int | str] = [*range(n_in + steps), "out"]
    positions = _circle_positions(keys)
    edges: list[CellEdge] = []
    drawn: dict[tuple[int | str, int | str], int] = {}
    wanted = [(src, n_in + j, op, k) for j, node in enumerate(genotype.node_edges(kind)) for k, (op, src) in
              enumerate(node)]  # fmt: skip
    wanted += [(n_in + j, "out", None, 0) for j in range(steps)]
    for src, dst, op, k in wanted:
        repeat = drawn.get((src, dst), 0)
        drawn[(src, dst)] = repeat + 1
        color = OP_COLORS.get(op, "#333333") if op else "#999999"
        path = _route(positions, src, dst, repeat)
        # A node's two labels at different distances along their edges, so that they rarely share a spot.
        label_at = path[round((0.38 if k == 0 else 0.62) * (len(path) - 1))]
        edges.append(CellEdge(src, dst, op, color, path, label_at))
    return CellLayout(positions, NODE_RADIUS, tuple(edges))


def _circle_positions(keys: list[int | str]) -> dict[int | str, tuple[float, float]]:
    n = len(keys)
    theta = 2 * math.pi / n
    # Twice the clearance, so that a repeated edge's inward bend (which nears the far side's nodes) has room.
    radius = max(1.6, (NODE_RADIUS + 2 * CLEARANCE) / (1 - math.cos(theta)))
    # Evenly spaced angles, turned so that the rightmost point stands alone (the output) and, for an odd
    # count, the leftmost two form a pair (the two inputs of a DARTS cell); then read left to right, top first.
    offset = theta / 2 if n % 2 else 0.0
    points = [(radius * math.cos(math.pi + offset + m * theta), radius * math.sin(math.pi + offset + m * theta))
              for m in range(n)]  # fmt: skip
    points.sort(key=lambda p: (round(p[0], 9), -p[1]))
    return dict(zip(keys, points, strict=True))


def _route(
    positions: dict[int | str, tuple[float, float]], src: int | str, dst: int | str, repeat: int
) -> tuple[tuple[float, float], ...]:
    """The polyline of an edge: straight for the first edge between two nodes, bent inwards for a repeat."""
    (x0, y0), (x1, y1) = positions[src], positions[dst]
    others = [p for key, p in positions.items() if key not in (src, dst)]
    # Inwards: towards the circle's centre (the origin), on the side of the chord where no node lies.
    nx, ny = y1 - y0, x0 - x1
    if nx * (x0 + x1) + ny * (y0 + y1) > 0:
        nx, ny = -nx, -ny
    # A repeat bends visibly (by a fifth of the chord per repeat), less only where that would near a node.
    bends = [0.0] if repeat == 0 else [0.2 * repeat * f for f in (1.0, 0.7, 0.5, 0.35, 0.25)]
    for bend in bends:
        cx, cy = (x0 + x1) / 2 + bend * nx, (y0 + y1) / 2 + bend * ny
        curve = [_bezier((x0, y0), (cx, cy), (x1, y1), i / CURVE_POINTS) for i in range(CURVE_POINTS + 1)]
        if _clearance(curve, others) >= NODE_RADIUS + CLEARANCE:
            break
    return _trim(curve, (x0, y0), (x1, y1))


def _bezier(a, c, b, t: float) -> tuple[float, float]:
    u = 1 - t
    return (u * u * a[0] + 2 * u * t * c[0] + t * t * b[0], u * u * a[1] + 2 * u * t * c[1] + t * t * b[1])


def _clearance(curve, points) -> float:
    """The smallest distance between the polyline ``curve`` and any of ``points``."""
    return min((_segment_distance(p, a, b) for p in points for a, b in zip(curve, curve[1:])), default=math.inf)


def _segment_distance(p, a, b) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def _trim(curve, start, end) -> tuple[tuple[float, float], ...]:
    # Drawn from circle boundary to circle boundary: the arrow head then touches the target node.
    inside = [math.dist(p, start) < NODE_RADIUS or math.dist(p, end) < NODE_RADIUS for p in curve]
    first = inside.index(False)
    last = len(inside) - 1 - inside[::-1].index(False)
    head = _boundary(curve[first - 1], curve[first], start)
    tail = _boundary(curve[last + 1], curve[last], end)
    return (head, *curve[first : last + 1], tail)


def _boundary(inner, outer, centre) -> tuple[float, float]:
    """Where the segment from ``inner`` (inside the node around ``centre``) to ``outer`` crosses its circle."""
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        point = (inner[0] + mid * (outer[0] - inner[0]), inner[1] + mid * (outer[1] - inner[1]))
        lo, hi = (mid, hi) if math.dist(point, centre) < NODE_RADIUS else (lo, mid)
    return (inner[0] + hi * (outer[0] - inner[0]), inner[1] + hi * (outer[1] - inner[1]))


def input_label(i: int, n_inputs: int) -> str:
    """DARTS' names of the cell inputs: c_{k-1} for the newest, c_{k-2} before it."""
    return f"c_{{k-{n_inputs - i}}}"


def draw_cell(genotype: Genotype, kind: CellKind, stem: str | Path) -> list[Path]:
    """Draw the ``kind`` cell of ``genotype`` as laid out by :func:`cell_layout`; writes ``stem``.pdf and
    ``stem``.png, returns the paths."""
    plt = _pyplot()
    from matplotlib.patches import Circle, FancyArrowPatch
    from matplotlib.path import Path as MplPath

    layout = cell_layout(genotype, kind)
    n_in, steps = genotype.n_inputs, genotype.steps
    labels = {i: f"${input_label(i, n_in)}$" for i in range(n_in)}
    labels.update({n_in + j: str(j) for j in range(steps)})
    labels["out"] = "$c_{k}$"
    colors = {**{i: "#a6cee3" for i in range(n_in)}, **{n_in + j: "#ffffbf" for j in range(steps)}, "out": "#b2df8a"}
    xs = [p[0] for p in layout.positions.values()]
    ys = [p[1] for p in layout.positions.values()]
    width, height = max(xs) - min(xs) + 2.0, max(ys) - min(ys) + 2.0
    fig, ax = plt.subplots(figsize=(1.3 * width, 1.3 * height))
    for edge in layout.edges:
        ax.add_patch(
            FancyArrowPatch(
                path=MplPath(edge.path), arrowstyle="-|>", mutation_scale=14, color=edge.color, lw=1.6, zorder=1
            )
        )
        if edge.label:
            lx, ly = edge.label_at
            ax.text(lx, ly, edge.label, fontsize=8, ha="center", va="center", color=edge.color, zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})  # fmt: skip
    for node, (x, y) in layout.positions.items():
        ax.add_patch(Circle((x, y), layout.radius, facecolor=colors[node], edgecolor="black", zorder=2))
        ax.text(x, y, labels[node], ha="center", va="center", fontsize=10, zorder=4)
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.set_aspect("equal")  # the layout's distances hold on the page
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


def plot_drift(points: Sequence[Any], path_stem: str | Path, *, title: str = "") -> list[Path]:
    """The drift toward parameter-free ops over a search (``path_stem``.pdf/.png), from
    :func:`nasforge.oneshot.collapse.drift`'s points. One panel for ``skip_connect`` and one for all
    parameter-free ops, each with its mixing weight summed over the cell's edges (solid, left axis; own scale,
    so a drift of 0.01 stays visible) and its count in the derived cell (dashed steps, right axis); below,
    where the points carry it, the derived cell's NB201 test accuracy."""
    plt = _pyplot()
    epochs = [p.epoch for p in points]
    has_acc = any(p.test_acc is not None for p in points)
    rows = 3 if has_acc else 2
    fig, axes = plt.subplots(rows, 1, figsize=(6, 2.1 * rows), sharex=True, squeeze=False)
    panels = (
        ("skip_mass", "skip_ops", "skip_connect", OP_COLORS["skip_connect"]),
        ("free_mass", "free_ops", "parameter-free ops", "#555555"),
    )
    for ax, (mass, count, label, colour) in zip((a[0] for a in axes), panels, strict=False):
        ax.plot(epochs, [getattr(p, mass) for p in points], color=colour)
        ax.set_ylabel(f"Σ weight over {points[0].edges}\nedges (solid)", fontsize=8)
        ax.set_title(f"{label}: mixing weight and count in the derived cell", fontsize=9)
        ax.grid(alpha=0.3)
        counts = ax.twinx()
        counts.step(epochs, [getattr(p, count) for p in points], where="post", color=colour, ls="--", alpha=0.7)
        counts.set_ylim(-0.3, points[0].derived_edges + 0.3)
        counts.set_ylabel("in cell (dashed)", fontsize=8)
    if has_acc:
        low = axes[2][0]
        low.plot(epochs, [p.test_acc for p in points], color="#1f77b4", marker="o", ms=2)
        low.set_ylabel("derived cell: NB201\ntest acc (%)", fontsize=8)
        low.grid(alpha=0.3)
    axes[-1][0].set_xlabel("search epoch")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        return _save(fig, Path(path_stem))
    finally:
        plt.close(fig)
