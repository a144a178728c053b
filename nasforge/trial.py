"""The values a black-box search passes around: what to evaluate, what came back, and what was recorded.

One architecture travels as a :class:`Request` from ``optimizer.ask()`` to an evaluator, comes back as a
:class:`Result`, is told to the optimizer and stored by the study as a :class:`TrialRecord`. All three are
frozen; none knows about torch, benchmarks or SQLite.

>>> from nasforge.spaces.nb201 import NB201Arch
>>> request = Request(NB201Arch.from_index(6111), fidelity=12)
>>> result = Result.complete(91.2, cost=150.0, metrics={"valid_acc": 91.2})
>>> result.ok, result.objective, request.fidelity
(True, 91.2, 12)

A result may carry several named objectives (``values``) and constraints; a study's :class:`Objective` list says
which to maximise and which to minimise (a value not in ``values`` is read from ``metrics``):

>>> two = Result.complete(91.2, values={"valid_acc": 91.2}, metrics={"params": 1.1}, constraints={"latency": -2.0})
>>> two.value("valid_acc"), two.value("params"), two.feasible
(91.2, 1.1, True)
>>> Objective("params", "minimize").better(1.1, 1.5)
True
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
    """Where a trial is: started and not finished (RUNNING), or how it ended. A ``str`` enum: it stores and prints
    as its name. PRUNED is a trial stopped early on purpose (it has no objective, like FAIL, but is no error)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


class Direction(str, enum.Enum):
    """Whether an objective is better larger or smaller."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True)
class Objective:
    """One thing a study optimises: a result value's ``name`` and its ``direction``.

    ``"objective"`` names the scalar every optimizer maximises (:attr:`Result.objective`); any other name is read
    from the result's ``values``, else its ``metrics`` (so ``Objective("params", "minimize")`` needs no new field).
    """

    name: str
    direction: Direction = Direction.MAXIMIZE

    def __post_init__(self) -> None:
        if not isinstance(self.direction, Direction):
            try:
                object.__setattr__(self, "direction", Direction(self.direction))
            except ValueError:
                raise ValueError(f"objective {self.name!r}: direction must be maximize or minimize, "
                                 f"got {self.direction!r}") from None  # fmt: skip
        if not (isinstance(self.name, str) and self.name):
            raise ValueError(f"an objective needs a name, got {self.name!r}")

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this objective's direction."""
        return a > b if self.direction is Direction.MAXIMIZE else a < b


DEFAULT_OBJECTIVES: tuple[Objective, ...] = (Objective("objective"),)
"""A study's objectives unless it names others: the one scalar the optimizer maximises."""


@dataclass(frozen=True, init=False)
class Request:
    """One evaluation asked for by an optimizer: an arch and, for multi-fidelity optimizers, a fidelity.

    ``fidelity`` is the number of training epochs of the schedule to use (on NB201: 12 = the separate
    12-epoch schedule, 200 = the full one); ``None`` means the evaluator's default fidelity. ``overhead`` is the
    seconds the optimizer spent choosing this request that belong on the clock (zero-cost proxy evaluations,
    :mod:`nasforge.optimizers.zerocost`): the NB201 benchmark evaluator adds it to the trial's cost. It is not part
    of the request's identity (equality, hashing, what a study stores).
    """

    arch: Arch
    fidelity: int | None = None
    overhead: float = field(default=0.0, compare=False)

    def __init__(self, arch: Arch, fidelity: int | None = None, overhead: float = 0.0) -> None:
        # Three item writes instead of a frozen dataclass's three object.__setattr__ calls (half the time): an
        # optimizer builds one request per trial of millions in ``nasforge compare``.
        slots = self.__dict__
        slots["arch"], slots["fidelity"], slots["overhead"] = arch, fidelity, overhead


def _frozen_metrics(metrics: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(metrics or {}))


_NONE: Mapping[str, float] = MappingProxyType({})  # shared: most results name no values and no constraints


def _frozen_floats(values: Mapping[str, float] | None, what: str) -> Mapping[str, float]:
    if not values:
        return _NONE
    frozen = {str(k): float(v) for k, v in values.items()}
    if not all(math.isfinite(v) for v in frozen.values()):
        raise ValueError(f"{what} must be finite numbers, got {frozen}")
    return MappingProxyType(frozen)


@dataclass(frozen=True, init=False)
class Result:
    """What an evaluation returned (a finished state: COMPLETE, PRUNED or FAIL).

    ``objective`` is the scalar an optimizer maximises; ``values`` the result's named objectives (a study's
    :class:`Objective` list gives their directions); ``constraints`` named values that must be <= 0 for the
    result to be feasible (optuna's convention); ``cost`` the seconds charged to the budget.
    """

    state: TrialState
    objective: float = math.nan
    metrics: Mapping[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    error: str | None = None
    values: Mapping[str, float] = field(default_factory=lambda: _NONE)
    constraints: Mapping[str, float] = field(default_factory=lambda: _NONE)

    def __init__(
        self,
        state: TrialState,
        objective: float = math.nan,
        metrics: Mapping[str, Any] | None = None,
        cost: float = 0.0,
        error: str | None = None,
        values: Mapping[str, float] = _NONE,
        constraints: Mapping[str, float] = _NONE,
    ) -> None:
        # Item writes instead of a frozen dataclass's seven object.__setattr__ calls: a benchmark evaluator builds
        # a result for every arch it meets (thousands per second in ``nasforge compare``). Checked below.
        slots = self.__dict__
        slots["state"], slots["objective"], slots["cost"], slots["error"] = state, objective, cost, error
        slots["metrics"] = {} if metrics is None else metrics
        slots["values"], slots["constraints"] = values, constraints
        self.__post_init__()

    def __post_init__(self) -> None:
        if not isinstance(self.state, TrialState):
            object.__setattr__(self, "state", TrialState(self.state))
        if self.state is TrialState.RUNNING:
            raise ValueError("a result is a finished trial's: COMPLETE, PRUNED or FAIL, not RUNNING")
        if not isinstance(self.metrics, MappingProxyType):
            object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        # Spelled out, not looped over the two names: a result is built once per trial of millions.
        if self.values is not _NONE and not isinstance(self.values, MappingProxyType):
            object.__setattr__(self, "values", _frozen_floats(self.values, "values"))
        if self.constraints is not _NONE and not isinstance(self.constraints, MappingProxyType):
            object.__setattr__(self, "constraints", _frozen_floats(self.constraints, "constraints"))
        if self.state is TrialState.COMPLETE and not math.isfinite(self.objective):
            raise ValueError(f"a COMPLETE result needs a finite objective, got {self.objective}")

    @classmethod
    def complete(
        cls,
        objective: float,
        *,
        cost: float = 0.0,
        metrics: Mapping[str, Any] | None = None,
        values: Mapping[str, float] | None = None,
        constraints: Mapping[str, float] | None = None,
    ) -> Result:
        return cls(TrialState.COMPLETE, float(objective), _frozen_metrics(metrics), float(cost), None,
                   _frozen_floats(values, "values") if values else _NONE,
                   _frozen_floats(constraints, "constraints") if constraints else _NONE)  # fmt: skip

    @classmethod
    def fail(cls, error: str, *, cost: float = 0.0, metrics: Mapping[str, Any] | None = None) -> Result:
        return cls(TrialState.FAIL, math.nan, _frozen_metrics(metrics), float(cost), error)

    @classmethod
    def pruned(cls, reason: str = "", *, cost: float = 0.0, metrics: Mapping[str, Any] | None = None) -> Result:
        """A trial stopped early on purpose: no objective (optimizers learn nothing from it), but no error."""
        return cls(TrialState.PRUNED, math.nan, _frozen_metrics(metrics), float(cost), reason or None)

    @property
    def ok(self) -> bool:
        return self.state is TrialState.COMPLETE

    @property
    def feasible(self) -> bool:
        """Whether every constraint holds (is <= 0); a result without constraints is feasible."""
        return not self.constraints or all(v <= 0 for v in self.constraints.values())

    def value(self, name: str) -> float:
        """The objective ``name``: from ``values``, ``"objective"`` itself, else from ``metrics`` (KeyError if none)."""
        if name in self.values:
            return self.values[name]
        if name == "objective":
            return self.objective
        return float(self.metrics[name])

    def __reduce__(self) -> tuple[Any, ...]:
        # A mappingproxy cannot be pickled; results travel between worker processes as plain dicts.
        return (Result, (self.state, self.objective, dict(self.metrics), self.cost, self.error, dict(self.values),
                         dict(self.constraints)))  # fmt: skip


@dataclass(frozen=True, init=False)
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

    def __init__(
        self,
        number: int,
        arch: Arch,
        fidelity: int,
        result: Result,
        wall_time: float = 0.0,
        started_at: float = 0.0,
        finished_at: float = 0.0,
        worker: int = 0,
        attempts: int = 1,
        sim_start: float | None = None,
        sim_end: float | None = None,
        ask_number: int | None = None,
    ) -> None:
        # Item writes into the instance dict: quicker than a keyword dict update (no keyword dict), far quicker than a
        # frozen dataclass's twelve object.__setattr__ calls; the loop builds one record per trial of millions in
        # ``nasforge compare``. (The fields above stay the dataclass's.)
        slots = self.__dict__
        slots["number"], slots["arch"], slots["fidelity"], slots["result"] = number, arch, fidelity, result
        slots["wall_time"], slots["started_at"], slots["finished_at"] = wall_time, started_at, finished_at
        slots["worker"], slots["attempts"], slots["sim_start"], slots["sim_end"] = worker, attempts, sim_start, sim_end
        slots["ask_number"] = number if ask_number is None else ask_number

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
