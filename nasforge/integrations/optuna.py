"""Optuna, both ways: nasforge spaces in Optuna studies, Optuna samplers as nasforge optimizers, and a mirror.

Optuna (https://optuna.org) is the optional extra ``optuna`` (``pip install 'nasforge[optuna]'``); it is
imported when first needed, and a missing one is a :class:`~nasforge.errors.ConfigError` naming the extra.

**A nasforge space in an Optuna study.** :func:`search_space` gives NB201 as six categorical distributions
(one per edge, named as in the ConfigSpace view: ``edge_0-1`` ... ``edge_2-3``), :func:`suggest_arch` draws
an :class:`~nasforge.spaces.nb201.NB201Arch` in an objective, and :class:`BenchmarkObjective` is a ready
objective on the benchmark store (no training)::

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(BenchmarkObjective(open_store("store"), "cifar10"), n_trials=100)

**An Optuna sampler as a nasforge optimizer.** ``optuna-tpe``, ``optuna-random``, ``optuna-nsga2`` and
``optuna-gp`` are registered optimizers (``--optimizer optuna-tpe``). Each keeps a private in-memory Optuna
study and goes through Optuna's own ask/tell; its sampler is seeded from the optimizer's generator, so the
same seed and the same told results give the same requests, and a study resumes by replaying its results
like every nasforge optimizer.

Duplicates: Optuna's samplers may propose an arch that was already asked (TPE does, often, once its model
has settled: NB201 is small and categorical). nasforge never evaluates an arch twice, so a re-proposed arch
is told to Optuna as a FAIL trial (user attribute ``duplicate_of``), which Optuna's samplers leave out of
their models, and Optuna is asked again: its model sees every evaluated arch exactly once, as our own
optimizers' do. After ``max_duplicates`` re-proposals in a row (default 3) the last one is replaced by a
random unseen neighbour of it (one edge changed, drawn from the optimizer's generator; a uniformly random
unseen arch if every neighbour was seen), enqueued into Optuna's study so that Optuna records what is
evaluated. Re-asking more often buys little and costs much: every re-proposal is one more trial that each
later ask scans (on a toy objective that TPE solves, 300 asks made 8,499 re-proposals and took 142 s with
50 re-asks, 742 and 10 s with 3). ``duplicates`` and ``replacements`` count both events.

Optuna logs every finished trial at INFO level; that setting is the process's (``optuna.logging``), so
library code leaves it alone and the ``nasforge`` command quiets it with :func:`quiet_logs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from nasforge.errors import ConfigError
from nasforge.optimizers._base import Optimizer, Seed
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


def quiet_logs() -> None:
    """Make Optuna log warnings only (process-wide: for the process's owner, e.g. the ``nasforge`` command)."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


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


class BenchmarkObjective:
    """An Optuna objective that looks the suggested arch up in the benchmark store (maximise it).

    Returns the :class:`~nasforge.evaluators.BenchmarkEvaluator`'s objective (default: NB201's protocol, the
    12-epoch validation accuracy in %) and records the arch string, index, simulated cost (s) and every
    looked-up metric (``test_acc`` ...) as the trial's user attributes. ``store`` and ``objective`` are as
    for the evaluator; an unknown dataset or metric raises :class:`ConfigError` here, not in a trial.
    """

    def __init__(self, store: Any, dataset: str = "cifar10", *, objective: str | None = None) -> None:
        from nasforge.evaluators import BenchmarkEvaluator

        self.evaluator = BenchmarkEvaluator(store, dataset, objective=objective)

    def __call__(self, trial: optuna.trial.Trial) -> float:
        arch = suggest_arch(trial)
        result = self.evaluator.evaluate(Request(arch))
        trial.set_user_attr("arch", arch.to_string())
        trial.set_user_attr("index", arch.index)
        trial.set_user_attr("cost", result.cost)
        for key, value in result.metrics.items():
            trial.set_user_attr(key, value)
        return result.objective


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

    def __init__(self, seed: Seed, *, space: str = "nb201", max_duplicates: int = 3, **sampler_options: Any) -> None:
        super().__init__(seed, space=space)
        _check_space(space)
        if isinstance(max_duplicates, bool) or not isinstance(max_duplicates, int) or max_duplicates < 0:
            raise ConfigError(f"{self.name}: max_duplicates must be an integer >= 0, got {max_duplicates!r}")
        optuna = import_optuna()
        self.max_duplicates = max_duplicates
        self.sampler_options = dict(sampler_options)
        try:
            sampler = getattr(optuna.samplers, self.sampler_class)(
                seed=int(self.rng.integers(2**31)), **sampler_options
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: bad sampler options {sampler_options}: {exc}") from None
        self._optuna = optuna
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._distributions = search_space(space)
        self._numbers: dict[Request, int] = {}  # pending request -> its Optuna trial number
        self.duplicates = 0
        self.replacements = 0

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

