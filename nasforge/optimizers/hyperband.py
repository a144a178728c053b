"""Hyperband (Li et al. 2018): successive-halving brackets over the training-epochs fidelity.

Bracket ``s`` starts ``ceil((s_max + 1) / (s + 1) * eta**s)`` random archs at the ``s``-th lowest
fidelity and promotes the best ``1/eta`` of each rung to the next fidelity, up to the highest; brackets
cycle ``s = s_max, ..., 0``. On NB201 the fidelities are the two training schedules, 12 and 200 epochs
(per-epoch curves exist for too few archs), so ``s_max = 1``: bracket 1 runs 3 archs for 12 epochs and
the best for 200; bracket 0 runs 2 archs for 200 epochs.

Asynchronous workers: a rung promotes only when all its results are in (synchronous successive
halving); while a bracket waits, requests come from the next bracket, which starts early.
FAIL results rank last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.trial import Arch, Request, Result


@dataclass
class _Bracket:
    fidelities: tuple[int, ...]
    sizes: tuple[int, ...]
    rung: int = 0
    to_start: int = 0
    promotions: list[Arch] = field(default_factory=list)
    told: list[list[tuple[float, int, Arch]]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.rung == len(self.sizes) - 1 and len(self.told[self.rung]) == self.sizes[self.rung]

    def record(self, rung: int, objective: float, arch: Arch) -> None:
        self.told[rung].append((objective, len(self.told[rung]), arch))
        if rung == self.rung and rung + 1 < len(self.sizes) and len(self.told[rung]) == self.sizes[rung]:
            # Best first; ties go to the earlier result. Promote in that order.
            ranked = sorted(self.told[rung], key=lambda t: (-t[0], t[1]))
            self.promotions = [arch for _, _, arch in ranked[: self.sizes[rung + 1]]][::-1]
            self.rung += 1


class Hyperband(Optimizer):
    """Hyperband over explicit fidelity levels (default NB201's 12- and 200-epoch schedules).

    >>> from nasforge.trial import Result
    >>> opt = Hyperband(seed=0)
    >>> first = [opt.ask() for _ in range(3)]
    >>> [r.fidelity for r in first]
    [12, 12, 12]
    >>> for value, request in zip((1.0, 3.0, 2.0), first):
    ...     opt.tell(request, Result.complete(value))
    >>> promoted = opt.ask()
    >>> promoted.arch == first[1].arch, promoted.fidelity
    (True, 200)
    """

    name = "hb"
    settings = MappingProxyType({"eta": OptionSpec(float, 1.5)})  # fidelities: a list, set from Python
    multi_fidelity = True
    cycle_brackets = True

    def __init__(
        self, seed: Seed, *, space: str = "nb201", fidelities: Sequence[int] = (12, 200), eta: float = 3.0
    ) -> None:
        super().__init__(seed, space=space)
        if not fidelities or list(fidelities) != sorted(set(fidelities)) or eta <= 1:
            raise ValueError(f"fidelities must increase strictly and eta be > 1, got {fidelities}, {eta}")
        self.fidelities = tuple(int(f) for f in fidelities)
        self.eta = float(eta)
        self._s_max = len(self.fidelities) - 1
        self._next_s = self._s_max
        self._brackets: list[_Bracket] = []
        self._owner: dict[Arch, _Bracket] = {}

    def _new_bracket(self) -> _Bracket:
        s = self._next_s
        self._next_s = self._s_max if s == 0 or not self.cycle_brackets else s - 1
        n0 = math.ceil((self._s_max + 1) / (s + 1) * self.eta**s)
        sizes = tuple(max(1, int(n0 / self.eta**k)) for k in range(s + 1))
        return _Bracket(self.fidelities[self._s_max - s :], sizes, to_start=n0, told=[[] for _ in sizes])

    def _ask(self) -> Request:
        for bracket in self._brackets:
            request = self._ask_bracket(bracket)
            if request is not None:
                return request
        bracket = self._new_bracket()
        self._brackets.append(bracket)
        request = self._ask_bracket(bracket)
        assert request is not None  # a fresh bracket always has archs to start
        return request

    def _ask_bracket(self, bracket: _Bracket) -> Request | None:
        if bracket.promotions:
            return Request(bracket.promotions.pop(), bracket.fidelities[bracket.rung])
        if bracket.to_start > 0:
            bracket.to_start -= 1
            arch = self._sample_unseen()
            self._owner[arch] = bracket
            return Request(arch, bracket.fidelities[0])
        return None

    def _tell(self, request: Request, result: Result) -> None:
        bracket = self._owner[request.arch]
        objective = result.objective if result.ok else -math.inf
        bracket.record(bracket.fidelities.index(request.fidelity), objective, request.arch)
        if bracket.done:
            self._brackets.remove(bracket)

    def config(self) -> dict:
        return {**super().config(), "fidelities": list(self.fidelities), "eta": self.eta}


class SuccessiveHalving(Hyperband):
    """Successive halving: Hyperband's most aggressive bracket (all fidelities), repeated.

    >>> opt = SuccessiveHalving(seed=0)
    >>> [opt.ask().fidelity for _ in range(3)]
    [12, 12, 12]
    """

    name = "sh"
    cycle_brackets = False
