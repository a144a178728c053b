"""Studies: SQLite persistence, resume by replay (also after kill -9), refusal of foreign or corrupted runs."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nasforge.errors import ConfigError, StudyError, TrainingDivergedError
from nasforge.optimizers import create_optimizer, list_optimizers
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


@pytest.mark.parametrize("name", list_optimizers())
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
    with pytest.raises(StudyError, match="--resume .* or --force"):
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
