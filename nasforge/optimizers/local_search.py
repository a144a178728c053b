"""Local search: first-improvement hill climbing over one-edge neighbours, with random restarts.

It starts from the best of ``n_initial`` random archs, asks for that centre's neighbours in random
order and moves to the first one that beats it. When every neighbour has been evaluated without an
improvement the centre is a local optimum and the search restarts from a fresh random arch. With
asynchronous workers, a request made while the last neighbours are still running is a random arch.
"""

from __future__ import annotations

from types import MappingProxyType

from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.trial import Arch, Request, Result


class LocalSearch(Optimizer):
    """Hill climbing on the one-edge neighbourhood; never asks for the same arch twice.

    >>> from nasforge.trial import Result
    >>> opt = LocalSearch(seed=0, n_initial=1)
    >>> start = opt.ask()
    >>> opt.tell(start, Result.complete(50.0))
    >>> opt.ask().arch in start.arch.neighbors()
    True
    """

    name = "ls"
    settings = MappingProxyType({"n_initial": OptionSpec(int, 1)})

    def __init__(self, seed: Seed, *, space: str = "nb201", n_initial: int = 10) -> None:
        super().__init__(seed, space=space)
        if n_initial < 1:
            raise ValueError(f"n_initial must be >= 1, got {n_initial}")
        self.n_initial = n_initial
        self._random_left = n_initial
        self._center: tuple[Arch, float] | None = None
        self._queue: list[Arch] = []

    def _ask(self) -> Request:
        if self._random_left > 0:
            self._random_left -= 1
            return Request(self._sample_unseen())
        while self._queue:
            arch = self._queue.pop()
            if arch not in self._archs_seen:
                return Request(arch)
        if self._center is not None and not self._pending:
            self._center = None  # a local optimum: restart from the next (random) arch
        return Request(self._sample_unseen())

    def _tell(self, request: Request, result: Result) -> None:
        if result.ok and (self._center is None or result.objective > self._center[1]):
            self._center = (request.arch, result.objective)
            neighbors = self.space.neighbors(request.arch)
            order = self.rng.permutation(len(neighbors))
            self._queue = [neighbors[int(i)] for i in order]

    def config(self) -> dict:
        return {**super().config(), "n_initial": self.n_initial}
