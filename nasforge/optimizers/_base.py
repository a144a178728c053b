"""The ask/tell interface every black-box optimizer implements.

An optimizer proposes :class:`~nasforge.trial.Request` values with :meth:`Optimizer.ask` and learns from
:meth:`Optimizer.tell`. Several requests may be outstanding at once (asynchronous workers): the base
class keeps them in :attr:`Optimizer.pending`, so a subclass can avoid proposing a pending arch again and
can tell finished results from running ones. Subclasses implement ``_ask`` and ``_tell`` only.

All randomness comes from the optimizer's own ``numpy.random.Generator``, seeded by the caller: the same
seed and the same told results give the same sequence of requests, which is what lets a study resume
by replaying its stored results into a fresh optimizer.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from nasforge.errors import ConfigError, StudyError
from nasforge.spaces.registry import BlackBoxView, blackbox_view
from nasforge.trial import Arch, Request, Result

Seed = int | np.random.Generator

# How many draws an optimizer makes looking for an unseen arch before it accepts a repeat; only reached
# when nearly the whole space has been evaluated.
_MAX_DRAWS = 10_000


INFEASIBLE = -1e12
"""The scalar objective an infeasible result is told as, less its total violation: below every feasible value
(accuracies in %, negated latencies in ms or parameters in M), and the less violated the better."""


def penalised(result: Result) -> Result:
    """``result`` (COMPLETE, violating a constraint) with its objective replaced by :data:`INFEASIBLE` minus the
    total violation, so every optimizer ranks it below every feasible result without special cases; its values
    and constraints are kept (multi-objective optimizers look at ``feasible`` themselves)."""
    violation = sum(max(0.0, v) for v in result.constraints.values())
    return Result.complete(INFEASIBLE - violation, cost=result.cost, metrics=result.metrics, values=result.values,
                           constraints=result.constraints)  # fmt: skip


@dataclass(frozen=True)
class OptionSpec:
    """One hyperparameter an optimizer declares: its type (int, float, bool, or str with its ``choices``) and
    inclusive range."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def parse(self, name: str, text: str) -> Any:
        """``text`` as this option's value; :class:`ConfigError` naming the option and its type/range."""
        if self.kind is str:
            if text not in self.choices:
                raise ConfigError(f"optimizer setting {name}={text!r:.40}: give one of {', '.join(self.choices)}")
            return text
        kind = {int: "an integer", float: "a number"}.get(self.kind, self.kind.__name__)
        span = f"{kind} in [{self.low if self.low is not None else '-inf'}, " \
               f"{self.high if self.high is not None else 'inf'}]"  # fmt: skip
        if self.kind is bool:
            if text.lower() not in ("true", "false"):
                raise ConfigError(f"optimizer setting {name}={text!r:.40}: give true or false")
            return text.lower() == "true"
        try:
            value = self.kind(text)
        except ValueError:
            raise ConfigError(f"optimizer setting {name}={text!r:.40} is not {span}") from None
        if not math.isfinite(value) or (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):  # fmt: skip
            raise ConfigError(f"optimizer setting {name}={text!r:.40} is outside its range: give {span}")
        return value


def parse_optimizer_args(cls: type[Optimizer], text: str) -> dict[str, Any]:
    """``"key=value,..."`` checked against ``cls.settings``; :class:`ConfigError` (one line) otherwise."""
    options: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"optimizer setting {item!r:.40} has no value; write key=value, e.g. population_size=20")
        if key not in cls.settings:
            known = ", ".join(cls.settings) or "none"
            raise ConfigError(f"{cls.name} has no setting {key!r}; its settings: {known}")
        options[key] = cls.settings[key].parse(key, value.strip())
    return options


class Optimizer(ABC):
    """Base class: bookkeeping of pending and finished requests around the subclass's ``_ask``/``_tell``.

    Class attributes describe the optimizer to the contract tests and the CLI:
    ``allows_repeats`` (it may ask for an (arch, fidelity) pair that was already asked) and
    ``multi_fidelity`` (its requests carry fidelities), ``settings`` (the hyperparameters its constructor takes
    that ``--optimizer-args`` may set, each with its type and range), ``zc_preset`` (the settings of its
    zero-cost-aware variant ``<name>+zc``, :mod:`nasforge.optimizers.zerocost`).
    """

    name: ClassVar[str]
    settings: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType({})  # what --optimizer-args may set
    # The settings of its zero-cost-aware variant "<name>+zc" (built with proxy scores); empty: it has none.
    zc_preset: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    allows_repeats: ClassVar[bool] = False
    multi_fidelity: ClassVar[bool] = False

    def __init__(self, seed: Seed, *, space: str = "nb201") -> None:
        self.rng = np.random.default_rng(seed)
        self.space: BlackBoxView = blackbox_view(space)
        self._pending: list[Request] = []
        self._archs_seen: set[Arch] = set()
        self.history: list[tuple[Request, Result]] = []

    # --- the public interface ----------------------------------------------------------------------------------

    def ask(self) -> Request:
        """The next evaluation to run; it stays pending until it is told."""
        request = self._ask()
        self._pending.append(request)
        self._archs_seen.add(request.arch)
        return request

    def tell(self, trial: Request | Arch, result: Result) -> None:
        """Report the result of a pending request (or of the oldest pending request for this arch). A result
        that violates a constraint reaches ``_tell`` :func:`penalised`; ``history`` keeps it as it was."""
        request = self._take_pending(trial)
        self.history.append((request, result))
        self._tell(request, result if result.feasible or not result.ok else penalised(result))

    @property
    def pending(self) -> tuple[Request, ...]:
        """Requests asked and not yet told, oldest first."""
        return tuple(self._pending)

    def config(self) -> dict[str, Any]:
        """The optimizer's settings (recorded by a study, so a resume with other settings is refused)."""
        return {"name": self.name, "space": self.space.name}

    # --- what subclasses implement -------------------------------------------------------------------------------

    @abstractmethod
    def _ask(self) -> Request: ...

    def _tell(self, request: Request, result: Result) -> None:  # noqa: B027 - optional hook
        """Learn from a result; the default learns nothing (random search)."""

    # --- helpers for subclasses -----------------------------------------------------------------------------------

    def _sample_unseen(self) -> Arch:
        """A uniformly random arch never asked before at any fidelity (a repeat only once the space is used up)."""
        arch = self.space.sample(self.rng)
        draws = 1
        while arch in self._archs_seen and draws < _MAX_DRAWS and len(self._archs_seen) < self.space.size:
            arch = self.space.sample(self.rng)
            draws += 1
        return arch

    def _take_pending(self, trial: Request | Arch) -> Request:
        if isinstance(trial, Request):
            try:
                self._pending.remove(trial)
            except ValueError:
                message = f"tell() got {trial}, which is not pending; tell only requests returned by ask()"
                raise StudyError(message) from None
            return trial
        for position, request in enumerate(self._pending):
            if request.arch == trial:
                return self._pending.pop(position)
        raise StudyError(f"tell() got arch {trial}, which has no pending request; tell only archs returned by ask()")
