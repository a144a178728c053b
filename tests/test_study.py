"""Studies: SQLite persistence, resume by replay (also after kill -9), refusal of foreign or corrupted runs."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _optimizer_names import optimizer_params

from nasforge.errors import ConfigError, StudyError, TrainingDivergedError
from nasforge.optimizers import create_optimizer
from nasforge.search.study import Study, incumbent_of
from nasforge.trial import Result, TrialState


class ToyEvaluator:
    """Objective = 10 x (number of 3x3 convolutions) + number of 1x1 ones; cost = 100 s per conv + 10 s.

    Archs with an avg_pool on edge 0->1 raise RuntimeError, those with skip on every edge diverge.
    """

    default_fidelity = 12

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def cost(self, arch) -> float:
        return 10.0 + 100.0 * sum("conv" in op for op in arch.ops)

    def predicted_cost(self, request) -> float:
        return self.cost(request.arch)

    def evaluate(self, request) -> Result:
        if self.delay:
            time.sleep(self.delay)
        ops = request.arch.ops
        if ops[0] == "avg_pool_3x3":
            raise RuntimeError("simulated crash")
        if all(op == "skip_connect" for op in ops):
            raise TrainingDivergedError("loss is nan")
        value = 10.0 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1")
        return Result.complete(value, cost=self.cost(request.arch), metrics={"valid_acc": value})

    def config(self) -> dict:
        return {"kind": "toy"}


CONFIG = {"space": "nb201", "optimizer": "rea", "seed": 3, "n_iter": 60}


def summary(trials) -> list[tuple]:
    """What must be identical between runs (NaN objectives of FAIL trials shown as None, so == works)."""
    return [
        (t.number, t.arch, t.fidelity, t.result.state, t.result.objective if t.result.ok else None, t.result.cost)
        for t in trials
    ]


def uninterrupted(name: str = "rea", seed: int = 3, n_iter: int = 60, **kw) -> list[tuple]:
    study = Study.in_memory(CONFIG)
    study.optimize(create_optimizer(name, seed), ToyEvaluator(), n_iter=n_iter, **kw)
    return summary(study.trials)


# --- the loop ---------------------------------------------------------------------------------------------------


def test_clock_incumbent_and_failures_are_accounted():
    study, evaluator = Study.in_memory(CONFIG), ToyEvaluator()
    outcome = study.optimize(create_optimizer("rs", 0), evaluator, n_iter=200)
    assert len(outcome.trials) == 200 and outcome.stopped == "n_iter"
    expected_clock = sum(10.0 + 100.0 * sum("conv" in op for op in t.arch.ops) for t in outcome.trials if t.result.ok)
    crashed = [t for t in outcome.trials if t.arch.ops[0] == "avg_pool_3x3"]
    assert crashed and all(t.result.state is TrialState.FAIL for t in crashed)
    assert all(t.result.error == "RuntimeError: simulated crash" for t in crashed)
    assert outcome.clock == pytest.approx(expected_clock + sum(evaluator.cost(t.arch) for t in crashed))
    best = max((t for t in outcome.trials if t.result.ok), key=lambda t: t.result.objective)
    assert outcome.incumbent.result.objective == best.result.objective


def test_diverged_training_is_a_fail_and_the_search_goes_on():
    class DivergesOnce(ToyEvaluator):
        calls = 0

        def evaluate(self, request):
            self.calls += 1
            if self.calls == 1:
                raise TrainingDivergedError("loss is nan at step 3")
            return super().evaluate(request)

    outcome = Study.in_memory(CONFIG).optimize(create_optimizer("rs", 0), DivergesOnce(), n_iter=3)
    assert outcome.trials[0].result.state is TrialState.FAIL
    assert outcome.trials[0].result.error == "TrainingDivergedError: loss is nan at step 3"
    assert [t.result.ok for t in outcome.trials[1:]] == [True, True]


def test_user_errors_from_the_evaluator_stop_the_search():
    class Broken(ToyEvaluator):
        def evaluate(self, request):
            raise ConfigError("no data directory given: pass --data-dir")

    with pytest.raises(ConfigError):
        Study.in_memory(CONFIG).optimize(create_optimizer("rs", 0), Broken(), n_iter=3)


def test_time_budget_never_starts_a_trial_that_would_overrun():
    evaluator = ToyEvaluator()
    study = Study.in_memory(CONFIG)
    opt = create_optimizer("rs", 1)
    outcome = study.optimize(opt, evaluator, time_budget=2000.0)
    assert outcome.stopped == "time_budget"
    assert outcome.clock <= 2000.0
    # The request the loop declined (still pending) would have ended past the budget.
    (declined,) = opt.pending
    assert outcome.clock + evaluator.cost(declined.arch) > 2000.0


def test_incumbent_prefers_the_highest_fidelity():
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.trial import TrialRecord

    a, b = NB201Arch.from_index(1), NB201Arch.from_index(2)
    low = TrialRecord(0, a, 12, Result.complete(99.0))
    high = TrialRecord(1, b, 200, Result.complete(50.0))
    failed = TrialRecord(2, a, 200, Result.fail("x"))
    assert incumbent_of([low, high, failed]) is high
    assert incumbent_of([failed]) is None


# --- SQLite, resume ---------------------------------------------------------------------------------------------


def test_trials_are_in_the_database_as_they_finish(tmp_path):
    seen = []

    def check_db(record, study):
        with sqlite3.connect(tmp_path / "run" / "study.db") as db:  # another connection sees the committed row
            seen.append(db.execute("SELECT count(*) FROM trials").fetchone()[0])

    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=20, callback=check_db)
    assert seen == list(range(1, 21))
    with Study.open(tmp_path / "run") as reopened:
        assert summary(reopened.trials) == uninterrupted(n_iter=20)
        assert reopened.trials[0].started_at <= reopened.trials[0].finished_at
        mode = sqlite3.connect(tmp_path / "run" / "study.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


@pytest.mark.parametrize("name", optimizer_params())
def test_resume_after_interruption_gives_the_uninterrupted_trials(tmp_path, name):
    class Interrupt(Exception):
        pass

    def stop_after_17(record, study):
        if record.number == 16:
            raise Interrupt

    with Study.create(tmp_path / "run", CONFIG) as study, pytest.raises(Interrupt):
        study.optimize(create_optimizer(name, 3), ToyEvaluator(), n_iter=60, callback=stop_after_17)
    with Study.resume(tmp_path / "run", CONFIG) as study:
        assert len(study.trials) == 17
        study.optimize(create_optimizer(name, 3), ToyEvaluator(), n_iter=60)
    with Study.open(tmp_path / "run") as study:
        assert summary(study.trials) == uninterrupted(name)


def test_resume_of_a_finished_run_adds_nothing(tmp_path):
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=60)
    with Study.resume(tmp_path / "run", CONFIG) as study:
        outcome = study.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=60)
    assert summary(outcome.trials) == uninterrupted()


def test_replay_with_another_optimizer_is_refused(tmp_path):
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=5)
    with Study.resume(tmp_path / "run", CONFIG) as study, pytest.raises(StudyError, match="stored trial 0"):
        study.optimize(create_optimizer("rea", 4), ToyEvaluator(), n_iter=10)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_study import CONFIG, ToyEvaluator
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study
    run, resume = sys.argv[1], sys.argv[2] == "resume"
    study = Study.resume(run, CONFIG) if resume else Study.create(run, CONFIG)
    study.optimize(create_optimizer("rea", 3), ToyEvaluator(delay=float(sys.argv[3])), n_iter=60)
    """
)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the schema is not written yet


@pytest.mark.parametrize("kill_after", [1, 23])
def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path, kill_after):
    script = tmp_path / "search.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "new", "0.01"])
    deadline = time.monotonic() + 60
    while _count(run / "study.db") < kill_after and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count(run / "study.db")
    assert kill_after <= killed_at < 60, "the run must be killed mid-search"
    subprocess.run([sys.executable, str(script), str(run), "resume", "0"], check=True)
    with Study.open(run) as study:
        assert summary(study.trials) == uninterrupted()


# --- refusing what is not ours ----------------------------------------------------------------------------------


def test_an_existing_run_is_kept_unless_forced(tmp_path):
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rs", 0), ToyEvaluator(), n_iter=3)
    with pytest.raises(StudyError, match=r"resume it \(Study.resume\) or replace it \(force=True\)"):
        Study.create(tmp_path / "run", CONFIG)
    with Study.open(tmp_path / "run") as study:
        assert len(study.trials) == 3
    with Study.create(tmp_path / "run", CONFIG, force=True) as study:
        assert study.trials == []


def test_a_foreign_file_is_never_removed_even_with_force(tmp_path):
    # issue 11: `search --out R --force` once deleted all of R, a user's notes included.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with Study.create(tmp_path / "mine", CONFIG) as study:  # a new study beside the user's files
        study.optimize(create_optimizer("rs", 0), ToyEvaluator(), n_iter=3)
    with Study.create(tmp_path / "mine", CONFIG, force=True) as study:
        assert study.trials == []
    assert sorted(p.name for p in (tmp_path / "mine").iterdir() if not p.name.startswith("study.db")) == ["thesis.tex"]
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_a_file_is_not_a_run_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StudyError, match="is a file"):
        Study.create(tmp_path / "f", CONFIG, force=True)
    assert (tmp_path / "f").read_text() == "x"


def test_resume_into_another_configuration_is_refused(tmp_path):
    Study.create(tmp_path / "run", CONFIG).close()
    other = {**CONFIG, "optimizer": "rs"}
    with pytest.raises(StudyError, match="different search .*optimizer: 'rea' there, 'rs' now"):
        Study.resume(tmp_path / "run", other)


def test_resume_without_a_study_says_so(tmp_path):
    with pytest.raises(StudyError, match="no study in"):
        Study.resume(tmp_path / "nothing", CONFIG)


@pytest.mark.parametrize(
    "damage",
    [
        lambda db: db.write_bytes(b"this is not a database at all" * 100),
        lambda db: db.write_bytes(db.read_bytes()[:100] + b"\0garbage" * 512),
        lambda db: _foreign_sqlite(db),
    ],
    ids=["garbage", "mangled-pages", "foreign-sqlite"],
)
def test_a_corrupted_database_is_a_study_error(tmp_path, damage):
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rs", 0), ToyEvaluator(), n_iter=5)
    for side in ("study.db-wal", "study.db-shm"):
        (tmp_path / "run" / side).unlink(missing_ok=True)
    damage(tmp_path / "run" / "study.db")
    with pytest.raises(StudyError, match="corrupted|not a nasforge study"):
        Study.resume(tmp_path / "run", CONFIG)


def test_an_empty_study_file_is_refused_and_left_as_it_was(tmp_path):
    # sqlite3.connect would make a fresh 4 KB database of it, and the refusal would have changed the user's file.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "study.db").write_bytes(b"")
    with pytest.raises(StudyError, match="corrupted"):
        Study.open(tmp_path / "run")
    assert (tmp_path / "run" / "study.db").read_bytes() == b""
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["study.db"]


def _foreign_sqlite(db: Path) -> None:
    db.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")


# --- schema 1 -> 2: a study written by the first releases still resumes ------------------------------------------

# The exact DDL of schema 1 as the first release wrote it (no attempts / sim_start / sim_end, no asks table), and
# the later schema-1 additions; rows are inserted as that release did (one per trial, sequential clock).
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    number INTEGER PRIMARY KEY, ask_number INTEGER NOT NULL, arch TEXT NOT NULL, fidelity INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('COMPLETE', 'FAIL')), objective REAL, metrics TEXT NOT NULL,
    cost REAL NOT NULL, wall_time REAL NOT NULL, started_at REAL NOT NULL, finished_at REAL NOT NULL,
    worker INTEGER NOT NULL, error TEXT
);
"""
SCHEMA_1_LATER = """
ALTER TABLE trials ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE trials ADD COLUMN sim_start REAL;
ALTER TABLE trials ADD COLUMN sim_end REAL;
CREATE TABLE asks (ask_number INTEGER PRIMARY KEY, arch TEXT NOT NULL, fidelity INTEGER NOT NULL,
    told_before INTEGER NOT NULL, worker INTEGER NOT NULL, sim_start REAL NOT NULL, started_at REAL NOT NULL);
"""


def _write_schema_1(path: Path, trials: list, *, later: bool) -> None:
    import json

    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1 + (SCHEMA_1_LATER if later else ""))
        db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("config", json.dumps(CONFIG))])
        for t in trials:
            r = t.result
            db.execute(
                "INSERT INTO trials (number, ask_number, arch, fidelity, state, objective, metrics, cost, wall_time, "
                "started_at, finished_at, worker, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0.01, 1.0, 1.01, 0, ?)",
                (t.number, t.number, t.arch.to_string(), t.fidelity, r.state.value, r.objective if r.ok else None,
                 json.dumps(dict(r.metrics)), r.cost, r.error),
            )  # fmt: skip


@pytest.mark.parametrize("later", [False, True], ids=["first-release", "later-schema-1"])
def test_a_schema_1_study_is_migrated_and_resumes_to_the_uninterrupted_trials(tmp_path, later):
    first = Study.in_memory(CONFIG)
    first.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=25)
    (tmp_path / "run").mkdir()
    _write_schema_1(tmp_path / "run" / "study.db", first.trials, later=later)
    with Study.resume(tmp_path / "run", CONFIG) as study:
        # The clock of a schema-1 trial is the sum of the costs before it (the sequential clock).
        assert study.trials[9].sim_end == pytest.approx(sum(t.result.cost for t in first.trials[:10]))
        study.optimize(create_optimizer("rea", 3), ToyEvaluator(), n_iter=60)
    with sqlite3.connect(tmp_path / "run" / "study.db") as db:
        assert dict(db.execute("SELECT key, value FROM meta"))["schema_version"] == "2"
        assert {"objective_values", "constraints"} <= {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    with Study.open(tmp_path / "run") as study:
        assert summary(study.trials) == uninterrupted()
        assert [o.name for o in study.objectives] == ["objective"]


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path):
    Study.create(tmp_path / "run", CONFIG).close()
    with sqlite3.connect(tmp_path / "run" / "study.db") as db:
        db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    with pytest.raises(StudyError, match="has study schema 3, this nasforge reads 1 to 2"):
        Study.open(tmp_path / "run")


# --- many objectives -------------------------------------------------------------------------------------------


def _record(study: Study, number: int, arch_index: int, result: Result, fidelity: int = 12) -> None:
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.trial import TrialRecord

    study.record(TrialRecord(number, NB201Arch.from_index(arch_index), fidelity, result))


def test_best_trials_is_the_hand_checked_pareto_front_and_persists_with_pruned_trials(tmp_path):
    from nasforge.trial import Objective

    objectives = (Objective("valid_acc"), Objective("params", "minimize"))
    points = [(90.0, 1.0), (92.0, 1.5), (91.0, 1.5), (89.0, 0.5), (92.0, 2.0), (95.0, 3.0)]
    # Hand-checked: (91, 1.5) is dominated by (92, 1.5); (92, 2.0) by (92, 1.5); the others trade accuracy for size.
    with Study.create(tmp_path / "run", CONFIG, objectives=objectives) as study:
        for i, (acc, params) in enumerate(points):
            _record(study, i, i, Result.complete(acc, values={"valid_acc": acc}, metrics={"params": params}))
        _record(study, 6, 6, Result.complete(99.0, values={"valid_acc": 99.0}, metrics={"params": 0.1},
                                             constraints={"latency_ms": 3.0}))  # infeasible: never on the front
        _record(study, 7, 7, Result.pruned("stopped at epoch 3", cost=5.0))
    with Study.open(tmp_path / "run") as study:
        assert study.objectives == objectives
        assert [t.number for t in study.best_trials()] == [0, 1, 3, 5]
        # The best feasible scalar: trial 6 (99.0) violates its constraint and never becomes the incumbent.
        assert study.best_trial.number == 5
        pruned = study.trials[7].result
        assert pruned.state is TrialState.PRUNED and pruned.error == "stopped at epoch 3" and pruned.cost == 5.0
        assert study.trials[6].result.constraints == {"latency_ms": 3.0} and not study.trials[6].result.feasible


def test_single_objective_best_trials_are_the_ties_of_the_best():
    study = Study.in_memory(CONFIG)
    for i, value in enumerate([3.0, 7.0, 5.0, 7.0]):
        _record(study, i, i, Result.complete(value))
    assert [t.number for t in study.best_trials()] == [1, 3] and study.best_trial.number == 1


def test_trials_table_has_one_row_per_trial_with_objectives_as_columns(tmp_path):
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rs", 0), ToyEvaluator(), n_iter=4)
        rows = study.trials_table()
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    for row, t in zip(rows, study.trials, strict=True):
        ops = t.arch.ops
        expected = 10.0 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1")  # ToyEvaluator's rule, by hand
        if row["state"] == "COMPLETE":
            assert row["objective"] == expected and row["metric:valid_acc"] == expected
        else:  # ToyEvaluator fails archs with an avg_pool on edge 0: no objective
            assert ops[0] == "avg_pool_3x3" and math.isnan(row["objective"])
        assert row["cost"] == 10.0 + 100.0 * sum("conv" in op for op in ops)
        assert row["index"] == t.arch.index and row["arch"] == t.arch.to_string()
