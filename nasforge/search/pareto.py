"""Pareto fronts and their indicators (hypervolume, IGD) on plain arrays; numpy only, no torch, no store.

Every function takes ``points`` of shape ``(n, d)`` (one row per arch, one column per objective) and
``maximize``, a length-``d`` sequence of booleans (``True``: larger is better in that column; default all
minimised). Internally all columns are turned into minimisation by negating the maximised ones.

>>> import numpy as np
>>> pts = np.array([[1.0, 5.0], [2.0, 3.0], [3.0, 4.0], [4.0, 1.0]])
>>> pareto_mask(pts).tolist()                      # [3, 4] is dominated by [2, 3]
[True, True, False, True]
>>> hypervolume(pts, ref=[5.0, 6.0])               # 1*(6-5) + 2*(6-3) + 1*(6-1)
12.0

The reference point of :func:`hypervolume` must be worse than the points in every objective (a point not
strictly better than it in every objective adds nothing). ``nasforge pareto`` uses the worst value of each
objective over the whole space (:func:`worst_point`), so every arch counts and the true front's hypervolume
is the largest any search can reach; *hypervolume regret* is that minus the hypervolume of what a search found.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hypervolume", "igd", "minimized", "pareto_mask", "worst_point"]


def minimized(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool] | None = None) -> np.ndarray:
    """``points`` as a float ``(n, d)`` array with the maximised columns negated (all objectives minimised)."""
    pts = np.array(points, dtype=float, ndmin=2)
    if pts.ndim != 2:
        raise ValueError(f"points must be an (n, d) array, got shape {pts.shape}")
    if maximize is not None:
        signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
        if signs.shape != (pts.shape[1],):
            raise ValueError(f"maximize has {signs.size} entries for {pts.shape[1]} objectives")
        pts = pts * signs
    return pts


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool] | None = None) -> np.ndarray:
    """Boolean ``(n,)`` mask of the non-dominated rows (no other row is at least as good everywhere and better
    somewhere). Equal rows are all kept. NaN rows are never on the front.

    Vectorised: rows are visited best-sum first, and each visited front member removes every row it
    dominates in one numpy step, so the work is (front size) x n x d (a few ms for 15,625 x 3).
    """
    pts = minimized(points, maximize)
    n = pts.shape[0]
    mask = np.zeros(n, dtype=bool)
    finite = np.all(np.isfinite(pts), axis=1)
    idx = np.flatnonzero(finite)
    # A row can only be dominated by one with a smaller sum, so the smallest-sum row is on the front.
    idx = idx[np.argsort(pts[idx].sum(axis=1), kind="stable")]
    cand = pts[idx]
    i = 0
    while i < len(idx):
        p = cand[i]
        dominated = np.all(cand >= p, axis=1) & np.any(cand > p, axis=1)
        keep = ~dominated
        i = int(np.count_nonzero(keep[:i])) + 1
        idx, cand = idx[keep], cand[keep]
    mask[idx] = True
    return mask


def worst_point(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool] | None = None) -> np.ndarray:
    """The worst value of each objective over ``points`` (NaN ignored), in the points' own units and signs:
    the default reference point of ``nasforge pareto``."""
    pts = np.array(points, dtype=float, ndmin=2)
    if maximize is None:
        return np.nanmax(pts, axis=0)
    return np.where(np.asarray(maximize, dtype=bool), np.nanmin(pts, axis=0), np.nanmax(pts, axis=0))


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]], ref: Sequence[float], maximize: Sequence[bool] | None = None
) -> float:
    """The exact volume dominated by ``points`` and bounded by the reference point ``ref`` (same units and
    signs as the points). Points not strictly better than ``ref`` in every objective add nothing; none left
    gives 0.0. 2-D: one sort and a sweep (O(n log n)); d > 2: slicing along the last objective, recursively,
    down to the 2-D sweep (exact; fine for the fronts met here, tens to a few thousand points)."""
    pts = minimized(points, maximize)
    r = minimized([list(ref)], maximize)[0]
    if r.shape[0] != pts.shape[1]:
        raise ValueError(f"the reference point has {r.shape[0]} entries for {pts.shape[1]} objectives")
    pts = pts[np.all(pts < r, axis=1)]
    if pts.shape[0] == 0:
        return 0.0
    pts = pts[pareto_mask(pts)]
    return float(_hv(pts, r))


def _hv(pts: np.ndarray, r: np.ndarray) -> float:
    d = pts.shape[1]
    if d == 1:
        return float(r[0] - pts[:, 0].min())
    if d == 2:
        order = np.lexsort((pts[:, 1], pts[:, 0]))  # x ascending, then y ascending
        x, y = pts[order, 0], pts[order, 1]
        best_y = np.minimum.accumulate(y)  # the front's lower envelope at each x
        widths = np.diff(np.append(x, r[0]))
        return float(np.sum(widths * (r[1] - best_y)))
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    z = np.append(pts[:, -1], r[-1])
    total = 0.0
    for i in range(pts.shape[0]):
        depth = z[i + 1] - z[i]
        if depth > 0:
            total += depth * _hv(pts[: i + 1, :-1], r[:-1])
    return total


def igd(
    found: np.ndarray | Sequence[Sequence[float]],
    true_front: np.ndarray | Sequence[Sequence[float]],
    maximize: Sequence[bool] | None = None,
) -> float:
    """Inverted generational distance: the mean, over the true front's points, of the Euclidean distance to
    the nearest found point, with each objective scaled by the true front's range (so ms and % weigh alike;
    a constant objective is left unscaled). 0 when every true front point was found; ``inf`` if none found."""
    f = minimized(found, maximize)
    t = minimized(true_front, maximize)
    if f.shape[0] == 0 or f.size == 0:
        return float("inf")
    span = t.max(axis=0) - t.min(axis=0)
    span[span == 0] = 1.0
    dist = np.sqrt((((t[:, None, :] - f[None, :, :]) / span) ** 2).sum(axis=2))
    return float(dist.min(axis=1).mean())
