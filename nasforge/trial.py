"""The values a black-box search passes around: what to evaluate, what came back, and what was recorded.

One architecture travels as a :class:`Request` from ``optimizer.ask()`` to an evaluator, comes back as a
:class:`Result`, is told to the optimizer and stored by the study as a :class:`TrialRecord`. All three are
frozen; none knows about torch, benchmarks or SQLite.

>>> from nasforge.spaces.nb201 import NB201Arch
>>> request = Request(NB201Arch.from_index(6111), fidelity=12)
>>> result = Result.complete(91.2, cost=150.0, metrics={"valid_acc": 91.2})
>>> result.ok, result.objective, request.fidelity
(True, 91.2, 12)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nasforge.spaces.nb201 import NB201Arch

Arch = NB201Arch
"""The architecture type searched today; other spaces will widen this alias."""


class TrialState(str, enum.Enum):
    """How a trial ended. A ``str`` enum so that it stores and prints as its name."""

    COMPLETE = "COMPLETE"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Request:
    """One evaluation asked for by an optimizer: an arch and, for multi-fidelity optimizers, a fidelity.

    ``fidelity`` is the number of training epochs of the schedule to use (on NB201: 12 = the separate
    12-epoch schedule, 200 = the full one); ``None`` means the evaluator's default fidelity.
    """

    arch: Arch
    fidelity: int | None = None


def _frozen_metrics(metrics: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(metrics or {}))


@dataclass(frozen=True)
class Result:
    """What an evaluation returned. ``objective`` is maximised; ``cost`` is the seconds charged to the budget."""

    state: TrialState
    objective: float = math.nan
    metrics: Mapping[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    error: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.state, TrialState):
            object.__setattr__(self, "state", TrialState(self.state))
        if not isinstance(self.metrics, MappingProxyType):
            object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        if self.state is TrialState.COMPLETE and not math.isfinite(self.objective):
            raise ValueError(f"a COMPLETE result needs a finite objective, got {self.objective}")

    @classmethod
    def complete(cls, objective: float, *, cost: float = 0.0, metrics: Mapping[str, Any] | None = None) -> Result:
        return cls(TrialState.COMPLETE, float(objective), _frozen_metrics(metrics), float(cost))

    @classmethod
    def fail(cls, error: str, *, cost: float = 0.0, metrics: Mapping[str, Any] | None = None) -> Result:
        return cls(TrialState.FAIL, math.nan, _frozen_metrics(metrics), float(cost), error)

    @property
    def ok(self) -> bool:
        return self.state is TrialState.COMPLETE

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled; results travel between worker processes as plain dicts.
        return (Result, (self.state, self.objective, dict(self.metrics), self.cost, self.error))


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as a study stores it (number 0, 1, ... in the order results were told).

    ``ask_number`` is the order the trial was asked in (``None``: the same as ``number``), ``worker`` the
    slot (0..K-1) it ran on, ``attempts`` how many times it was started (more than 1 after its worker died),
    ``started_at``/``finished_at`` wall-clock timestamps and ``sim_start``/``sim_end`` its place on the
    study's clock (simulated seconds on a benchmark, elapsed search seconds when training).
    """

    number: int
    arch: Arch
    fidelity: int
    result: Result
    wall_time: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    worker: int = 0
    attempts: int = 1
    sim_start: float | None = None
    sim_end: float | None = None
    ask_number: int | None = None

    def __post_init__(self) -> None:
        if self.ask_number is None:
            object.__setattr__(self, "ask_number", self.number)

    @property
    def request(self) -> Request:
        return Request(self.arch, self.fidelity)

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "number": self.number,
            "arch": self.arch.to_string(),
            "index": self.arch.index,
            "fidelity": self.fidelity,
            "state": r.state.value,
            "objective": r.objective if math.isfinite(r.objective) else None,
            "metrics": dict(r.metrics),
            "cost": r.cost,
            "wall_time": self.wall_time,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker": self.worker,
            "attempts": self.attempts,
            "sim_start": self.sim_start,
            "sim_end": self.sim_end,
            "ask_number": self.ask_number,
            "error": r.error,
        }
