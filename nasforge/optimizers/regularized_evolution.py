"""Regularized evolution (aging evolution, Real et al. 2019) as run in the NB201 paper.

The first ``population_size`` requests are random; after that each request mutates the best of
``sample_size`` members drawn (with replacement) from the population, and every finished child pushes
the oldest member out. Only finished, successful trials enter the population, so with asynchronous
workers parents are drawn from completed results only; a FAIL result is dropped.

Zero-cost warm-up (``zc_pool`` > 0, with proxy scores; the variant ``rea+zc``): the first ``population_size``
requests are the best of ``zc_pool`` random archs ranked by the proxy instead of random archs; the pool's proxy
seconds ride on the first request (:mod:`nasforge.optimizers.zerocost`).
"""

from __future__ import annotations

from collections import deque
from operator import itemgetter
from types import MappingProxyType

from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.optimizers.zerocost import DEFAULT_POOL, ProxyScores, check_pool, meter_for, warm_start
from nasforge.trial import Arch, Request, Result

# Mutations tried for an arch not asked before (when repeats are off) before falling back to random.
_MUTATION_TRIES = 50
_VALUE = itemgetter(1)  # a population member's (arch, objective) -> objective


class RegularizedEvolution(Optimizer):
    """REA with NB201's settings: population 10, sample size 3, mutate one edge to a different op.

    NB201 re-evaluates a child that equals an earlier arch, so repeats are allowed by default, as in the
    paper; ``allow_repeats=False`` re-draws such children.

    >>> from nasforge.trial import Result
    >>> opt = RegularizedEvolution(seed=0, population_size=2, sample_size=1)
    >>> for value in (1.0, 2.0):
    ...     opt.tell(opt.ask(), Result.complete(value))
    >>> child = opt.ask().arch  # a one-edge mutation of a population member
    >>> any(child in arch.neighbors() for arch, _ in opt.population)
    True
    """

    name = "rea"
    settings = MappingProxyType({"population_size": OptionSpec(int, 1), "sample_size": OptionSpec(int, 1),
                                 "allow_repeats": OptionSpec(bool), "zc_pool": OptionSpec(int, 0)})  # fmt: skip
    zc_preset = MappingProxyType({"zc_pool": DEFAULT_POOL})
    allows_repeats = True

    def __init__(
        self,
        seed: Seed,
        *,
        space: str = "nb201",
        population_size: int = 10,
        sample_size: int = 3,
        allow_repeats: bool = True,
        zc_pool: int = 0,
        zc: ProxyScores | None = None,
    ) -> None:
        super().__init__(seed, space=space)
        if population_size < 1 or not 1 <= sample_size:
            raise ValueError(f"population_size and sample_size must be >= 1, got {population_size}, {sample_size}")
        self.zc_pool = zc_pool
        self.warm: list[Arch] = []  # the warm-up's archs still to ask, best first
        self.warm_pool: list[Arch] = []
        if zc_pool:
            check_pool(zc_pool, population_size, "population_size", self.space.size)
        self.meter = meter_for(self.name, zc, "zc_pool" if zc_pool else "")
        if self.meter is not None:
            self.warm_pool, self.warm = warm_start(self.space, self.rng, self.meter, zc_pool, population_size)
        self.population_size = population_size
        self.sample_size = sample_size
        self._draws = range(sample_size)
        self.allow_repeats = allow_repeats
        self.population: deque[tuple[Arch, float]] = deque(maxlen=population_size)
        self._random_pending: list[Request] = []

    def _ask(self) -> Request:
        # Random members until the population (finished + random ones still running) is full.
        if len(self.population) + len(self._random_pending) < self.population_size or not self.population:
            if self.warm:
                arch = self.warm.pop(0)
            else:
                arch = self.space.sample(self.rng) if self.allow_repeats else self._sample_unseen()
            request = Request(arch, overhead=self.meter.take() if self.meter else 0.0)
            self._random_pending.append(request)
            return request
        population, integers, size = self.population, self.rng.integers, len(self.population)
        # k scalar draws: the very numbers integers(size, size=k) draws (numpy's bounded draws take one 32-bit word
        # each, in order, either way; tests/test_optimizers.py checks it) without its per-call array overhead.
        sample = [population[integers(size)] for _ in self._draws]
        parent = max(sample, key=_VALUE)[0]  # the first of equally good picks
        child = self.space.mutate(parent, self.rng)
        if not self.allow_repeats:
            tries = 1
            while child in self._archs_seen and tries < _MUTATION_TRIES:
                child = self.space.mutate(parent, self.rng)
                tries += 1
            if child in self._archs_seen:
                child = self._sample_unseen()
        return Request(child)

    def _tell(self, request: Request, result: Result) -> None:
        if request in self._random_pending:
            self._random_pending.remove(request)
        if result.ok:
            self.population.append((request.arch, result.objective))

    def config(self) -> dict:
        return {
            **super().config(),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "allow_repeats": self.allow_repeats,
            **({"zc_pool": self.zc_pool, "zc_proxy": self.meter.table.proxy} if self.meter else {}),
        }
