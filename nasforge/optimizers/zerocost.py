"""Zero-cost proxy scores as an optimizer sees them: a precomputed table, and an account of what was paid.

An optimizer never computes a proxy (that needs torch) nor reads a store: the CLI / comparison layer reads a
proxy's scores and measured seconds from a benchmark store (:func:`nasforge.benchmarks.blackbox.proxy_scores`) and
hands them to the optimizer's constructor as a :class:`ProxyScores`. The optimizer looks scores up through its
own :class:`ZeroCostMeter`, which charges each arch's measured seconds the first time it is scored; the seconds
owed ride on the next request as :attr:`nasforge.trial.Request.overhead`, and the benchmark evaluator adds them to
that trial's cost, so zero-cost evaluations are paid on the simulated clock like training is.

Warm-up (:func:`warm_start`): rank ``pool`` distinct uniformly random archs by the proxy and keep the best ``k``:
Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), section 5 ("zero-cost warmup"), which
seeds an optimizer's first archs with the top of a proxy-ranked random pool. The pool size nasforge uses by
default is 1,000 (``zc_pool``; the paper tries several sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.errors import ConfigError, ProxyError

DEFAULT_POOL = 1000
"""Archs ranked by the proxy in a warm-up unless ``zc_pool`` says otherwise."""


@dataclass(frozen=True, eq=False)
class ProxyScores:
    """One proxy's ``scores`` and the CPU ``seconds`` it took, per arch (float arrays over the official arch index;
    NaN score = not scored). ``cost_source`` says where the seconds come from (per-arch measured, or a mean)."""

    proxy: str
    scores: np.ndarray
    seconds: np.ndarray
    cost_source: str = ""

    def __post_init__(self) -> None:
        if self.scores.shape != self.seconds.shape or self.scores.ndim != 1:
            raise ConfigError(f"proxy {self.proxy}: scores {self.scores.shape} and seconds {self.seconds.shape} "
                              "must be 1-D arrays of the same length")  # fmt: skip


class ZeroCostMeter:
    """An optimizer's look-ups of one :class:`ProxyScores`: each arch is charged its seconds once (a second look-up
    reuses the score the optimizer already paid for); :meth:`take` hands over the seconds owed so far."""

    def __init__(self, table: ProxyScores) -> None:
        self.table = table
        self._scored: set[int] = set()
        self._owed = 0.0
        self.charged = 0.0  # seconds charged in all

    def score(self, archs: Sequence[Any]) -> np.ndarray:
        """(n,) scores of ``archs`` (each has an official ``index``); :class:`ProxyError` for an unscored arch."""
        idx = np.fromiter((a.index for a in archs), dtype=np.int64, count=len(archs))
        values = self.table.scores[idx]
        if not np.isfinite(values).all():
            bad = int(idx[int(np.argmin(np.isfinite(values)))])
            raise ProxyError(f"no finite {self.table.proxy} score for arch {bad}; score every arch first "
                             f"(nasforge zc score --proxies {self.table.proxy} --archs all)")  # fmt: skip
        for i in idx.tolist():
            if i not in self._scored:
                self._scored.add(i)
                self._owed += float(self.table.seconds[i])
        return values

    def take(self) -> float:
        """The seconds owed since the last call (they go on the next request's ``overhead``)."""
        owed, self._owed = self._owed, 0.0
        self.charged += owed
        return owed


def meter_for(optimizer: str, zc: ProxyScores | None, uses: str) -> ZeroCostMeter | None:
    """The meter over ``zc`` for an ``optimizer`` whose settings named in ``uses`` (e.g. ``"zc_pool"``; empty: none
    is on) need proxy scores: ``None`` when none is on, :class:`ConfigError` when one is on and ``zc`` is missing."""
    if not uses:
        return None
    if zc is None:
        raise ConfigError(f"{optimizer} with {uses} needs zero-cost proxy scores (zc=ProxyScores); on the command "
                          f"line: nasforge compare --optimizers {optimizer}+zc --zc PROXY")  # fmt: skip
    return ZeroCostMeter(zc)


def warmup_seconds(zc: ProxyScores, pool: int) -> float:
    """The most a warm-up of ``pool`` archs (:func:`warm_start`) can charge before the first trial: the sum of the
    ``pool`` costliest archs' seconds (``pool`` x the mean when the seconds are one measured mean)."""
    if pool <= 0:
        return 0.0
    seconds = np.sort(zc.seconds[np.isfinite(zc.seconds)])[::-1]
    return float(seconds[:pool].sum())


def check_pool(pool: int, needed: int, what: str, space_size: int) -> None:
    """:class:`ConfigError` unless ``needed <= pool <= space_size`` (``what`` names the setting ``needed`` is)."""
    if pool > space_size:
        raise ConfigError(f"zc_pool={pool} is larger than the space ({space_size:,} archs); give zc_pool <= "
                          f"{space_size}")  # fmt: skip
    if pool < needed:
        raise ConfigError(f"zc_pool={pool} is smaller than {what}={needed}: the warm-up keeps the pool's best "
                          f"{needed}; give zc_pool >= {needed}")  # fmt: skip


def warm_start(space: Any, rng: np.random.Generator, meter: ZeroCostMeter, pool: int, k: int) -> tuple[list, list]:
    """(the pool: ``pool`` distinct random archs in draw order, its best ``k`` by the proxy, best first; ties keep
    draw order). Every pool member is charged to ``meter``."""
    drawn: dict[Any, None] = {}
    while len(drawn) < pool:
        drawn[space.sample(rng)] = None
    archs = list(drawn)
    order = np.argsort(-meter.score(archs), kind="stable")[:k]
    return archs, [archs[int(i)] for i in order]


def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(x) log(1 + |x|)``: proxy scores span many decades (synflow: 1e20 to 1e40), features should not."""
    return np.sign(values) * np.log1p(np.abs(values))
