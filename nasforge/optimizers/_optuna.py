"""Optuna's samplers as nasforge optimizers, and NB201 as Optuna parameters (the implementation behind
:mod:`nasforge.integrations.optuna`, which documents both; it lives here so that the optimizer registry can
list the ``optuna-*`` optimizers without importing Optuna, which is imported when one is created).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from nasforge.errors import ConfigError
from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.spaces import nb201
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, Result

if TYPE_CHECKING:
    import optuna

EXTRA_HINT = "install the optional extra: pip install 'nasforge[optuna]'"

PARAM_NAMES: tuple[str, ...] = tuple(nb201.edge_name(edge) for edge in nb201.EDGES)
"""Optuna parameter names of NB201's six edges, in arch-string order (the ConfigSpace names)."""


def import_optuna() -> Any:
    """The ``optuna`` module; :class:`ConfigError` naming the extra when it is not installed."""
    try:
        import optuna
    except ModuleNotFoundError as exc:
        if exc.name != "optuna":
            raise
        raise ConfigError(f"Optuna is not installed; {EXTRA_HINT}") from None
    return optuna


# --- nasforge spaces as Optuna search spaces -------------------------------------------------------------------


def _check_space(space: str) -> None:
    if space != "nb201":
        raise ConfigError(f"unknown search space {space!r} for Optuna; known spaces: nb201")


def search_space(space: str = "nb201") -> dict[str, optuna.distributions.CategoricalDistribution]:
    """``space`` as Optuna distributions: one categorical per edge, choices :data:`nasforge.spaces.nb201.OPS`."""
    _check_space(space)
    distribution = import_optuna().distributions.CategoricalDistribution(nb201.OPS)
    return dict.fromkeys(PARAM_NAMES, distribution)


def suggest_arch(trial: optuna.trial.BaseTrial, space: str = "nb201") -> NB201Arch:
    """Draw an arch in an Optuna objective (one ``suggest_categorical`` per edge)."""
    _check_space(space)
    return NB201Arch(tuple(trial.suggest_categorical(name, nb201.OPS) for name in PARAM_NAMES))


def arch_params(arch: NB201Arch) -> dict[str, str]:
    """The Optuna parameters of ``arch`` (for ``study.enqueue_trial`` or ``create_trial``)."""
    return dict(zip(PARAM_NAMES, arch.ops))


def arch_from_params(params: Mapping[str, Any]) -> NB201Arch:
    """The arch an Optuna trial's parameters describe; :class:`~nasforge.errors.ArchError` for unknown ops."""
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ConfigError(f"Optuna parameters lack the edges {', '.join(missing)}; expected {', '.join(PARAM_NAMES)}")
    return NB201Arch(tuple(params[name] for name in PARAM_NAMES))


# --- Optuna samplers as nasforge optimizers ---------------------------------------------------------------------


class OptunaOptimizer(Optimizer):
    """A nasforge optimizer driving an Optuna sampler through Optuna's ask/tell (module docstring).

    ``sampler_options`` go to the sampler's constructor (e.g. ``n_startup_trials=20``); they must be JSON
    values, as the study records them. The sampler's seed is drawn from the optimizer's generator.

    >>> from nasforge.trial import Result
    >>> opt = OptunaTPE(seed=0)  # doctest: +SKIP
    >>> opt.tell(opt.ask(), Result.complete(93.1))  # doctest: +SKIP
    """

    sampler_class: ClassVar[str]  # the name in optuna.samplers
    settings = MappingProxyType({"max_duplicates": OptionSpec(int, 0)})  # sampler options: set from Python

    def __init__(self, seed: Seed, *, space: str = "nb201", max_duplicates: int = 3, **sampler_options: Any) -> None:
        super().__init__(seed, space=space)
        _check_space(space)
        if isinstance(max_duplicates, bool) or not isinstance(max_duplicates, int) or max_duplicates < 0:
            raise ConfigError(f"{self.name}: max_duplicates must be an integer >= 0, got {max_duplicates!r}")
        optuna = import_optuna()
        self.max_duplicates = max_duplicates
        self.sampler_options = dict(sampler_options)
        try:
            sampler = self._sampler(optuna, int(self.rng.integers(2**31)))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: bad sampler options {sampler_options}: {exc}") from None
        self._optuna = optuna
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._distributions = search_space(space)
        self._numbers: dict[Request, int] = {}  # pending request -> its Optuna trial number
        self.duplicates = 0
        self.replacements = 0

    def _sampler(self, optuna: Any, seed: int) -> optuna.samplers.BaseSampler:
        """The Optuna sampler, seeded (a subclass may build any ``BaseSampler`` here)."""
        return getattr(optuna.samplers, self.sampler_class)(seed=seed, **self.sampler_options)

    def _ask(self) -> Request:
        for _ in range(self.max_duplicates + 1):
            trial = self._study.ask(self._distributions)
            arch = arch_from_params(trial.params)
            if arch not in self._archs_seen:
                return self._pending_request(trial, arch)
            self.duplicates += 1
            trial.set_user_attr("duplicate_of", arch.to_string())
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        # The sampler keeps proposing what it has seen: evaluate an unseen arch next to its last proposal.
        self.replacements += 1
        unseen = [a for a in arch.neighbors() if a not in self._archs_seen]
        arch = unseen[int(self.rng.integers(len(unseen)))] if unseen else self._sample_unseen()
        self._study.enqueue_trial(arch_params(arch))
        return self._pending_request(self._study.ask(self._distributions), arch)

    @property
    def optuna_study(self) -> optuna.Study:
        """The private in-memory Optuna study (read it; asking or telling it directly breaks the optimizer)."""
        return self._study

    def _pending_request(self, trial: optuna.trial.Trial, arch: NB201Arch) -> Request:
        request = Request(arch)
        self._numbers[request] = trial.number
        return request

    def _tell(self, request: Request, result: Result) -> None:
        number = self._numbers.pop(request)
        if result.ok:
            self._study.tell(number, result.objective)
        else:
            self._study.tell(number, state=self._optuna.trial.TrialState.FAIL)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "max_duplicates": self.max_duplicates, **self.sampler_options}


class OptunaTPE(OptunaOptimizer):
    """Optuna's ``TPESampler`` (its defaults: 10 random startup trials, multivariate as Optuna ships it)."""

    name = "optuna-tpe"
    sampler_class = "TPESampler"


class OptunaRandom(OptunaOptimizer):
    """Optuna's ``RandomSampler``."""

    name = "optuna-random"
    sampler_class = "RandomSampler"


class OptunaNSGA2(OptunaOptimizer):
    """Optuna's ``NSGAIISampler`` (a genetic algorithm; population 50 by default)."""

    name = "optuna-nsga2"
    sampler_class = "NSGAIISampler"


class OptunaGP(OptunaOptimizer):
    """Optuna's ``GPSampler`` (Gaussian-process Bayesian optimisation; Optuna imports torch and scipy for it)."""

    name = "optuna-gp"
    sampler_class = "GPSampler"


OPTUNA_OPTIMIZERS: tuple[type[OptunaOptimizer], ...] = (OptunaTPE, OptunaRandom, OptunaNSGA2, OptunaGP)
"""The Optuna samplers registered as nasforge optimizers (they need the ``optuna`` extra when created)."""


def check_available(cls: type[Optimizer]) -> None:
    """:class:`ConfigError` naming the extra when ``cls`` is an Optuna optimizer and Optuna is missing."""
    if issubclass(cls, OptunaOptimizer):
        try:
            import_optuna()
        except ConfigError:
            raise ConfigError(f"optimizer {cls.name} needs Optuna; {EXTRA_HINT}") from None
