"""Pareto fronts, hypervolume and IGD against brute force, hand-computed cases and Optuna's own hypervolume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasforge.pareto import hypervolume, igd, pareto_mask, worst_point


def _brute_mask(pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    return np.array([not any(np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]) for j in range(n) if j != i)
                     for i in range(n)])  # fmt: skip


def _grid_hv(pts: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by inclusion-exclusion over every subset (small n only): an independent formula."""
    pts = pts[np.all(pts < ref, axis=1)]
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(range(len(pts)), k):
            corner = pts[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * float(np.prod(ref - corner))
    return total


@pytest.mark.parametrize("d", [2, 3, 4])
def test_front_matches_brute_force_on_random_sets(d: int) -> None:
    rng = np.random.default_rng(d)
    for _ in range(30):
        pts = rng.integers(0, 6, size=(40, d)).astype(float)  # small integers: many ties and duplicates
        assert np.array_equal(pareto_mask(pts), _brute_mask(pts))


def test_front_directions_and_nan() -> None:
    pts = np.array([[90.0, 5.0], [91.0, 6.0], [89.0, 6.0], [np.nan, 1.0]])
    # accuracy maximised, latency minimised: [89, 6] is dominated by [90, 5]; the NaN row is never on the front
    assert pareto_mask(pts, maximize=[True, False]).tolist() == [True, True, False, False]
    assert worst_point(pts, maximize=[True, False]).tolist() == [89.0, 6.0]


def test_hypervolume_hand_computed_2d() -> None:
    # Staircase of (1,3), (2,2), (3,1) under ref (4,4): 3 columns of heights 1, 2, 3 -> 6.
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == pytest.approx(6.0)
    # One point: a rectangle; a dominated point and one outside the box add nothing.
    assert hypervolume([[1, 1]], [3, 5]) == pytest.approx(8.0)
    assert hypervolume([[1, 1], [2, 2], [0, 7]], [3, 5]) == pytest.approx(8.0)
    # Maximised accuracy, minimised latency: (90 %, 2 ms), (80 %, 1 ms) with ref (70 %, 4 ms): 20*2 + 10*1 = 50.
    assert hypervolume([[90, 2], [80, 1]], [70, 4], maximize=[True, False]) == pytest.approx(50.0)
    assert hypervolume(np.empty((0, 2)), [1, 1]) == 0.0


def test_hypervolume_hand_computed_3d() -> None:
    # Two unit-corner boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] under ref (2,2,1): union = 2 + 2 - 1 = 3.
    assert hypervolume([[0, 1, 0], [1, 0, 0]], [2, 2, 1]) == pytest.approx(3.0)


@pytest.mark.parametrize("d", [2, 3])
def test_hypervolume_matches_inclusion_exclusion(d: int) -> None:
    rng = np.random.default_rng(10 + d)
    for _ in range(20):
        pts = rng.random((8, d))
        ref = np.full(d, 1.1)
        assert hypervolume(pts, ref) == pytest.approx(_grid_hv(pts, ref), rel=1e-12)


def test_hypervolume_matches_optuna() -> None:
    hv = pytest.importorskip("optuna._hypervolume")
    rng = np.random.default_rng(3)
    for d, n in ((2, 1000), (3, 200)):
        pts = rng.random((n, d))
        ref = np.full(d, 1.0)
        assert hypervolume(pts, ref) == pytest.approx(hv.compute_hypervolume(pts, ref), rel=1e-10)


def test_igd() -> None:
    true = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert igd(true, true) == 0.0
    # Found only (0, 1): distance 0 to itself and sqrt(2) from (1, 0) (ranges are 1) -> mean sqrt(2)/2.
    assert igd([[0.0, 1.0]], true) == pytest.approx(np.sqrt(2) / 2)
    assert igd(np.empty((0, 2)), true) == float("inf")
