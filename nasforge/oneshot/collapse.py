"""DARTS' collapse measured: how much of the relaxation sits on parameter-free ops, epoch by epoch.

DARTS on NB201 ends in an all-``skip_connect`` cell (54.30 % CIFAR-10 test in the NB201 paper, Dong & Yang
2020, Table 5); Zela et al. 2020 ("Understanding and robustifying DARTS") and Chu et al. 2021 ("DARTS-") trace
the drift to parameter-free ops winning the α step once the supernet's weights are well trained. This module
reads a search's per-epoch records (the lines of ``search.jsonl``) and measures that drift: the mixing weight
on parameter-free ops summed over the edges, the same for ``skip_connect`` alone, the count of such ops in the
epoch's derived cell and, on NB201, the cell's benchmark accuracy. Pure Python on the records: no torch.

>>> rec = {"epoch": 1, "alphas": {"alpha": [[0.1, 0.5, 0.2, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]]},
...        "genotype": "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|"}
>>> p = drift([rec], ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))[0]
>>> round(p.free_mass, 6), round(p.skip_mass, 6), p.free_ops, p.skip_ops, p.test_acc
(1.3, 0.7, 4, 2, None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nasforge.errors import StudyError
from nasforge.spaces.darts import Genotype
from nasforge.spaces.nb201 import NB201Arch

PARAMETER_FREE_OPS: frozenset[str] = frozenset({"none", "skip_connect", "avg_pool_3x3", "max_pool_3x3"})
"""Ops without trainable weights in every space here (the search pools' BatchNorm is affine-free)."""


@dataclass(frozen=True)
class DriftPoint:
    """One epoch of a search, seen from its parameter-free ops.

    ``free_mass``/``skip_mass``: Σ over the cell's edges of the logged mixing weight (softmax(α) for DARTS and
    GDAS, β/Σβ for DrNAS) on parameter-free ops / on ``skip_connect``; between 0 and ``edges``.
    ``free_ops``/``skip_ops``: how many edges of the epoch's derived cell (NB201: its 6 edges; DARTS spaces: the
    normal cell's kept edges) hold such an op. ``test_acc``: the derived cell's NB201 CIFAR-10 test accuracy
    (%, 200 epochs) where the search looked it up, else None.
    """

    epoch: int
    edges: int
    free_mass: float
    skip_mass: float
    free_ops: int
    skip_ops: int
    derived_edges: int
    test_acc: float | None

    @property
    def free_share(self) -> float:
        """``free_mass`` per edge: 0.6 = 3/5 for uniform weights over NB201's 5 ops."""
        return self.free_mass / self.edges


def _cell_weights(alphas: Mapping[str, Any]) -> list[list[float]]:
    # NB201 logs one matrix ("alpha"); the DARTS spaces log normal and reduce: collapse is read in the normal cell.
    for name in ("alpha", "alpha_normal"):
        if name in alphas:
            return alphas[name]
    raise KeyError(f"no 'alpha' or 'alpha_normal' among {sorted(alphas)}")


def _derived_ops(genotype: str) -> tuple[str, ...]:
    if genotype.startswith("|"):
        return NB201Arch.parse(genotype).ops
    return tuple(op for op, _ in Genotype.parse(genotype).normal)


def drift(records: Sequence[Mapping[str, Any]], ops: Sequence[str]) -> tuple[DriftPoint, ...]:
    """One :class:`DriftPoint` per record of a search (``search.jsonl``'s lines, any method that logs weights).

    ``ops`` names the columns of the weight matrices (the space's ops, in order). Raises :class:`StudyError`
    when a record lacks its weights or genotype, or a row's length differs from ``len(ops)``.
    """
    free = [op in PARAMETER_FREE_OPS for op in ops]
    skip = [op == "skip_connect" for op in ops]
    points = []
    for record in records:
        try:
            rows = _cell_weights(record["alphas"])
            if any(len(row) != len(ops) for row in rows):
                raise ValueError(f"a row of {len(rows[0])} weights for {len(ops)} ops")
            derived = _derived_ops(record["genotype"])
            bench = record.get("benchmark") or {}
            points.append(
                DriftPoint(
                    epoch=int(record["epoch"]),
                    edges=len(rows),
                    free_mass=sum(w for row in rows for w, f in zip(row, free, strict=True) if f),
                    skip_mass=sum(w for row in rows for w, s in zip(row, skip, strict=True) if s),
                    free_ops=sum(op in PARAMETER_FREE_OPS for op in derived),
                    skip_ops=sum(op == "skip_connect" for op in derived),
                    derived_edges=len(derived),
                    test_acc=bench.get("cifar10_test_acc"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:  # ArchError is a ValueError
            raise StudyError(
                f"search record {record.get('epoch', '?')} has no readable weights/genotype ({exc})"
            ) from None
    return tuple(points)


@dataclass(frozen=True)
class Trend:
    """How a per-epoch series moves: least-squares ``slope`` per epoch (per 100 epochs: ``slope * 100``), the
    share of epoch-to-epoch steps that rose (``rising``), fell (``falling``) or stayed (the rest, |Δ| < 1e-9),
    the ``longest_rise`` (most consecutive rising steps), ``first``/``last`` values and the epoch of the maximum."""

    slope: float
    rising: float
    falling: float
    longest_rise: int
    first: float
    last: float
    argmax_epoch: int


def trend(epochs: Sequence[int], values: Sequence[float]) -> Trend:
    """The :class:`Trend` of ``values`` over ``epochs`` (at least two; ValueError otherwise)."""
    if len(epochs) != len(values) or len(values) < 2:
        raise ValueError(f"need two or more (epoch, value) pairs, got {len(epochs)} epochs, {len(values)} values")
    n = len(values)
    mx, my = sum(epochs) / n, sum(values) / n
    sxx = sum((x - mx) ** 2 for x in epochs)
    slope = sum((x - mx) * (y - my) for x, y in zip(epochs, values, strict=True)) / sxx if sxx else math.nan
    steps = [b - a for a, b in zip(values, values[1:])]
    longest = run = 0
    for d in steps:
        run = run + 1 if d > 1e-9 else 0
        longest = max(longest, run)
    best = max(range(n), key=lambda i: values[i])
    return Trend(
        slope=slope,
        rising=sum(d > 1e-9 for d in steps) / len(steps),
        falling=sum(d < -1e-9 for d in steps) / len(steps),
        longest_rise=longest,
        first=values[0],
        last=values[-1],
        argmax_epoch=epochs[best],
    )
