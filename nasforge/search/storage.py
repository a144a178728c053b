"""Where a study's trials are kept: in memory, or in one SQLite file that survives ``kill -9``.

:class:`SQLiteStorage` writes every trial in its own transaction (WAL journal, ``synchronous=FULL``), so a run
killed at any point loses at most the trials that were running and never leaves half a trial behind.
:class:`MemoryStorage` keeps trials in lists (``nasforge compare`` runs thousands of short searches and needs no
database). Both hold the same three things: the study's configuration, its finished trials
(:class:`~nasforge.trial.TrialRecord`) and every trial start (:class:`AskRecord`).
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from nasforge._io import is_int
from nasforge.errors import ArchError, ConfigError, StudyError
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import DEFAULT_OBJECTIVES, Objective, Result, TrialRecord, TrialState

DB_NAME = "study.db"
DB_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm")  # SQLite's write-ahead log and its index beside it
SCHEMA_VERSION = 2
"""Schema history: 1 (the first release: COMPLETE and FAIL trials, one objective; later releases of it added
``attempts``, ``sim_start``, ``sim_end`` and the ``asks`` table), 2 (PRUNED trials, named objective values,
constraints, the study's objectives in ``meta``). An older file is migrated forward when opened."""


class AskRecord(NamedTuple):
    """A trial as the loop started it: what, after how many results, where and when. (A NamedTuple: one per trial
    of millions in ``nasforge compare``, built in a fifth of a frozen dataclass's time.)"""

    ask_number: int
    arch: NB201Arch
    fidelity: int
    told_before: int  # results told to the optimizer before this ask
    worker: int
    sim_start: float  # on the study's clock
    started_at: float  # wall clock


class Storage(Protocol):
    """Where a study keeps its configuration, objectives, finished trials and trial starts."""

    def config(self) -> dict[str, Any] | None: ...

    def objectives(self) -> tuple[Objective, ...]: ...

    def trials(self) -> list[TrialRecord]: ...

    def add(self, record: TrialRecord, ask_number: int) -> None: ...

    def asks(self) -> list[AskRecord]: ...

    def add_ask(self, ask: AskRecord, *, commit: bool = True) -> None:
        """Store a trial's start; ``commit=False`` keeps it uncommitted until the next result is stored (:meth:`add`).

        The loop defers on a simulated clock, where a start is a lookup that ends before anything else happens:
        what a kill leaves is then still a prefix of the run (a lost start is asked again, identically, on resume),
        for one commit per trial instead of two. On a real clock a start commits at once (RUNNING trials show).
        """
        ...

    def close(self) -> None: ...


class MemoryStorage:
    """Trials in a list; nothing survives the process."""

    def __init__(self, config: dict[str, Any], objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES) -> None:
        self._config = config
        self._objectives = tuple(objectives)
        self._trials: list[TrialRecord] = []
        self._asks: list[AskRecord] = []

    def config(self) -> dict[str, Any]:
        return self._config

    def objectives(self) -> tuple[Objective, ...]:
        return self._objectives

    def trials(self) -> list[TrialRecord]:
        return list(self._trials)

    def add(self, record: TrialRecord, ask_number: int) -> None:
        self._trials.append(record)

    def asks(self) -> list[AskRecord]:
        return list(self._asks)

    def add_ask(self, ask: AskRecord, *, commit: bool = True) -> None:
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
    state TEXT NOT NULL CHECK (state IN ('COMPLETE', 'PRUNED', 'FAIL')),
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
    sim_end REAL,
    objective_values TEXT,
    constraints TEXT
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
# Columns and tables added to schema 1 after it first shipped: an older study.db gains them before its migration
# to schema 2 (NULL sim_start/sim_end read as "the clock summed over costs", as that nasforge computed it).
_ADDED_COLUMNS = (("attempts", "INTEGER NOT NULL DEFAULT 1"), ("sim_start", "REAL"), ("sim_end", "REAL"))
_V1_COLUMNS = (
    "number, ask_number, arch, fidelity, state, objective, metrics, cost, wall_time, started_at, finished_at, "
    "worker, error, attempts, sim_start, sim_end"
)
_TRIAL_COLUMNS = f"{_V1_COLUMNS}, objective_values, constraints"


def _statement(name: str) -> str:
    """The CREATE TABLE statement of table ``name`` in the current schema."""
    start = _SCHEMA.index(f"CREATE TABLE {name} ")
    return _SCHEMA[start : _SCHEMA.index(";", start)]


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2. Its trials' CHECK allows COMPLETE and FAIL only and SQLite cannot change a CHECK in place,
    so the table is rebuilt: rows copied unchanged, the new columns NULL (no named values, no constraints)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE trials ADD COLUMN {name} {kind}")
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='asks'").fetchone() is None:
        db.execute(_statement("asks"))
    db.execute("ALTER TABLE trials RENAME TO trials_schema1")
    db.execute(_statement("trials"))
    db.execute(f"INSERT INTO trials ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM trials_schema1")
    db.execute("DROP TABLE trials_schema1")


# version -> the step to the next one; opening an older file runs every step from its version on, in one transaction.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


class SQLiteStorage:
    """One SQLite file: a ``meta`` table (schema version, configuration, objectives), ``trials`` and ``asks``."""

    def __init__(
        self,
        path: str | Path,
        *,
        create_with: dict[str, Any] | None = None,
        objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES,
    ) -> None:
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
                    wanted = [[o.name, o.direction.value] for o in objectives]
                    self._db.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("schema_version", str(SCHEMA_VERSION)), ("config", json.dumps(create_with, sort_keys=True)),
                         ("objectives", json.dumps(wanted))],
                    )  # fmt: skip
            self._migrate(self._check())
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(exc) from None
        self._parse = _arch_parser(self.config())

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
        if not self._db.in_transaction:  # else starts written with commit=False are open: they commit with this
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check(self) -> int:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "trials"} <= tables:
            raise StudyError(
                f"{self.path} is not a nasforge study database (tables {sorted(tables)}); "
                "start a new run with --force or choose another --out"
            )
        version = dict(self._db.execute("SELECT key, value FROM meta")).get("schema_version")
        if version not in {str(v) for v in range(1, SCHEMA_VERSION + 1)}:
            raise StudyError(f"{self.path} has study schema {version}, this nasforge reads 1 to {SCHEMA_VERSION}")
        return int(version)

    def _migrate(self, version: int) -> None:
        if version == SCHEMA_VERSION:
            return
        with self._transaction():  # all steps or none: a kill mid-migration leaves the old file
            for step in range(version, SCHEMA_VERSION):
                _MIGRATIONS[step](self._db)
            self._db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))

    def objectives(self) -> tuple[Objective, ...]:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='objectives'").fetchone()
            if row is None:  # migrated from schema 1: the one objective of that release
                return DEFAULT_OBJECTIVES
            stored = json.loads(row[0]) if isinstance(row[0], str) else None
            if not (isinstance(stored, list) and stored and all(isinstance(o, list) and len(o) == 2 for o in stored)):
                raise _BadRow("the stored objectives are not a list of [name, direction] pairs")
            return tuple(Objective(name, direction) for name, direction in stored)
        except (sqlite3.DatabaseError, ValueError, RecursionError) as exc:
            raise self._corrupt(exc) from None

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
            records = _records_from_rows(rows, self._parse)
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
            json.dumps(dict(r.values), sort_keys=True) if r.values else None,
            json.dumps(dict(r.constraints), sort_keys=True) if r.constraints else None,
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
            return [AskRecord(a, self._parse(arch), *rest) for a, arch, *rest in rows]
        except (sqlite3.DatabaseError, ArchError, ValueError) as exc:
            raise self._corrupt(exc) from None

    def add_ask(self, ask: AskRecord, *, commit: bool = True) -> None:
        row = (ask.ask_number, ask.arch.to_string(), ask.fidelity, ask.told_before, ask.worker, ask.sim_start,
               ask.started_at)  # fmt: skip
        try:
            if commit:
                with self._transaction():
                    self._db.execute("INSERT INTO asks VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            else:  # committed with the next result (Storage.add_ask)
                if not self._db.in_transaction:
                    self._db.execute("BEGIN IMMEDIATE")
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
    "state": (lambda v: v in {"COMPLETE", "PRUNED", "FAIL"}, "COMPLETE, PRUNED or FAIL"),
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
    "objective_values": (lambda v: v is None or isinstance(v, str), "a JSON object or NULL"),
    "constraints": (lambda v: v is None or isinstance(v, str), "a JSON object or NULL"),
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


def _arch_parser(config: dict[str, Any] | None) -> Callable[[str], Any]:
    """The parser of the study's space (its configuration's ``space``; NB201 for a study that records none)."""
    from nasforge.spaces.registry import arch_parser

    space = (config or {}).get("space", "nb201")
    try:
        return arch_parser(space)
    except (ConfigError, TypeError) as exc:
        raise StudyError(f"the study records space {space!r:.40}, which this nasforge cannot search ({exc})") from None


def _records_from_rows(rows: list[tuple], parse: Callable[[str], Any] = NB201Arch.parse) -> list[TrialRecord]:
    records, clock = [], 0.0
    for row in rows:
        _check_row("trials", row, _TRIAL_CHECKS)
        number, ask, arch, fidelity, state, objective, metrics, cost, wall, started, finished, worker, error = row[:13]
        attempts, sim_start, sim_end, values, constraints = row[13:]
        state = TrialState(state)
        metrics = _json_object(metrics, number, "metrics")
        values = _json_object(values, number, "objective_values", numbers=True)
        constraints = _json_object(constraints, number, "constraints", numbers=True)
        if state is TrialState.COMPLETE:
            if objective is None:
                raise _BadRow(f"trials row {number}: a COMPLETE trial has no objective (NULL)")
            result = Result.complete(objective, cost=cost, metrics=metrics, values=values, constraints=constraints)
        elif state is TrialState.PRUNED:
            result = Result.pruned(error or "", cost=cost, metrics=metrics)
        else:
            result = Result.fail(error or "", cost=cost, metrics=metrics)
        if sim_end is None:  # written before the clock was stored: the sequential clock, a sum of costs
            sim_start, sim_end = clock, clock + cost
        clock = max(clock, sim_end)
        records.append(
            TrialRecord(
                number,
                parse(arch),
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


def _json_object(text: str | None, number: int, column: str, *, numbers: bool = False) -> dict[str, Any]:
    """A trial's JSON-object column (NULL: empty); with ``numbers`` every value must be a finite number."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict) or (numbers and not all(_is_real(v) for v in value.values())):
        raise _BadRow(f"trials row {number}: {column} is not a JSON object{' of numbers' if numbers else ''}")
    return value


def _check_config(config: Any) -> dict[str, Any]:
    """The stored configuration must be a JSON object (what each setting holds is its reader's to check)."""
    if not isinstance(config, dict):
        raise _BadRow(f"the stored configuration is a {type(config).__name__}, not a JSON object")
    return config


