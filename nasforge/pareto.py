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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.errors import ConfigError
from nasforge.trial import Direction, Objective

__all__ = ["TrueFront", "dominated_by", "hypervolume", "igd", "minimized", "pareto_mask", "worst_point"]


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
    if pts.shape[1] == 2:  # one sort: among distinct rows in (x, y) order, a row is dominated iff an earlier y <= its y
        rows, inverse = np.unique(pts[idx], axis=0, return_inverse=True)  # lexicographic: x, then y
        earlier = np.concatenate(([np.inf], np.minimum.accumulate(rows[:-1, 1])))
        mask[idx] = (rows[:, 1] < earlier)[inverse.ravel()]
        return mask
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
    if pts.shape[1] > 2:  # the 2-D sweep needs no front first: a dominated point adds no area to its envelope
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


def dominated_by(points: np.ndarray | Sequence[Sequence[float]], front: np.ndarray,
                 maximize: Sequence[bool] | None = None) -> np.ndarray:  # fmt: skip
    """Boolean ``(n,)``: whether some row of ``front`` dominates each of ``points`` (same signs and units)."""
    p = minimized(points, maximize)
    f = minimized(front, maximize)
    if p.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    no_worse = np.all(f[None, :, :] <= p[:, None, :], axis=2)
    better = np.any(f[None, :, :] < p[:, None, :], axis=2)
    return np.any(no_worse & better, axis=1)


@dataclass(frozen=True)
class TrueFront:
    """The exact front of a space: ``points`` ``(n_archs, d)`` (NaN rows: no value or infeasible), the indices
    on the front, its reference point (the worst value of each objective over the feasible archs) and its
    hypervolume. Built from whole-space metric columns (``LookupTables.columns``)."""

    objectives: tuple[Objective, ...]
    points: np.ndarray
    indices: np.ndarray
    ref: np.ndarray
    hypervolume: float

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray], objectives: Sequence[Objective],
                     constraints: Sequence[Any] = (), ref: Sequence[float] | None = None) -> TrueFront:  # fmt: skip
        """``columns`` name -> per-arch values; ``constraints`` (:class:`nasforge.objectives.Constraint`) drop
        the archs that violate them; ``ref`` overrides the reference point (it must be worse than some arch in
        every objective, else :class:`ConfigError`)."""
        pts = np.column_stack([np.asarray(columns[o.name], dtype=float) for o in objectives])
        for c in constraints:
            column = np.asarray(columns[c.metric], dtype=float)
            bad = ~((column <= c.bound) if c.op == "<=" else (column >= c.bound))
            pts[bad] = np.nan
        up = [o.direction is Direction.MAXIMIZE for o in objectives]
        mask = pareto_mask(pts, up)
        if not mask.any():
            raise ConfigError("no architecture has every objective and meets the constraints: no front")
        point = worst_point(pts, up) if ref is None else np.asarray(ref, dtype=float)
        if point.shape != (len(objectives),):
            raise ConfigError(f"the reference point needs {len(objectives)} numbers (one per objective), "
                              f"got {point.size}")  # fmt: skip
        hv = hypervolume(pts[mask], point, up)
        if hv == 0.0 and ref is not None:
            given = [float(v) for v in point]
            raise ConfigError(f"the reference point {given} is not worse than any front point in every "
                              "objective (it dominates nothing): choose worse values, or omit --ref to use the "
                              "worst value of each objective")  # fmt: skip
        return cls(tuple(objectives), pts, np.flatnonzero(mask), point, hv)

    @property
    def size(self) -> int:
        return int(self.indices.size)

    @property
    def maximize(self) -> list[bool]:
        return [o.direction is Direction.MAXIMIZE for o in self.objectives]

    @property
    def front(self) -> np.ndarray:
        """The front's points ``(size, d)``, in arch index order."""
        return self.points[self.indices]

    def dominated(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Whether the true front dominates each of ``points`` (False: the point is on the true front)."""
        return dominated_by(np.asarray(points, dtype=float).reshape(-1, len(self.objectives)), self.front,
                            self.maximize)  # fmt: skip

    def indicators(self, points: np.ndarray | Sequence[Sequence[float]]) -> dict[str, Any]:
        """Hypervolume of ``points`` (found by a search), the true front's, their difference (regret), IGD."""
        pts = np.asarray(points, dtype=float).reshape(-1, len(self.objectives))
        hv = hypervolume(pts, self.ref, self.maximize) if len(pts) else 0.0
        return {"hypervolume": hv, "true_hypervolume": self.hypervolume,
                "hypervolume_regret": self.hypervolume - hv, "igd": igd(pts, self.front, self.maximize),
                "reference_point": [float(v) for v in self.ref]}  # fmt: skip
