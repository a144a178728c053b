"""Objectives with directions and constraints as users write them (``test_acc:max,latency_pixel3:min``,
``latency_raspi4<=5``), parsed once into :class:`~nasforge.trial.Objective` and :class:`Constraint` values.

Names are the benchmark store's metric names (``nasforge bench info``); HELP's device latencies are
``latency_<device>`` in milliseconds (``latency_gold_6226``, ``latency_pixel3``, ``latency_raspi4``, ...).

>>> parse_objectives("test_acc:max,latency_pixel3:min")
(Objective(name='test_acc', direction=<Direction.MAXIMIZE: 'maximize'>), \
Objective(name='latency_pixel3', direction=<Direction.MINIMIZE: 'minimize'>))
>>> c = parse_constraint("latency_raspi4<=5")
>>> c.name, c.violation(7.5), c.violation(4.0)
('latency_raspi4<=5', 2.5, -1.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nasforge.errors import ConfigError
from nasforge.trial import Direction, Objective

__all__ = ["Constraint", "format_objectives", "parse_constraint", "parse_constraints", "parse_objectives", "signs"]

_DIRECTIONS = {"max": Direction.MAXIMIZE, "maximize": Direction.MAXIMIZE,
               "min": Direction.MINIMIZE, "minimize": Direction.MINIMIZE}  # fmt: skip
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_.:-]+?)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


def parse_objectives(text: str | Iterable[str | Objective]) -> tuple[Objective, ...]:
    """``"name:max,name:min"`` (or a sequence of such items or of :class:`Objective`) as objectives.
    A missing or unknown direction, an empty or repeated name: :class:`ConfigError` naming the fix."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[Objective] = []
    for item in items:
        if isinstance(item, Objective):
            out.append(item)
            continue
        name, sep, direction = str(item).strip().rpartition(":")
        if not sep or not name or direction.lower() not in _DIRECTIONS:
            raise ConfigError(f"objective {str(item).strip()!r} needs a direction: write METRIC:max or METRIC:min "
                              "(e.g. test_acc:max,latency_pixel3:min)")  # fmt: skip
        out.append(Objective(name.strip(), _DIRECTIONS[direction.lower()]))
    names = [o.name for o in out]
    if not out:
        raise ConfigError("no objectives given: write METRIC:max or METRIC:min, comma-separated")
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives name a metric twice ({', '.join(names)}); give each once")
    return tuple(out)


def format_objectives(objectives: Sequence[Objective]) -> str:
    """The inverse of :func:`parse_objectives`: ``"test_acc:max,latency_pixel3:min"``."""
    return ",".join(f"{o.name}:{'max' if o.direction is Direction.MAXIMIZE else 'min'}" for o in objectives)


def signs(objectives: Sequence[Objective]) -> list[bool]:
    """Per objective, whether it is maximised (the ``maximize`` argument of :mod:`nasforge.search.pareto`)."""
    return [o.direction is Direction.MAXIMIZE for o in objectives]


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` or ``metric >= bound`` (the metric's store units: ms for latencies, M for params).

    :meth:`violation` is <= 0 when it holds, else by how much it is missed (a result's ``constraints`` value).
    """

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ConfigError(f"constraint on {self.metric}: the comparison must be <= or >=, got {self.op!r}")
        if not (isinstance(self.bound, (int, float)) and math.isfinite(self.bound)):
            raise ConfigError(f"constraint on {self.metric}: the bound must be a finite number, got {self.bound!r}")

    @property
    def name(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, value: float) -> float:
        return float(value - self.bound if self.op == "<=" else self.bound - value)


def parse_constraint(text: str | Constraint) -> Constraint:
    """``"latency_raspi4<=5"`` as a :class:`Constraint`; anything else: :class:`ConfigError` with the form."""
    if isinstance(text, Constraint):
        return text
    match = _CONSTRAINT.match(str(text))
    bound = None
    if match:
        try:
            bound = float(match.group(3))
        except ValueError:
            bound = None
    if match is None or bound is None or not math.isfinite(bound):
        raise ConfigError(f"constraint {str(text)!r} is not METRIC<=NUMBER or METRIC>=NUMBER "
                          "(e.g. \"latency_raspi4<=5\", ms)")  # fmt: skip
    return Constraint(match.group(1), match.group(2), bound)


def parse_constraints(items: str | Iterable[str | Constraint] | None) -> tuple[Constraint, ...]:
    """Several constraints (a sequence, or one string); repeats of the same constraint are an error."""
    if items is None:
        return ()
    out = (parse_constraint(items),) if isinstance(items, (str, Constraint)) else tuple(map(parse_constraint, items))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"constraints repeat ({', '.join(names)}); give each once")
    return out
