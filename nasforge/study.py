"""Studies: the trials of one search, kept safe in SQLite as they finish, and the loop that runs a search.

A study is a search configuration (space, optimizer and its options, evaluator, seed, stopping rule) plus
the trials recorded so far. :class:`SQLiteStorage` writes every trial in its own transaction (WAL
journal, ``synchronous=FULL``), so a run killed at any point, ``kill -9`` included, loses at most the
trial that was running and never leaves half a trial behind. :class:`MemoryStorage` keeps trials in a
list (``nasforge compare`` runs thousands of short searches and needs no database).

Resuming replays the stored results into a fresh optimizer with the same seed: the optimizer asks, the
stored trial answers, and each request must equal the stored one (optimizers are deterministic given their
seed and what they were told). The loop then carries on exactly where an uninterrupted run would be.
Each trial also stores ``ask_number`` (the order it was asked in); a sequential loop asks and tells in the
same order. The asynchronous loop (``workers > 1`` or an executor, :mod:`nasforge.async_search`) also writes
every ask to an ``asks`` table before it starts, with the number of results told before it: resuming
replays asks and tells in their recorded interleaving, and the asks without a trial are the trials that had
not finished, which are run again.

>>> from nasforge.optimizers import create_optimizer
>>> from nasforge.trial import Result
>>> class Constant:  # a toy evaluator: every arch scores its number of convolutions
...     default_fidelity = 12
...     def evaluate(self, request): return Result.complete(sum("conv" in op for op in request.arch.ops), cost=10.0)
...     def predicted_cost(self, request): return 10.0
...     def config(self): return {"kind": "toy"}
>>> study = Study.in_memory({"seed": 0})
>>> outcome = study.optimize(create_optimizer("rs", 0), Constant(), n_iter=5)
>>> len(study.trials), study.clock
(5, 50.0)
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nasforge._io import is_int
from nasforge.errors import ArchError, StudyError
from nasforge.executors import run_evaluation
from nasforge.optimizers import Optimizer
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, Result, TrialRecord, TrialState

if TYPE_CHECKING:
    from nasforge.evaluators import Evaluator
    from nasforge.executors import Executor

DB_NAME = "study.db"
DB_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm")  # SQLite's write-ahead log and its index beside it
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AskRecord:
    """A trial as it was started by the asynchronous loop: what, after how many results, where and when."""

    ask_number: int
    arch: NB201Arch
    fidelity: int
    told_before: int  # results told to the optimizer before this ask
    worker: int
    sim_start: float  # on the study's clock
    started_at: float  # wall clock


class Storage(Protocol):
    def config(self) -> dict[str, Any] | None: ...

    def trials(self) -> list[TrialRecord]: ...

    def add(self, record: TrialRecord, ask_number: int) -> None: ...

    def asks(self) -> list[AskRecord]: ...

    def add_ask(self, ask: AskRecord) -> None: ...

    def close(self) -> None: ...


class MemoryStorage:
    """Trials in a list; nothing survives the process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._trials: list[TrialRecord] = []
        self._asks: list[AskRecord] = []

    def config(self) -> dict[str, Any]:
        return self._config

    def trials(self) -> list[TrialRecord]:
        return list(self._trials)

    def add(self, record: TrialRecord, ask_number: int) -> None:
        self._trials.append(record)

    def asks(self) -> list[AskRecord]:
        return list(self._asks)

    def add_ask(self, ask: AskRecord) -> None:
        self._asks.append(ask)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    number INTEGER PRIMARY KEY,
    ask_number INTEGER NOT NULL,
    arch TEXT NOT NULL,
    fidelity INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('COMPLETE', 'FAIL')),
    objective REAL,
    metrics TEXT NOT NULL,
    cost REAL NOT NULL,
    wall_time REAL NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    worker INTEGER NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    sim_start REAL,
    sim_end REAL
);
CREATE TABLE asks (
    ask_number INTEGER PRIMARY KEY,
    arch TEXT NOT NULL,
    fidelity INTEGER NOT NULL,
    told_before INTEGER NOT NULL,
    worker INTEGER NOT NULL,
    sim_start REAL NOT NULL,
    started_at REAL NOT NULL
);
"""
# Columns and tables added after schema 1 first shipped: an older study.db gains them when opened (NULL
# sim_start/sim_end read as "the clock summed over costs", as that nasforge computed it).
_ADDED_COLUMNS = (("attempts", "INTEGER NOT NULL DEFAULT 1"), ("sim_start", "REAL"), ("sim_end", "REAL"))
_TRIAL_COLUMNS = (
    "number, ask_number, arch, fidelity, state, objective, metrics, cost, wall_time, started_at, finished_at, "
    "worker, error, attempts, sim_start, sim_end"
)


class SQLiteStorage:
    """One SQLite file: a ``meta`` table (schema version, configuration) and a ``trials`` table."""

    def __init__(self, path: str | Path, *, create_with: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        if create_with is None:
            # sqlite3 would turn an empty or foreign file into a fresh database: an existing study must be SQLite.
            with contextlib.suppress(OSError), open(self.path, "rb") as file:
                if file.read(16) != b"SQLite format 3\x00":
                    raise self._corrupt(sqlite3.DatabaseError("not an SQLite database"))
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if create_with is not None:
                with self._transaction():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():  # executescript would commit: one statement at a time
                            self._db.execute(statement)
                    self._db.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("schema_version", str(SCHEMA_VERSION)), ("config", json.dumps(create_with, sort_keys=True))],
                    )
            self._check()
            self._upgrade()
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: Exception) -> StudyError:
        # A locked or read-only database is intact: say so, and never suggest --force, which would delete it.
        text = str(exc).lower()
        if "locked" in text:
            return StudyError(f"study database {self.path} is locked by another process ({exc}); wait for it to end")
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return StudyError(
                f"study database {self.path} cannot be opened for writing ({exc}); is its directory read-only? "
                "Copy the run somewhere writable to continue it"
            )
        return StudyError(
            f"study database {self.path} is unreadable or corrupted ({exc}); "
            "restore it from a backup or start a new run with --force"
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "trials"} <= tables:
            raise StudyError(
                f"{self.path} is not a nasforge study database (tables {sorted(tables)}); "
                "start a new run with --force or choose another --out"
            )
        version = dict(self._db.execute("SELECT key, value FROM meta")).get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StudyError(f"{self.path} has study schema {version}, this nasforge reads {SCHEMA_VERSION}")

    def _upgrade(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}
        missing = [(name, kind) for name, kind in _ADDED_COLUMNS if name not in have]
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not missing and "asks" in tables:
            return
        with self._transaction():
            for name, kind in missing:
                self._db.execute(f"ALTER TABLE trials ADD COLUMN {name} {kind}")
            if "asks" not in tables:
                asks = _SCHEMA[_SCHEMA.index("CREATE TABLE asks") :].rstrip().rstrip(";")
                self._db.execute(asks)

    def config(self) -> dict[str, Any] | None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
            if row is None:
                return None
            if not isinstance(row[0], str):
                raise _BadRow("the stored configuration is not text")
            return _check_config(json.loads(row[0]))
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise self._corrupt(exc) from None
        except RecursionError:
            raise self._corrupt(ValueError("the stored configuration is nested too deeply")) from None

    def trials(self) -> list[TrialRecord]:
        query = f"SELECT {_TRIAL_COLUMNS} FROM trials ORDER BY number"
        try:
            rows = self._db.execute(query).fetchall()
            records = _records_from_rows(rows)
        except (sqlite3.DatabaseError, json.JSONDecodeError, ArchError, ValueError) as exc:
            raise self._corrupt(exc) from None
        if [r.number for r in records] != list(range(len(records))):
            raise self._corrupt(ValueError("trial numbers are not 0, 1, 2, ..."))
        return records

    def add(self, record: TrialRecord, ask_number: int) -> None:
        r = record.result
        row = (
            record.number,
            ask_number,
            record.arch.to_string(),
            record.fidelity,
            r.state.value,
            r.objective if math.isfinite(r.objective) else None,
            json.dumps(dict(r.metrics), sort_keys=True),
            r.cost,
            record.wall_time,
            record.started_at,
            record.finished_at,
            record.worker,
            r.error,
            record.attempts,
            record.sim_start,
            record.sim_end,
        )
        marks = ", ".join("?" * len(row))
        try:
            with self._transaction():
                self._db.execute(f"INSERT INTO trials ({_TRIAL_COLUMNS}) VALUES ({marks})", row)
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"cannot record trial {record.number} in {self.path}: {exc}") from None

    def asks(self) -> list[AskRecord]:
        query = "SELECT ask_number, arch, fidelity, told_before, worker, sim_start, started_at FROM asks ORDER BY 1"
        try:
            rows = self._db.execute(query).fetchall()
            for row in rows:
                _check_row("asks", row, _ASK_CHECKS)
            return [AskRecord(a, NB201Arch.parse(arch), *rest) for a, arch, *rest in rows]
        except (sqlite3.DatabaseError, ArchError, ValueError) as exc:
            raise self._corrupt(exc) from None

    def add_ask(self, ask: AskRecord) -> None:
        row = (ask.ask_number, ask.arch.to_string(), ask.fidelity, ask.told_before, ask.worker, ask.sim_start,
               ask.started_at)  # fmt: skip
        try:
            with self._transaction():
                self._db.execute("INSERT INTO asks VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.DatabaseError as exc:
            raise StudyError(f"cannot record the start of trial {ask.ask_number} in {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()


class _BadRow(ValueError):
    """A stored value of the wrong type or range (the database was edited or damaged)."""


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# column -> (check, what it must be); columns not listed are checked where they are read.
_TRIAL_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "number": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "ask_number": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "arch": (lambda v: isinstance(v, str), "an arch string"),
    "fidelity": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "state": (lambda v: v in {s.value for s in TrialState}, "COMPLETE or FAIL"),
    "objective": (lambda v: v is None or _is_real(v), "a finite number (or NULL for a FAIL)"),
    "metrics": (lambda v: isinstance(v, str), "a JSON object"),
    "cost": (lambda v: _is_real(v) and v >= 0, "a finite number >= 0"),
    "wall_time": (lambda v: _is_real(v) and v >= 0, "a finite number >= 0"),
    "started_at": (_is_real, "a finite number"),
    "finished_at": (_is_real, "a finite number"),
    "worker": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "error": (lambda v: v is None or isinstance(v, str), "text or NULL"),
    "attempts": (lambda v: v is None or (is_int(v) and v >= 1), "an integer >= 1"),
    "sim_start": (lambda v: v is None or _is_real(v), "a finite number or NULL"),
    "sim_end": (lambda v: v is None or _is_real(v), "a finite number or NULL"),
}
_ASK_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {  # in the order asks() selects them
    **{k: _TRIAL_CHECKS[k] for k in ("ask_number", "arch", "fidelity")},
    "told_before": (lambda v: is_int(v) and v >= 0, "an integer >= 0"),
    "worker": _TRIAL_CHECKS["worker"],
    "sim_start": (_is_real, "a finite number"),
    "started_at": _TRIAL_CHECKS["started_at"],
}


def _check_row(table: str, row: tuple, checks: dict[str, tuple[Callable[[Any], bool], str]]) -> None:
    for name, value in zip(checks, row, strict=True):
        ok, what = checks[name]
        if not ok(value):
            raise _BadRow(f"{table} row {row[0]!r}: {name} is {str(value)[:40]!r}, expected {what}")


def _records_from_rows(rows: list[tuple]) -> list[TrialRecord]:
    records, clock = [], 0.0
    for row in rows:
        _check_row("trials", row, _TRIAL_CHECKS)
        number, ask, arch, fidelity, state, objective, metrics, cost, wall, started, finished, worker, error = row[:13]
        attempts, sim_start, sim_end = row[13:]
        state = TrialState(state)
        try:
            metrics = json.loads(metrics)
        except (ValueError, RecursionError):
            metrics = None
        if not isinstance(metrics, dict):
            raise _BadRow(f"trials row {number}: metrics is not a JSON object")
        if state is TrialState.COMPLETE:
            if objective is None:
                raise _BadRow(f"trials row {number}: a COMPLETE trial has no objective (NULL)")
            result = Result.complete(objective, cost=cost, metrics=metrics)
        else:
            result = Result.fail(error or "", cost=cost, metrics=metrics)
        if sim_end is None:  # written before the clock was stored: the sequential clock, a sum of costs
            sim_start, sim_end = clock, clock + cost
        clock = max(clock, sim_end)
        records.append(
            TrialRecord(
                number,
                NB201Arch.parse(arch),
                fidelity,
                result,
                wall,
                started,
                finished,
                worker,
                attempts or 1,
                sim_start,
                sim_end,
                ask,
            )  # fmt: skip
        )
    return records


def _check_config(config: Any) -> dict[str, Any]:
    """The stored configuration must be a JSON object (what each setting holds is its reader's to check)."""
    if not isinstance(config, dict):
        raise _BadRow(f"the stored configuration is a {type(config).__name__}, not a JSON object")
    return config


def _normalized(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True))


def incumbent_of(trials: list[TrialRecord]) -> TrialRecord | None:
    """The best COMPLETE trial at the highest fidelity any COMPLETE trial reached (earliest on ties).

    Objectives of different fidelities are not comparable (12- vs 200-epoch accuracy), so a multi-fidelity
    search's incumbent is its best high-fidelity trial.
    """
    best: TrialRecord | None = None
    for record in trials:
        if record.result.ok and _better(record, best):
            best = record
    return best


def _better(record: TrialRecord, best: TrialRecord | None) -> bool:
    if best is None or record.fidelity > best.fidelity:
        return True
    return record.fidelity == best.fidelity and record.result.objective > best.result.objective


@dataclass(frozen=True)
class SearchOutcome:
    """How a search ended: its trials, the simulated (or measured) clock, why it stopped, its incumbent."""

    trials: tuple[TrialRecord, ...]
    clock: float
    stopped: str
    incumbent: TrialRecord | None


class Study:
    """A search's configuration and trials, in memory or in ``<run dir>/study.db``.

    Create one with :meth:`in_memory`, :meth:`create` (a new run directory) or :meth:`resume`; run the
    search with :meth:`optimize`.
    """

    def __init__(self, storage: Storage, config: dict[str, Any], run_dir: Path | None = None) -> None:
        self.storage = storage
        self.config = config
        self.run_dir = run_dir
        self.trials: list[TrialRecord] = storage.trials()
        self.clock = 0.0
        self.incumbent: TrialRecord | None = None
        for record in self.trials:
            self._account(record)
        self._replayed = 0
        self._live_optimizer: Optimizer | None = None  # the optimizer that the asynchronous loop last ran

    # --- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def in_memory(cls, config: dict[str, Any]) -> Study:
        return cls(MemoryStorage(_normalized(config)), _normalized(config))

    @classmethod
    def create(cls, run_dir: str | Path, config: dict[str, Any], *, force: bool = False) -> Study:
        """A new study in ``run_dir``; an existing run there is an error unless ``force`` (then it is replaced)."""
        run_dir = Path(run_dir)
        if cls.check_new(run_dir, force=force):
            for name in DB_FILES:  # the study's own files only: anything else in run_dir is the user's
                (run_dir / name).unlink(missing_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        config = _normalized(config)
        return cls(SQLiteStorage(run_dir / DB_NAME, create_with=config), config, run_dir)

    @staticmethod
    def check_new(run_dir: str | Path, *, force: bool = False) -> bool:
        """Whether :meth:`create` in ``run_dir`` must first replace a study there (an error unless ``force``).

        Only the study's own files count (and only they are replaced): other files in ``run_dir`` stay.
        """
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise StudyError(f"{run_dir} is a file, not a run directory; choose another --out")
        if not any((run_dir / name).exists() for name in DB_FILES):
            return False
        if not force:
            raise StudyError(
                f"{run_dir} already holds a search; pass --resume to continue it or --force to overwrite it"
            )
        return True

    @classmethod
    def open(cls, run_dir: str | Path) -> Study:
        """An existing study as recorded (for reports and plots); its configuration comes from the database."""
        run_dir = Path(run_dir)
        path = run_dir / DB_NAME
        if not path.is_file():
            raise StudyError(f"no study in {run_dir} ({DB_NAME} missing); start one without --resume")
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
                "resume it with its own settings, choose another --out, or overwrite it with --force"
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
    ) -> SearchOutcome:
        """Run the search until ``n_iter`` trials or ``time_budget`` seconds on the clock, whichever comes first.

        Stored trials are first replayed into ``optimizer`` (a fresh one, seeded as in the original run).
        With a budget, a trial whose cost is known beforehand (benchmark lookups) and would end past the
        budget is not run, as in NB201's own search loops. An evaluator exception other than a
        :class:`~nasforge.errors.NasforgeError` (a user error, which stops the search) is recorded as a FAIL
        trial and the search goes on.

        With ``workers > 1`` or an ``executor`` the asynchronous loop of :mod:`nasforge.async_search` runs
        instead: ``workers`` trials in flight (simulated workers on a benchmark's clock), results told in
        completion order, a trial whose worker died retried up to ``max_retries`` times. One worker and no
        executor is the sequential loop below.
        """
        if n_iter is None and time_budget is None:
            raise StudyError("a search needs a stopping rule: give n_iter or time_budget")
        if workers < 1 or max_retries < 0:
            raise StudyError(f"workers must be >= 1 and max_retries >= 0, got {workers} and {max_retries}")
        if workers > 1 or executor is not None:
            from nasforge.async_search import run_async

            return run_async(self, optimizer, evaluator, executor=executor, workers=workers, n_iter=n_iter,
                             time_budget=time_budget, callback=callback, max_retries=max_retries)  # fmt: skip
        self._replay(optimizer, evaluator)
        stopped = "n_iter"
        while n_iter is None or len(self.trials) < n_iter:
            if time_budget is not None and self.clock >= time_budget:
                stopped = "time_budget"
                break
            request = optimizer.ask()
            predicted = evaluator.predicted_cost(request)
            if time_budget is not None and predicted is not None and self.clock + predicted > time_budget:
                stopped = "time_budget"
                break
            record = self._evaluate(request, evaluator)
            self.record(record)
            optimizer.tell(request, record.result)
            if callback is not None:
                callback(record, self)
        return SearchOutcome(tuple(self.trials), self.clock, stopped, self.incumbent)

    def record(self, record: TrialRecord) -> None:
        """Store a finished trial (committed before this returns) and account for it."""
        self.storage.add(record, ask_number=record.ask_number)
        self.trials.append(record)
        self._account(record)

    def _evaluate(self, request: Request, evaluator: Evaluator) -> TrialRecord:
        result, started, finished = run_evaluation(evaluator, request)
        fidelity = evaluator.default_fidelity if request.fidelity is None else request.fidelity
        return TrialRecord(len(self.trials), request.arch, fidelity, result, finished - started, started, finished,
                           sim_start=self.clock, sim_end=self.clock + result.cost)  # fmt: skip

    def _replay(self, optimizer: Optimizer, evaluator: Evaluator) -> None:
        if self._replayed == len(self.trials):
            return
        if optimizer.history or optimizer.pending:
            raise StudyError("resuming needs a fresh optimizer (one that has not been asked yet)")
        for record in self.trials:
            request = ask_as_recorded(optimizer, evaluator, f"trial {record.number}", record.arch, record.fidelity)
            optimizer.tell(request, record.result)
        self._replayed = len(self.trials)

    def _account(self, record: TrialRecord) -> None:
        # The clock is when the last result came in: with one worker, the sum of the costs.
        end = self.clock + record.result.cost if record.sim_end is None else record.sim_end
        self.clock = max(self.clock, end)
        if record.result.ok and _better(record, self.incumbent):
            self.incumbent = record


def ask_as_recorded(
    optimizer: Optimizer, evaluator: Evaluator, label: str, arch: NB201Arch, fidelity: int | None
) -> Request:
    """Ask ``optimizer`` during a replay and check it asks for what the study recorded (``label`` names it)."""
    request = optimizer.ask()
    asked = evaluator.default_fidelity if request.fidelity is None else request.fidelity
    if request.arch != arch or asked != fidelity:
        raise StudyError(
            f"stored {label} ({arch}, {fidelity} epochs) is not what the optimizer asks when replayed "
            f"({request.arch}, {asked} epochs): the study was written by another nasforge version or "
            "configuration; start a new run with --force"
        )
    return request
