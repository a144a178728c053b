"""Multi-objective optimizers on the ask/tell interface (numpy only): MO-REA, NSGA-II, random scalarisation
(ParEGO-style) over any single-objective optimizer, and multi-objective (Pareto) local search.

Each takes ``objectives``, e.g. ``"valid_acc:max,latency_pixel3:min"`` (``nasforge search --objectives``
passes its own), and reads them from each told :class:`~nasforge.trial.Result` with ``result.value(name)``.
The default ``"objective:max"`` (the result's scalar) makes any of them a single-objective optimizer, which is
what the optimizer contract tests run. Failed and infeasible results never enter a population or an archive.

>>> from nasforge.trial import Result
>>> opt = MOREA(0, objectives="acc:max,lat:min", population_size=2, sample_size=2)
>>> for acc, lat in ((90.0, 5.0), (80.0, 1.0)):
...     opt.tell(opt.ask(), Result.complete(acc, values={"acc": acc, "lat": lat}))
>>> child = opt.ask().arch
>>> any(child in arch.neighbors() for arch, _ in opt.population)   # a mutated member
True
"""

from __future__ import annotations

from collections import deque
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from nasforge.objectives import format_objectives, parse_objectives, signs
from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.pareto import minimized, pareto_mask
from nasforge.trial import Arch, Request, Result

_MUTATION_TRIES = 50


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting of minimised ``(n, d)`` points: rank 0 = the front, 1 = the front without it, ..."""
    ranks = np.full(len(points), -1)
    left = np.arange(len(points))
    rank = 0
    while left.size:
        mask = pareto_mask(points[left])
        ranks[left[mask]] = rank
        left = left[~mask]
        rank += 1
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of minimised ``(n, d)`` points (boundary points: infinity)."""
    n, d = points.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(d):
        order = np.argsort(points[:, j], kind="stable")
        col = points[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def _order(points: np.ndarray) -> np.ndarray:
    """Best first: by non-dominated rank, then by larger crowding distance within a rank."""
    ranks = nondominated_ranks(points)
    crowd = np.zeros(len(points))
    for r in np.unique(ranks):
        members = ranks == r
        crowd[members] = crowding_distance(points[members])
    return np.lexsort((-crowd, ranks))


class _MultiObjective(Optimizer):
    """Shared parts: the parsed objectives, a result as a minimised point, unseen mutations."""

    multi_objective: ClassVar[bool] = True

    def __init__(self, seed: Seed, *, space: str = "nb201", objectives: str = "objective:max") -> None:
        super().__init__(seed, space=space)
        self.objectives = parse_objectives(objectives)
        self._maximize = signs(self.objectives)

    def _point(self, result: Result) -> np.ndarray | None:
        """The result's objectives as a minimised vector; ``None`` if it failed or violates a constraint."""
        if not (result.ok and result.feasible):
            return None
        return minimized([[result.value(o.name) for o in self.objectives]], self._maximize)[0]

    def _mutate_unseen(self, parent: Arch) -> Arch:
        child = self.space.mutate(parent, self.rng)
        tries = 1
        while child in self._archs_seen and tries < _MUTATION_TRIES:
            child = self.space.mutate(parent, self.rng)
            tries += 1
        return self._sample_unseen() if child in self._archs_seen else child

    def config(self) -> dict[str, Any]:
        return {**super().config(), "objectives": format_objectives(self.objectives)}


class MOREA(_MultiObjective):
    """Multi-objective regularised evolution (Syne Tune's MOREA): aging evolution whose tournament picks the
    sampled member with the best non-dominated rank, then the largest crowding distance. Defaults are nasforge's
    REA settings (population 10, sample 3), suited to the ~100 trials of a 20,000 s NB201 budget."""

    name = "morea"
    settings = MappingProxyType({"population_size": OptionSpec(int, 1), "sample_size": OptionSpec(int, 1)})

    def __init__(self, seed: Seed, *, space: str = "nb201", objectives: str = "objective:max",
                 population_size: int = 10, sample_size: int = 3) -> None:  # fmt: skip
        super().__init__(seed, space=space, objectives=objectives)
        if population_size < 1 or sample_size < 1:
            raise ValueError(f"population_size and sample_size must be >= 1, got {population_size}, {sample_size}")
        self.population_size, self.sample_size = population_size, sample_size
        self.population: deque[tuple[Arch, np.ndarray]] = deque(maxlen=population_size)
        self._random_pending: list[Request] = []

    def _ask(self) -> Request:
        if len(self.population) + len(self._random_pending) < self.population_size or not self.population:
            request = Request(self._sample_unseen())
            self._random_pending.append(request)
            return request
        picks = self.rng.integers(len(self.population), size=self.sample_size)
        sampled = [self.population[int(i)] for i in picks]
        best = int(_order(np.array([p for _, p in sampled]))[0])
        return Request(self._mutate_unseen(sampled[best][0]))

    def _tell(self, request: Request, result: Result) -> None:
        if request in self._random_pending:
            self._random_pending.remove(request)
        point = self._point(result)
        if point is not None:
            self.population.append((request.arch, point))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "population_size": self.population_size, "sample_size": self.sample_size}


class NSGA2(_MultiObjective):
    """NSGA-II, steady-state, written here on ask/tell (not pymoo's): every ask draws two binary tournaments
    (rank, then crowding) from the parent set and mutates the winner; every tell re-selects the best
    ``population_size`` of parents + the new result by rank and crowding. Steady state because trials finish
    one at a time on asynchronous workers (pymoo's ask/tell is generational and would idle workers), and no
    crossover because a space view offers mutation only (one-edge mutation in NB201)."""

    name = "nsga2"
    settings = MappingProxyType({"population_size": OptionSpec(int, 2)})

    def __init__(self, seed: Seed, *, space: str = "nb201", objectives: str = "objective:max",
                 population_size: int = 20) -> None:  # fmt: skip
        super().__init__(seed, space=space, objectives=objectives)
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, got {population_size}")
        self.population_size = population_size
        self.parents: list[tuple[Arch, np.ndarray]] = []
        self._rank = np.zeros(0, dtype=int)  # tournament keys of the parents: position in the selection order

    def _ask(self) -> Request:
        if len(self.parents) + len(self._pending) < self.population_size or len(self.parents) < 2:
            return Request(self._sample_unseen())
        a, b = self.rng.integers(len(self.parents), size=2)
        winner = int(a) if self._rank[a] <= self._rank[b] else int(b)
        return Request(self._mutate_unseen(self.parents[winner][0]))

    def _tell(self, request: Request, result: Result) -> None:
        point = self._point(result)
        if point is None:
            return
        pool = [*self.parents, (request.arch, point)]
        order = _order(np.array([p for _, p in pool]))[: self.population_size]
        self.parents = [pool[int(i)] for i in order]
        self._rank = np.arange(len(self.parents))  # parents are kept best first

    def config(self) -> dict[str, Any]:
        return {**super().config(), "population_size": self.population_size}


class ParEGO(_MultiObjective):
    """Random scalarisation (ParEGO's augmented Chebyshev) over any single-objective optimizer ``base``.

    Every ``period`` trials a weight vector is drawn uniformly from the simplex and a fresh ``base`` optimizer
    (seeded from this one's generator) starts; it is told ``-(max_j w_j f_j + 0.05 sum_j w_j f_j)`` of each
    result, with each minimised objective ``f_j`` scaled to [0, 1] by the range seen so far (ParEGO's
    normalisation). Different weights steer the segments to different parts of the front."""

    name = "parego"
    settings = MappingProxyType({"period": OptionSpec(int, 1)})  # base: set from Python

    def __init__(self, seed: Seed, *, space: str = "nb201", objectives: str = "objective:max", base: str = "rea",
                 period: int = 25) -> None:  # fmt: skip
        super().__init__(seed, space=space, objectives=objectives)
        from nasforge.optimizers import OPTIMIZERS

        cls = OPTIMIZERS.get(base)
        if cls is None or getattr(cls, "multi_objective", False) or cls.multi_fidelity:
            raise ValueError(f"base must be a single-fidelity, single-objective optimizer, got {base!r}")
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.base, self.period = base, period
        self._cls = cls
        self._points: dict[Arch, np.ndarray] = {}  # every feasible result's minimised objectives
        self._new_segment()

    def _new_segment(self) -> None:
        self.weights = self.rng.dirichlet(np.ones(len(self.objectives)))
        self.inner: Optimizer = self._cls(int(self.rng.integers(2**63)), space=self.space.name)
        self._left = self.period
        self._mine: dict[Request, Request] = {}  # our request -> the inner optimizer's

    def _ask(self) -> Request:
        if self._left == 0 and not self._mine:  # start the next segment once its trials are all told
            self._new_segment()
        self._left = max(0, self._left - 1)
        for _ in range(_MUTATION_TRIES):
            inner = self.inner.ask()
            if inner.arch not in self._archs_seen:
                request = Request(inner.arch)
                self._mine[request] = inner
                return request
            # Asked before: the inner optimizer is told what is known of it at once (nothing is evaluated twice).
            known = self._points.get(inner.arch)
            self.inner.tell(inner, Result.fail("asked already") if known is None else self._scalar(known))
        return Request(self._sample_unseen())  # the inner optimizer keeps repeating itself: a random arch

    def _scalar(self, point: np.ndarray) -> Result:
        seen = np.array(list(self._points.values()))
        low, span = seen.min(axis=0), np.ptp(seen, axis=0)
        scaled = (point - low) / np.where(span > 0, span, 1.0)
        return Result.complete(-float(np.max(self.weights * scaled) + 0.05 * np.sum(self.weights * scaled)))

    def _tell(self, request: Request, result: Result) -> None:
        inner = self._mine.pop(request, None)
        point = self._point(result)
        if point is not None:
            self._points[request.arch] = point
        if inner is None:
            return  # a random arch, or one asked by an earlier segment's optimizer, which is gone
        self.inner.tell(inner, Result.fail("failed or infeasible") if point is None else self._scalar(point))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "base": self.base, "period": self.period}


class MOLocalSearch(_MultiObjective):
    """Pareto local search: keep an archive of non-dominated results; evaluate the one-edge neighbours of an
    unexplored archive member (in random order), then mark it explored; when every archive member is explored,
    restart from a random arch. Never asks for the same arch twice."""

    name = "mols"
    settings = MappingProxyType({"n_initial": OptionSpec(int, 1)})

    def __init__(self, seed: Seed, *, space: str = "nb201", objectives: str = "objective:max",
                 n_initial: int = 10) -> None:  # fmt: skip
        super().__init__(seed, space=space, objectives=objectives)
        if n_initial < 1:
            raise ValueError(f"n_initial must be >= 1, got {n_initial}")
        self.n_initial = n_initial
        self._random_left = n_initial
        self.archive: dict[Arch, np.ndarray] = {}
        self._explored: set[Arch] = set()
        self._queue: list[Arch] = []

    def _ask(self) -> Request:
        if self._random_left > 0:
            self._random_left -= 1
            return Request(self._sample_unseen())
        while True:
            while self._queue:
                arch = self._queue.pop()
                if arch not in self._archs_seen:
                    return Request(arch)
            todo = [a for a in self.archive if a not in self._explored]
            if not todo:
                return Request(self._sample_unseen())  # every member explored: restart at random
            centre = todo[int(self.rng.integers(len(todo)))]
            self._explored.add(centre)
            neighbors = self.space.neighbors(centre)
            self._queue = [neighbors[int(i)] for i in self.rng.permutation(len(neighbors))]

    def _tell(self, request: Request, result: Result) -> None:
        point = self._point(result)
        if point is None:
            return
        archs = [*self.archive, request.arch]
        points = np.array([*self.archive.values(), point])
        keep = pareto_mask(points)
        self.archive = {a: p for a, p, k in zip(archs, points, keep, strict=True) if k}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "n_initial": self.n_initial}


MULTI_OBJECTIVE_OPTIMIZERS = (MOREA, NSGA2, ParEGO, MOLocalSearch)
