"""The drawing of a DARTS cell: every genotype edge runs between its own two nodes and passes no other node."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.spaces.darts import ALL_CELL_OPS, DARTS_V2, Genotype, edges_per_node
from nasforge.viz.genotype import cell_layout, draw_cell


def _random_genotype(rng: np.random.Generator) -> Genotype:
    n_inputs, steps = int(rng.integers(1, 3)), int(rng.integers(1, 6))

    def cell() -> list[tuple[str, int]]:
        # any earlier state, repeats included: a genotype may keep two edges from one node
        return [(str(rng.choice(ALL_CELL_OPS)), int(rng.integers(0, n_inputs + j)))
                for j, count in enumerate(edges_per_node(n_inputs, steps)) for _ in range(count)]  # fmt: skip

    concat = list(range(n_inputs, n_inputs + steps))
    return Genotype(cell(), concat, cell(), concat)


def _distance_to_path(p, path) -> float:
    """Smallest distance from the point p to the polyline ``path`` (projection on each segment, numpy)."""
    a, b = np.asarray(path[:-1]), np.asarray(path[1:])
    ab, ap = b - a, np.asarray(p) - a
    t = np.clip((ap * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-300), 0.0, 1.0)
    return float(np.linalg.norm(ap - t[:, None] * ab, axis=1).min())


GENOTYPES = [DARTS_V2, *(_random_genotype(np.random.default_rng(seed)) for seed in range(100))]


@pytest.mark.parametrize("kind", ["normal", "reduce"])
def test_every_edge_joins_its_endpoints_and_passes_no_other_node(kind):
    for genotype in GENOTYPES:
        layout = cell_layout(genotype, kind)
        pos, r = layout.positions, layout.radius
        wanted = [(src, genotype.n_inputs + j) for j, node in enumerate(genotype.node_edges(kind)) for _, src in node]
        wanted += [(genotype.n_inputs + j, "out") for j in range(genotype.steps)]
        assert [(e.src, e.dst) for e in layout.edges] == wanted
        for edge in layout.edges:
            # starts on the boundary of its source's circle, ends on its target's
            assert math.dist(edge.path[0], pos[edge.src]) == pytest.approx(r, abs=1e-6)
            assert math.dist(edge.path[-1], pos[edge.dst]) == pytest.approx(r, abs=1e-6)
            for key, centre in pos.items():
                if key in (edge.src, edge.dst):
                    continue
                gap = _distance_to_path(centre, edge.path)
                assert gap > r, f"{genotype} {kind}: edge {edge.src}->{edge.dst} passes node {key} ({gap:.3f} <= {r})"
        for a in pos:  # nodes do not overlap either
            for b in pos:
                assert a == b or math.dist(pos[a], pos[b]) > 2 * r


def test_two_edges_between_the_same_nodes_are_drawn_apart():
    # node 2 keeps two edges from c_{k-1}: two distinct curves, not one line drawn twice
    normal = [("sep_conv_3x3", 1), ("skip_connect", 1), ("max_pool_3x3", 0), ("skip_connect", 2)]
    g = Genotype(normal, [2, 3], [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("avg_pool_3x3", 0)],
                 [2, 3])  # fmt: skip
    first, second = cell_layout(g, "normal").edges[:2]
    assert (first.src, first.dst) == (second.src, second.dst) == (1, 2)
    middle = len(first.path) // 2
    assert math.dist(first.path[middle], second.path[middle]) > 0.1


def test_darts_v2_skip_connect_to_node_2_misses_node_1(tmp_path):
    # The issue's case: in DARTS_V2's normal cell, skip_connect c_{k-2} -> node 2 was drawn under node 1.
    layout = cell_layout(DARTS_V2, "normal")
    skip = next(e for e in layout.edges if e.label == "skip_connect" and (e.src, e.dst) == (0, 4))
    node1 = layout.positions[3]
    assert _distance_to_path(node1, skip.path) > layout.radius
    paths = draw_cell(DARTS_V2, "normal", tmp_path / "normal")  # the drawing uses this layout
    assert [p.name for p in paths] == ["normal.pdf", "normal.png"]
