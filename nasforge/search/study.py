"""Studies: a search's configuration, objectives and trials, kept safe as they finish, and their reports.

A study is a search configuration (space, optimizer and its options, evaluator, seed, stopping rule), the
objectives it optimises (:class:`~nasforge.trial.Objective`; one maximised scalar unless given) and the trials
recorded so far, in a storage (:mod:`nasforge.search.storage`: in memory, or ``<run dir>/study.db``).
:meth:`Study.optimize` runs the one search loop (:mod:`nasforge.search.loop`) on it.

Resuming replays the stored asks and results into a fresh optimizer with the same seed: the optimizer asks, the
stored trial answers, and each request must equal the stored one (optimizers are deterministic given their
seed and what they were told). The loop then carries on exactly where an uninterrupted run would be.

>>> from nasforge.optimizers import create_optimizer
>>> from nasforge.trial import Result
>>> class Constant:  # a toy evaluator: every arch scores its number of convolutions
...     default_fidelity = 12
...     def evaluate(self, request): return Result.complete(sum("conv" in op for op in request.arch.ops), cost=10.0)
...     def predicted_cost(self, request): return 10.0
...     def config(self): return {"kind": "toy"}
>>> study = Study.in_memory({"seed": 0})
>>> outcome = study.optimize(create_optimizer("rs", 0), Constant(), n_iter=5)
>>> len(study.trials), study.clock, study.best_trial is study.incumbent
(5, 50.0, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasforge.errors import StudyError
from nasforge.optimizers import Optimizer
from nasforge.search.loop import RunLimits, SearchOutcome, run
from nasforge.search.storage import DB_FILES, DB_NAME, AskRecord, MemoryStorage, SQLiteStorage, Storage
from nasforge.trial import DEFAULT_OBJECTIVES, Objective, TrialRecord

if TYPE_CHECKING:
    from nasforge.search.evaluators import Evaluator
    from nasforge.search.executors import Executor

__all__ = ["DB_FILES", "DB_NAME", "SearchOutcome", "Study", "improves", "incumbent_of"]


def _normalized(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True))


def incumbent_of(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The best COMPLETE, feasible trial at the highest fidelity any such trial reached (earliest on ties).

    Objectives of different fidelities are not comparable (12- vs 200-epoch accuracy), so a multi-fidelity
    search's incumbent is its best high-fidelity trial. A trial that violates a constraint never is.
    """
    best: TrialRecord | None = None
    for record in trials:
        if improves(record, best):
            best = record
    return best


def improves(record: TrialRecord, best: TrialRecord | None) -> bool:
    """Whether ``record`` replaces ``best`` as the incumbent (:func:`incumbent_of`'s rule, one trial at a time)."""
    if not (record.result.ok and record.result.feasible):
        return False
    if best is None or record.fidelity > best.fidelity:
        return True
    return record.fidelity == best.fidelity and record.result.objective > best.result.objective


def non_dominated(trials: Sequence[TrialRecord], objectives: Sequence[Objective]) -> list[TrialRecord]:
    """The Pareto front: COMPLETE, feasible trials at the highest fidelity among them that no other such trial
    dominates (at least as good in every objective and better in one), in trial order."""
    done = [t for t in trials if t.result.ok and t.result.feasible]
    if not done:
        return []
    top = max(t.fidelity for t in done)
    points = [(t, [t.result.value(o.name) for o in objectives]) for t in done if t.fidelity == top]

    def dominates(a: list[float], b: list[float]) -> bool:
        no_worse = all(not o.better(y, x) for o, x, y in zip(objectives, a, b, strict=True))
        return no_worse and any(o.better(x, y) for o, x, y in zip(objectives, a, b, strict=True))

    return [t for t, v in points if not any(dominates(w, v) for _, w in points)]


class Study:
    """A search's configuration and trials, in memory or in ``<run dir>/study.db``.

    Create one with :meth:`in_memory`, :meth:`create` (a new run directory) or :meth:`resume`; run the
    search with :meth:`optimize`.
    """

    def __init__(self, storage: Storage, config: dict[str, Any], run_dir: Path | None = None) -> None:
        self.storage = storage
        self.config = config
        self.run_dir = run_dir
        self.objectives: tuple[Objective, ...] = storage.objectives()
        self.trials: list[TrialRecord] = storage.trials()
        self.clock = 0.0
        self.incumbent: TrialRecord | None = None
        for record in self.trials:
            self._account(record)
        self._live_optimizer: Optimizer | None = None  # the optimizer this study's last search here left up to date

    # --- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def in_memory(cls, config: dict[str, Any], objectives: Sequence[Objective] = DEFAULT_OBJECTIVES) -> Study:
        config = _normalized(config)
        return cls(MemoryStorage(config, tuple(objectives)), config)

    @classmethod
    def create(
        cls,
        run_dir: str | Path,
        config: dict[str, Any],
        *,
        force: bool = False,
        objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
    ) -> Study:
        """A new study in ``run_dir``; an existing run there is an error unless ``force`` (then it is replaced)."""
        run_dir = Path(run_dir)
        if cls.check_new(run_dir, force=force):
            for name in DB_FILES:  # the study's own files only: anything else in run_dir is the user's
                (run_dir / name).unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        config = _normalized(config)
        storage = SQLiteStorage(run_dir / DB_NAME, create_with=config, objectives=tuple(objectives))
        return cls(storage, config, run_dir)

    @staticmethod
    def check_new(run_dir: str | Path, *, force: bool = False) -> bool:
        """Whether :meth:`create` in ``run_dir`` must first replace a study there (an error unless ``force``).

        Only the study's own files count (and only they are replaced): other files in ``run_dir`` stay.
        """
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise StudyError(f"{run_dir} is a file, not a run directory; choose another run directory")
        if not any((run_dir / name).exists() for name in DB_FILES):
            return False
        if not force:
            raise StudyError(
                f"{run_dir} already holds a search; resume it (Study.resume) or replace it (force=True)"
            )
        return True

    @classmethod
    def open(cls, run_dir: str | Path) -> Study:
        """An existing study as recorded (for reports and plots); its configuration comes from the database."""
        run_dir = Path(run_dir)
        path = run_dir / DB_NAME
        if not path.is_file():
            raise StudyError(f"no study in {run_dir} ({DB_NAME} missing); start one there (Study.create)")
        storage = SQLiteStorage(path)
        config = storage.config()
        if config is None:
            raise StudyError(f"study database {path} has no configuration; start a new run with --force")
        return cls(storage, config, run_dir)

    @classmethod
    def resume(cls, run_dir: str | Path, config: dict[str, Any]) -> Study:
        """The study in ``run_dir``, which must have been started with the same configuration."""
        study = cls.open(run_dir)
        wanted = _normalized(config)
        if study.config != wanted:
            study.close()
            diff = sorted(k for k in set(wanted) | set(study.config) if wanted.get(k) != study.config.get(k))
            shown = "; ".join(f"{k}: {study.config.get(k)!r} there, {wanted.get(k)!r} now" for k in diff)
            raise StudyError(
                f"{run_dir} belongs to a different search ({shown}); "
                "resume it with its own settings, choose another run directory, or replace it (force=True)"
            )
        return study

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running -----------------------------------------------------------------------------------------------

    def optimize(
        self,
        optimizer: Optimizer,
        evaluator: Evaluator,
        *,
        n_iter: int | None = None,
        time_budget: float | None = None,
        callback: Callable[[TrialRecord, Study], None] | None = None,
        workers: int = 1,
        executor: Executor | None = None,
        max_retries: int = 2,
        limits: RunLimits | None = None,
    ) -> SearchOutcome:
        """Run the search until ``n_iter`` trials or ``time_budget`` seconds on the clock, whichever comes first.

        Stored trials are first replayed into ``optimizer`` (a fresh one, seeded as in the original run).
        With a budget, a trial whose cost is known beforehand (benchmark lookups) and would end past the
        budget is not run, as in NB201's own search loops. An evaluator exception other than a
        :class:`~nasforge.errors.NasforgeError` (a user error, which stops the search) is recorded as a FAIL
        trial and the search goes on. ``workers`` trials run at once (simulated workers on a benchmark's
        clock), results are told in completion order, and a trial whose worker died is retried up to
        ``max_retries`` times (:mod:`nasforge.search.loop`). ``limits`` gives the four settings as one
        already-checked value instead (what the CLI passes).
        """
        if limits is None:
            limits = RunLimits(n_iter, time_budget, workers, max_retries)
        replayed = self._live_optimizer is optimizer
        outcome = run(self, optimizer, evaluator, limits, executor=executor, callback=callback, replayed=replayed)
        self._live_optimizer = optimizer
        return outcome

    def record(self, record: TrialRecord) -> None:
        """Store a finished trial (committed before this returns) and account for it."""
        self.storage.add(record, ask_number=record.ask_number)
        self.trials.append(record)
        self._account(record)

    def _account(self, record: TrialRecord) -> None:
        # The clock is when the last result came in: with one worker, the sum of the costs.
        end = self.clock + record.result.cost if record.sim_end is None else record.sim_end
        self.clock = max(self.clock, end)
        if improves(record, self.incumbent):
            self.incumbent = record

    # --- reading -------------------------------------------------------------------------------------------------

    @property
    def best_trial(self) -> TrialRecord | None:
        """The incumbent: the best COMPLETE trial by the maximised ``objective`` at the highest fidelity reached."""
        return self.incumbent

    def best_trials(self) -> list[TrialRecord]:
        """The non-dominated trials under this study's objectives (with one objective: every trial tying the best)."""
        return non_dominated(self.trials, self.objectives)

    def unfinished(self) -> list[AskRecord]:
        """The trials started and not finished (RUNNING now, or cut off by a kill), in the order they were asked."""
        told = {t.ask_number for t in self.trials}
        return [a for a in self.storage.asks() if a.ask_number not in told]

    def trials_table(self) -> list[dict[str, Any]]:
        """One flat row per trial, ready for ``pandas.DataFrame(rows)``: finished trials in the order they were
        told, then the RUNNING ones; each objective is a column of its own, each metric ``metric:<name>``."""
        rows = []
        for t in self.trials:
            r = t.result
            row: dict[str, Any] = {"number": t.number, "ask_number": t.ask_number, "state": r.state.value,
                                   "arch": t.arch.to_string(), "index": t.arch.index,
                                   "fidelity": t.fidelity}  # fmt: skip
            for objective in self.objectives:
                try:
                    row[objective.name] = r.value(objective.name) if r.ok else math.nan
                except KeyError:
                    row[objective.name] = math.nan
            row.update({f"constraint:{k}": v for k, v in r.constraints.items()})
            row.update(cost=r.cost, wall_time=t.wall_time, worker=t.worker, attempts=t.attempts,
                       sim_start=t.sim_start, sim_end=t.sim_end, error=r.error)  # fmt: skip
            row.update({f"metric:{k}": v for k, v in r.metrics.items()})
            rows.append(row)
        for a in self.unfinished():
            rows.append({"number": None, "ask_number": a.ask_number, "state": "RUNNING", "arch": a.arch.to_string(),
                         "index": a.arch.index, "fidelity": a.fidelity, "worker": a.worker,
                         "sim_start": a.sim_start})  # fmt: skip
        return rows
