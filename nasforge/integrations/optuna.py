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

import fcntl
import importlib.util
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasforge.errors import StudyError
from nasforge.optimizers._optuna import (
    EXTRA_HINT,
    OPTUNA_OPTIMIZERS,
    PARAM_NAMES,
    OptunaGP,
    OptunaNSGA2,
    OptunaOptimizer,
    OptunaRandom,
    OptunaTPE,
    arch_from_params,
    arch_params,
    import_optuna,
    search_space,
    suggest_arch,
)
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, Result, TrialRecord

if TYPE_CHECKING:
    import optuna

    from nasforge.search.storage import AskRecord


def quiet_logs() -> None:
    """Make Optuna log warnings only (process-wide: for the process's owner, e.g. the ``nasforge`` command)."""
    optuna = import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)


class BenchmarkObjective:
    """An Optuna objective that looks the suggested arch up in the benchmark store (maximise it).

    Returns the :class:`~nasforge.benchmarks.blackbox.BenchmarkEvaluator`'s objective (default: NB201's protocol, the
    12-epoch validation accuracy in %) and records the arch string, index, simulated cost (s) and every
    looked-up metric (``test_acc`` ...) as the trial's user attributes. ``store`` and ``objective`` are as
    for the evaluator; an unknown dataset or metric raises :class:`ConfigError` here, not in a trial.
    """

    def __init__(self, store: Any, dataset: str = "cifar10", *, objective: str | None = None) -> None:
        from nasforge.benchmarks.blackbox import BenchmarkEvaluator

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


# --- the Optuna-format mirror of a study (what `nasforge dashboard` serves) ------------------------------------

MIRROR_NAME = "optuna.journal"
"""The mirror's file in the run directory: an Optuna journal (``JournalFileBackend``), written by the mirror only."""


def read_study(run_dir: str | os.PathLike) -> tuple[dict[str, Any], list[TrialRecord], list[AskRecord]]:
    """The one glue to nasforge's study: its configuration, finished trials and still-running asks.

    Read through the study's public read API (never with Optuna's storage, which would add its tables).
    """
    from nasforge.search.storage import DB_NAME
    from nasforge.search.study import Study

    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).is_file():
        raise StudyError(f"{run_dir} is not a nasforge study ({DB_NAME} missing); give the --out directory of a search")
    with Study.open(run_dir) as study:
        finished = {t.ask_number for t in study.trials}
        running = [ask for ask in study.storage.asks() if ask.ask_number not in finished]
        return study.config, study.trials, running


def _objective_name(config: Mapping[str, Any]) -> str:
    """The name of the maximised value (a benchmark metric, or the training road's validation accuracy)."""
    evaluator = config.get("evaluator")
    if isinstance(evaluator, Mapping):
        objective = evaluator.get("objective")
        fidelity = str(evaluator.get("default_fidelity"))
        if isinstance(objective, Mapping) and isinstance(objective.get(fidelity), str):
            return objective[fidelity]
    return "valid_acc"


def _named_objectives(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """The study's named objectives (``search --objectives``), or () for a single-objective search."""
    from nasforge.objectives import parse_objectives

    evaluator = config.get("evaluator")
    named = evaluator.get("objectives") if isinstance(evaluator, Mapping) else None
    return parse_objectives(named) if named else ()


class StudyMirror:
    """An Optuna journal beside a study (``<run dir>/optuna.journal``), brought up to date by :meth:`sync`.

    The journal holds one Optuna study named after the run directory. Every nasforge trial is one Optuna
    trial: parameters = the six edge ops, value = the objective, state COMPLETE / FAIL / RUNNING (an
    asynchronous search's trials in flight), user attributes = arch string, index, fidelity, cost, the
    looked-up metrics and the trial's place on the clock. Only this class writes the journal, under an
    exclusive ``flock`` on it, so two mirrors of one run cannot interleave; a journal that no longer matches
    the study (the run was replaced by ``search --force``) is rebuilt.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        optuna = import_optuna()
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / MIRROR_NAME
        self._signature: tuple[Any, ...] | None = None
        self._count = 0
        self._objectives: tuple[Any, ...] = ()  # the study's named objectives, read at each sync
        read_study(self.run_dir)  # not a study: an error before the journal is created
        try:
            backend = optuna.storages.journal.JournalFileBackend(str(self.path))
        except OSError as exc:
            raise StudyError(f"cannot write the dashboard's mirror {self.path} ({exc}); copy the run somewhere "
                             "writable") from None  # fmt: skip
        self.storage = optuna.storages.JournalStorage(backend)
        self._optuna = optuna

    @property
    def study_name(self) -> str:
        return self.run_dir.resolve().name or "nasforge"

    def sync(self) -> int:
        """Copy what the study gained since the last call into the journal; returns the number of trials mirrored
        (finished and running). Reads nothing when the study's files are unchanged since the last call.
        ``nasforge search`` calls it after every trial (:func:`live_mirror`), the dashboard every second."""
        signature = self._files_signature()
        if signature == self._signature:
            return self._count
        config, trials, running = read_study(self.run_dir)
        self._objectives = _named_objectives(config)
        with open(self.path, "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            study = self._study(config)
            mirrored = {t.user_attrs.get("ask_number"): t for t in study.get_trials(deepcopy=False)}
            same_config = study.user_attrs.get("nasforge_config") == json.dumps(config, sort_keys=True)
            if not (same_config and self._matches(mirrored, trials, running)):
                self.storage.delete_study(self.storage.get_study_id_from_name(study.study_name))
                study, mirrored = self._study(config), {}
            for record in trials:
                self._add_finished(study, record, mirrored.get(record.ask_number))
            for ask in running:
                if ask.ask_number not in mirrored:
                    study.add_trial(self._trial(ask.arch, ask.fidelity, ask.ask_number, ask.started_at, None))
        self._signature, self._count = signature, len(trials) + len(running)
        return self._count

    def _files_signature(self) -> tuple[Any, ...]:
        """The study files' sizes and times: unchanged files need no read (the dashboard polls every second)."""
        from nasforge.search.storage import DB_FILES

        stats = []
        for name in DB_FILES:
            try:
                st = (self.run_dir / name).stat()
                stats.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                stats.append(None)
        return tuple(stats)

    def _study(self, config: dict[str, Any]) -> optuna.Study:
        name = self.study_name
        try:
            return self._optuna.load_study(study_name=name, storage=self.storage)
        except KeyError:
            pass
        objectives = _named_objectives(config)
        if objectives:  # one direction per named objective: the dashboard draws the Pareto front
            study = self._optuna.create_study(study_name=name, storage=self.storage,
                                              directions=[o.direction.value for o in objectives])  # fmt: skip
            names = [o.name for o in objectives]
        else:
            study = self._optuna.create_study(study_name=name, storage=self.storage, direction="maximize")
            names = [_objective_name(config)]
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2: nothing a user of ours can act on
            warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
        study.set_user_attr("nasforge_config", json.dumps(config, sort_keys=True))
        study.set_user_attr("run_dir", str(self.run_dir.resolve()))
        return study

    def _matches(self, mirrored: dict[Any, Any], trials: list[TrialRecord], running: list[AskRecord]) -> bool:
        """Whether every mirrored trial is still the study's (same ask, arch, fidelity and, if finished, value)."""
        study = {t.ask_number: (t.arch.to_string(), t.fidelity, t.result) for t in trials}
        study.update({a.ask_number: (a.arch.to_string(), a.fidelity, None) for a in running})
        for ask_number, trial in mirrored.items():
            arch, fidelity, result = study.get(ask_number, (None, None, None))
            if trial.user_attrs.get("arch") != arch or trial.user_attrs.get("fidelity") != fidelity:
                return False
            if trial.state.is_finished() and (result is None or trial.values != _values(result, self._objectives)):
                return False
        return True

    def _add_finished(self, study: optuna.Study, record: TrialRecord, mirrored: Any) -> None:
        if mirrored is None:
            study.add_trial(self._trial(record.arch, record.fidelity, record.ask_number, record.started_at, record))
            return
        if mirrored.state.is_finished():
            return
        # It was mirrored while it ran: finish it in place (same Optuna number).
        template = self._trial(record.arch, record.fidelity, record.ask_number, record.started_at, record)
        study_id = self.storage.get_study_id_from_name(study.study_name)
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, mirrored.number)
        for key, value in template.user_attrs.items():
            self.storage.set_trial_user_attr(trial_id, key, value)
        self.storage.set_trial_state_values(trial_id, template.state, template.values)

    def _params(self, arch: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The trial's Optuna parameters and distributions: NB201's six edge ops, or an sss arch's five channel
        counts (layer name -> channels, one categorical of the eight counts each)."""
        if isinstance(arch, NB201Arch):
            return arch_params(arch), search_space()
        from nasforge.spaces.nats_sss import CHANNELS

        params = arch.to_config()
        return params, {k: self._optuna.distributions.CategoricalDistribution(CHANNELS) for k in params}

    def _trial(
        self, arch: Any, fidelity: int, ask_number: int, started: float, record: TrialRecord | None
    ) -> optuna.trial.FrozenTrial:
        state = self._optuna.trial.TrialState
        attrs: dict[str, Any] = {"arch": arch.to_string(), "index": arch.index, "fidelity": fidelity,
                                 "ask_number": ask_number}  # fmt: skip
        params, distributions = self._params(arch)
        if record is None:
            trial = self._optuna.trial.create_trial(
                state=state.RUNNING, params=params, distributions=distributions, user_attrs=attrs
            )
            trial.datetime_start = _datetime(started)
            return trial
        result = record.result
        attrs.update(
            trial=record.number, cost=result.cost, wall_time=record.wall_time, worker=record.worker,
            attempts=record.attempts, sim_start=record.sim_start, sim_end=record.sim_end,
        )  # fmt: skip
        attrs.update({k: v for k, v in result.metrics.items() if k not in attrs})
        if result.error:
            attrs["error"] = result.error
        trial = self._optuna.trial.create_trial(
            state=state.COMPLETE if result.ok else state.FAIL,
            values=_values(result, self._objectives),
            params=params,
            distributions=distributions,
            user_attrs=attrs,
        )
        trial.datetime_start, trial.datetime_complete = _datetime(started), _datetime(record.finished_at)
        return trial


def live_mirror(run_dir: str | os.PathLike, *, interval: float = 1.0) -> Callable[..., int] | None:
    """What a running search calls after each trial to keep ``<run_dir>/optuna.journal`` up to date, so that
    ``nasforge dashboard`` (started any time) shows it live: ``sync(final=False)`` runs :meth:`StudyMirror.sync`
    when ``interval`` seconds have passed since the last one ended (0: after every trial), or when ``final``;
    it returns the number of trials mirrored. (A sync re-reads the study, ~40 ms at 300 trials: per trial it
    would dominate a benchmark search; the dashboard polls once a second anyway.) ``None`` when Optuna (the
    ``optuna`` extra) is not installed: then there is no mirror, and the search runs as without one."""
    if importlib.util.find_spec("optuna") is None:
        return None
    mirror = StudyMirror(run_dir)
    last = [-math.inf]  # monotonic time the last sync ended

    def sync(final: bool = False) -> int:
        if final or time.monotonic() - last[0] >= interval:
            mirror.sync()
            last[0] = time.monotonic()
        return mirror._count

    return sync


def _values(result: Result, objectives: tuple[Any, ...] = ()) -> list[float] | None:
    """A result's Optuna values: its named objectives in the study's order (each in its own direction), else the
    one maximised objective; None for a failed trial."""
    if not result.ok:
        return None
    return [result.value(o.name) for o in objectives] if objectives else [result.objective]


def _datetime(timestamp: float) -> datetime | None:
    return datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else None


__all__ = [
    "EXTRA_HINT",
    "MIRROR_NAME",
    "OPTUNA_OPTIMIZERS",
    "PARAM_NAMES",
    "BenchmarkObjective",
    "OptunaGP",
    "OptunaNSGA2",
    "OptunaOptimizer",
    "OptunaRandom",
    "OptunaTPE",
    "StudyMirror",
    "arch_from_params",
    "arch_params",
    "import_optuna",
    "live_mirror",
    "quiet_logs",
    "read_study",
    "search_space",
    "suggest_arch",
]
