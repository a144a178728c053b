"""Asynchronous search: simulated workers on a benchmark clock, worker processes, faults, resume, bad input.

Ray has its own module (test_ray.py). Evaluators here are module-level classes so that spawned worker
processes can unpickle them.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _cli import run
from _optimizer_names import optimizer_params

from nasforge.errors import ConfigError
from nasforge.optimizers import create_optimizer
from nasforge.optimizers._base import Optimizer
from nasforge.search.executors import LocalExecutor, ProcessExecutor, create_executor
from nasforge.search.study import Study
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, Result

# --- evaluators -------------------------------------------------------------------------------------------------


class ConvCount:
    """Objective = 10 x (3x3 convs) + (1x1 convs); cost = 100 s per conv + 10 s (known beforehand: simulated)."""

    default_fidelity = 12
    simulated_clock = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def cost(self, arch: NB201Arch) -> float:
        return 10.0 + 100.0 * sum("conv" in op for op in arch.ops)

    def predicted_cost(self, request: Request) -> float:
        return self.cost(request.arch)

    def evaluate(self, request: Request) -> Result:
        if self.delay:
            time.sleep(self.delay)
        ops = request.arch.ops
        if ops[0] == "avg_pool_3x3":
            raise RuntimeError("simulated crash")
        value = 10.0 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1")
        return Result.complete(value, cost=self.cost(request.arch), metrics={"valid_acc": value})

    def config(self) -> dict:
        return {"kind": "toy"}


class Sleepy:
    """A "training" evaluator on the real clock: sleeps, then scores the arch by its index."""

    default_fidelity = 1
    simulated_clock = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predicted_cost(self, request: Request) -> None:
        return None

    def evaluate(self, request: Request) -> Result:
        time.sleep(self.seconds)
        return Result.complete(request.arch.index / 100, cost=self.seconds, metrics={"pid": os.getpid()})

    def config(self) -> dict:
        return {"kind": "sleepy"}


class Rendezvous(Sleepy):
    """Trials that must run at the same time: each marks its start in the folder ``meeting`` and waits until
    ``size`` trials have started, then returns at once. Concurrent trials therefore overlap however loaded the
    machine is (no sleep has to outlast a slow worker start); trials run one at a time would each wait out
    ``patience`` seconds, and say so (``metrics["met"]`` False)."""

    def __init__(self, meeting: Path, size: int = 2, patience: float = 120.0) -> None:
        super().__init__(0.0)
        self.meeting, self.size, self.patience = Path(meeting), size, patience

    def evaluate(self, request: Request) -> Result:
        (self.meeting / f"{request.arch.index}-{os.getpid()}-{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + self.patience
        while len(os.listdir(self.meeting)) < self.size and time.monotonic() < deadline:
            time.sleep(0.005)
        met = len(os.listdir(self.meeting)) >= self.size
        return Result.complete(request.arch.index / 100, cost=0.0, metrics={"pid": os.getpid(), "met": met})


class StallsAfter(Sleepy):
    """The first ``quick`` trials to start return at once; every later one blocks for ``patience`` seconds. A
    search interrupted while they block has recorded exactly ``quick`` trials, however loaded the machine is.
    Tickets are files created with O_EXCL in ``tickets``, so that of two workers starting together exactly one
    takes the last quick ticket."""

    def __init__(self, tickets: Path, quick: int, patience: float = 120.0) -> None:
        super().__init__(0.0)
        self.tickets, self.quick, self.patience = Path(tickets), quick, patience

    def evaluate(self, request: Request) -> Result:
        for k in range(self.quick):
            try:
                os.close(os.open(self.tickets / f"ticket-{k}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return super().evaluate(request)
            except FileExistsError:
                continue
        time.sleep(self.patience)
        return super().evaluate(request)


class KillsItsWorker(Sleepy):
    """Kills its own worker process (SIGKILL, as the OOM killer does) mid-trial.

    With ``always`` unset it does so once, on the first trial that finds no marker file; with ``always`` it
    kills every attempt at the arch whose index is ``always``. Every attempt is logged to ``log``.
    """

    def __init__(self, marker: Path, log: Path, *, always: int | None = None, seconds: float = 0.05) -> None:
        super().__init__(seconds)
        self.marker, self.log, self.always = Path(marker), Path(log), always

    def evaluate(self, request: Request) -> Result:
        with self.log.open("a") as f:
            f.write(f"{request.arch.index}\n")
        time.sleep(self.seconds / 2)  # in the middle of the trial
        if self.always is not None and request.arch.index == self.always:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.always is None and self._first_to_get_here(request):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(request)

    def _first_to_get_here(self, request: Request) -> bool:
        try:  # O_EXCL: of two workers getting here at once, exactly one creates the marker
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.write(fd, str(request.arch.index).encode())
        os.close(fd)
        return True


class LogsItsPid(Sleepy):
    """Writes its worker's pid to ``log`` when a trial starts."""

    def __init__(self, log: Path, seconds: float) -> None:
        super().__init__(seconds)
        self.log = Path(log)

    def evaluate(self, request: Request) -> Result:
        with self.log.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return super().evaluate(request)


def summary(trials) -> list[tuple]:
    return [
        (t.number, t.ask_number, t.arch, t.result.state, t.result.objective if t.result.ok else None, t.result.cost,
         t.worker, t.sim_start, t.sim_end, t.attempts)
        for t in trials
    ]  # fmt: skip


CONFIG = {"space": "nb201", "optimizer": "x", "seed": 3, "workers": 4}


# --- simulated workers ------------------------------------------------------------------------------------------

ARCHS = [NB201Arch.from_index(i) for i in (10, 20, 30, 40, 50)]
COSTS = dict(zip(ARCHS, [5.0, 3.0, 1.0, 4.0, 2.0]))


class Scripted(Optimizer):
    """Asks for ARCHS in order."""

    name = "scripted"

    def _ask(self) -> Request:
        return Request(ARCHS[len(self.history) + len(self.pending)])  # every request asked so far: told or pending


class CostTable:
    default_fidelity = 12
    simulated_clock = True

    def predicted_cost(self, request: Request) -> float:
        return COSTS[request.arch]

    def evaluate(self, request: Request) -> Result:
        return Result.complete(-COSTS[request.arch], cost=COSTS[request.arch])

    def config(self) -> dict:
        return {}


def test_two_simulated_workers_hand_checked():
    # Costs 5, 3, 1, 4, 2 on 2 workers. t=0: a0 -> w0 (ends 5), a1 -> w1 (ends 3). t=3: a1 done, a2 -> w1
    # (ends 4). t=4: a2 done, a3 -> w1 (ends 8). t=5: a0 done, a4 -> w0 (ends 7). Then a4 at 7, a3 at 8.
    study = Study.in_memory({})
    outcome = study.optimize(Scripted(0), CostTable(), n_iter=5, workers=2)
    got = [(ARCHS.index(t.arch), t.worker, t.sim_start, t.sim_end) for t in outcome.trials]
    assert got == [(1, 1, 0, 3), (2, 1, 3, 4), (0, 0, 0, 5), (4, 0, 5, 7), (3, 1, 4, 8)]
    assert [t.ask_number for t in outcome.trials] == [1, 2, 0, 4, 3]
    assert outcome.clock == 8.0
    # Each ask records how many results had been told before it: a2 after 1, a3 after 2, a4 after 3.
    assert [a.told_before for a in study.storage.asks()] == [0, 0, 1, 2, 3]


def test_a_kill_between_a_simulated_start_and_its_result_keeps_a_prefix_of_the_run(tmp_path):
    # On a simulated clock a start is committed with the next result (Storage.add_ask): a kill in between loses
    # that start, and what is left resumes to the uninterrupted run's trials.
    class Killed(BaseException):
        pass

    class DiesAtNinth(ConvCount):
        calls = 0

        def evaluate(self, request: Request) -> Result:
            self.calls += 1
            if self.calls == 9:
                raise Killed
            return super().evaluate(request)

    clean = Study.in_memory(CONFIG).optimize(create_optimizer("rea", 3), ConvCount(), n_iter=30, workers=3)
    with Study.create(tmp_path / "run", CONFIG) as study, pytest.raises(Killed):
        study.optimize(create_optimizer("rea", 3), DiesAtNinth(), n_iter=30, workers=3)
    with Study.resume(tmp_path / "run", CONFIG) as study:
        assert len(study.storage.asks()) == 8  # the ninth start died uncommitted with its lookup
        study.optimize(create_optimizer("rea", 3), ConvCount(), n_iter=30, workers=3)
    with Study.open(tmp_path / "run") as study:
        assert summary(study.trials) == summary(clean.trials) and len(study.storage.asks()) == 30


def test_a_budget_stops_starting_trials_that_would_end_past_it():
    # Budget 6: a3 (start 4, cost 4) would end at 8 > 6 and is not started; a0 (0-5) still finishes.
    outcome = Study.in_memory({}).optimize(Scripted(0), CostTable(), time_budget=6.0, workers=2)
    assert [ARCHS.index(t.arch) for t in outcome.trials] == [1, 2, 0]
    assert outcome.stopped == "time_budget" and outcome.clock == 5.0


@pytest.mark.parametrize("name", optimizer_params())
def test_one_worker_through_any_loop_is_the_sequential_search(name):
    sequential = Study.in_memory({}).optimize(create_optimizer(name, 3), ConvCount(), n_iter=40)
    one = Study.in_memory({}).optimize(
        create_optimizer(name, 3), ConvCount(), n_iter=40, executor=LocalExecutor(ConvCount())
    )
    assert summary(one.trials) == summary(sequential.trials)
    assert one.clock == sequential.clock


def test_k_simulated_workers_keep_k_trials_in_flight_and_finish_sooner():
    one = Study.in_memory({}).optimize(create_optimizer("rs", 0), ConvCount(), n_iter=64)
    four = Study.in_memory({}).optimize(create_optimizer("rs", 0), ConvCount(), n_iter=64, workers=4)
    # Random search asks the same archs whatever the order results come back in.
    assert {t.arch for t in four.trials} == {t.arch for t in one.trials}
    assert four.clock < one.clock / 2
    for w in range(4):  # a worker runs one trial at a time, back to back
        mine = sorted((t.sim_start, t.sim_end) for t in four.trials if t.worker == w)
        assert mine[0][0] == 0 and all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    ends = [t.sim_end for t in four.trials]
    assert ends == sorted(ends)  # told in simulated completion order
    assert all(t.sim_end == pytest.approx(t.sim_start + t.result.cost) for t in four.trials)


def test_simulated_parallel_search_is_deterministic_for_a_seed():
    a = Study.in_memory({}).optimize(create_optimizer("rea", 9), ConvCount(), n_iter=50, workers=8)
    b = Study.in_memory({}).optimize(create_optimizer("rea", 9), ConvCount(), n_iter=50, workers=8)
    assert summary(a.trials) == summary(b.trials)


@pytest.mark.parametrize("name", optimizer_params())
def test_interrupted_parallel_search_resumes_to_the_uninterrupted_trials(tmp_path, name):
    class Interrupt(Exception):
        pass

    def stop_after_17(record, study):
        if record.number == 16:
            raise Interrupt

    clean = Study.in_memory(CONFIG).optimize(create_optimizer(name, 3), ConvCount(), n_iter=60, workers=4)
    with Study.create(tmp_path / "run", CONFIG) as study, pytest.raises(Interrupt):
        study.optimize(create_optimizer(name, 3), ConvCount(), n_iter=60, workers=4, callback=stop_after_17)
    with Study.resume(tmp_path / "run", CONFIG) as study:
        running = [a for a in study.storage.asks() if a.ask_number not in {t.ask_number for t in study.trials}]
        assert len(study.trials) == 17 and len(running) == 3  # 3 trials were in flight on other workers
        study.optimize(create_optimizer(name, 3), ConvCount(), n_iter=60, workers=4)
    with Study.open(tmp_path / "run") as study:
        assert summary(study.trials) == summary(clean.trials)
        assert len(study.storage.asks()) == 60


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_parallel import CONFIG, ConvCount
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study
    run, resume = sys.argv[1], sys.argv[2] == "resume"
    study = Study.resume(run, CONFIG) if resume else Study.create(run, CONFIG)
    study.optimize(create_optimizer("tpe", 3), ConvCount(delay=float(sys.argv[3])), n_iter=50, workers=4)
    """
)


def test_kill_9_of_a_parallel_search_then_resume_loses_and_duplicates_nothing(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "new", "0.01"])
    deadline, count = time.monotonic() + 60, 0
    while count < 20 and time.monotonic() < deadline:
        time.sleep(0.002)
        try:
            with sqlite3.connect(run / "study.db", timeout=5) as db:
                count = db.execute("SELECT count(*) FROM trials").fetchone()[0]
        except sqlite3.OperationalError:
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run([sys.executable, str(script), str(run), "resume", "0"], check=True)
    clean = Study.in_memory(CONFIG).optimize(create_optimizer("tpe", 3), ConvCount(), n_iter=50, workers=4)
    with Study.open(run) as study:
        assert 20 <= count < 50
        assert summary(study.trials) == summary(clean.trials)


def test_a_study_written_before_parallel_search_still_resumes(tmp_path):
    config = {"seed": 3}
    with Study.create(tmp_path / "run", config) as study:
        study.optimize(create_optimizer("rea", 3), ConvCount(), n_iter=20)
    with sqlite3.connect(tmp_path / "run" / "study.db") as db:  # back to the first schema
        db.execute("DROP TABLE asks")
        for column in ("attempts", "sim_start", "sim_end", "objective_values", "constraints"):
            db.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        db.execute("DELETE FROM meta WHERE key='objectives'")
    with Study.resume(tmp_path / "run", config) as study:
        assert study.trials[5].sim_end == pytest.approx(sum(t.result.cost for t in study.trials[:6]))
        study.optimize(create_optimizer("rea", 3), ConvCount(), n_iter=40)
    clean = Study.in_memory(config).optimize(create_optimizer("rea", 3), ConvCount(), n_iter=40)
    with Study.open(tmp_path / "run") as study:
        assert summary(study.trials) == summary(clean.trials)


# --- worker processes -----------------------------------------------------------------------------------------


def test_process_workers_run_trials_at_the_same_time(tmp_path):
    study = Study.in_memory({})
    evaluator = Rendezvous(tmp_path)  # the first trial returns only once a second one has started
    with create_executor("process", evaluator, workers=2) as executor:
        outcome = study.optimize(create_optimizer("rs", 0), evaluator, n_iter=4, workers=2, executor=executor)
    assert sorted(t.ask_number for t in outcome.trials) == [0, 1, 2, 3]
    assert all(t.result.metrics["met"] for t in outcome.trials)
    assert {t.worker for t in outcome.trials} == {0, 1}
    pids = {t.worker: set() for t in outcome.trials}
    for t in outcome.trials:
        pids[t.worker].add(t.result.metrics["pid"])
    assert all(len(p) == 1 for p in pids.values()) and pids[0] != pids[1]  # one process per worker slot
    first = {t.worker: t for t in reversed(outcome.trials)}  # each worker's first trial
    assert first[0].started_at < first[1].finished_at and first[1].started_at < first[0].finished_at  # overlap


def test_interrupted_process_search_resumes_running_only_the_unfinished_trials(tmp_path):
    def stop_after_3(record, study):
        if record.number == 2:
            raise KeyboardInterrupt

    evaluator = Sleepy(0.1)
    with Study.create(tmp_path / "run", {}) as study, create_executor("process", evaluator, workers=2) as executor:
        with pytest.raises(KeyboardInterrupt):
            study.optimize(create_optimizer("rea", 1), evaluator, n_iter=8, workers=2, executor=executor,
                           callback=stop_after_3)  # fmt: skip
    with Study.resume(tmp_path / "run", {}) as study, create_executor("process", evaluator, workers=2) as executor:
        done = {t.ask_number for t in study.trials}
        unfinished = [a for a in study.storage.asks() if a.ask_number not in done]
        assert len(done) == 3 and len(unfinished) == 1  # the other worker's trial was running
        outcome = study.optimize(create_optimizer("rea", 1), evaluator, n_iter=8, workers=2, executor=executor)
    assert sorted(t.ask_number for t in outcome.trials) == list(range(8))  # each trial exactly once
    rerun = next(t for t in outcome.trials if t.ask_number == unfinished[0].ask_number)
    assert rerun.arch == unfinished[0].arch and rerun.number >= 3


def test_an_evaluator_that_cannot_be_pickled_is_a_user_error():
    class Local(Sleepy):  # defined in a function: worker processes cannot import it
        pass

    with pytest.raises(ConfigError, match="cannot be sent to worker processes"):
        ProcessExecutor(Local(0), 2)


# --- command line ---------------------------------------------------------------------------------------------


def one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasforge"), err
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (("--workers", "0"), "--workers: '0' is outside 1..4096"),
        (("--max-retries", "-1"), "--max-retries: '-1' is outside 0..1000"),
        (("--executor", "dask"), "invalid choice: 'dask'"),
        (("--address", "127.0.0.1:6379"), "--address joins a Ray cluster; set --executor ray or drop --address"),
        (("--executor", "ray", "--address", "nowhere"), "is not HOST:PORT"),
        (("--executor", "ray", "--address", "127.0.0.1:9"), "cannot reach a Ray cluster at 127.0.0.1:9"),
        (("--train", "--workers", "2", "--executor", "local"), "use --executor process (or ray) for --workers 2"),
    ],
)
def test_bad_parallel_options_are_one_line_errors(capsys, tmp_path, argv, pattern):
    code, _, err = run(capsys, "search", "--out", str(tmp_path / "run"), *argv)
    one_line_error(code, err, pattern)
    assert not (tmp_path / "run").exists()


def test_ray_executor_without_ray_names_the_install_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when Ray is not installed
    code, _, err = run(capsys, "search", "--out", str(tmp_path / "run"), "--executor", "ray")
    one_line_error(code, err, 'pip install "nasforge[ray]"')
    assert not (tmp_path / "run").exists()


def search(capsys, real_data_dir, out, *extra) -> tuple[int, str, str]:
    return run(capsys, "search", "--data-dir", str(real_data_dir), "--out", str(out), "--no-plots", "--json", *extra)


def trials_of(run_dir: Path) -> list[tuple]:
    query = "SELECT number, arch, fidelity, state, objective, metrics, cost FROM trials ORDER BY number"
    with sqlite3.connect(run_dir / "study.db") as db:
        return db.execute(query).fetchall()


def test_process_executor_gives_the_local_trials_on_the_benchmark(capsys, real_data_dir, tmp_path):
    common = ("--optimizer", "rea", "--n-iter", "25", "--seed", "4")
    assert search(capsys, real_data_dir, tmp_path / "local", *common)[0] == 0
    code, out, _ = search(capsys, real_data_dir, tmp_path / "process", *common, "--executor", "process")
    assert code == 0 and json.loads(out)["executor"] == "process"
    assert trials_of(tmp_path / "process") == trials_of(tmp_path / "local")


def test_simulated_workers_on_the_benchmark_and_resume_alone(capsys, real_data_dir, tmp_path):
    code, out, _ = search(capsys, real_data_dir, tmp_path / "w4", "--optimizer", "rea", "--workers", "4",
                          "--time-budget", "4000", "--seed", "2")  # fmt: skip
    four = json.loads(out)
    assert code == 0 and four["workers"] == 4 and four["clock_s"] <= 4000
    code, out, _ = search(capsys, real_data_dir, tmp_path / "w1", "--optimizer", "rea", "--time-budget", "4000",
                          "--seed", "2")  # fmt: skip
    assert four["trials"] > 2.5 * json.loads(out)["trials"]  # 4 workers run about 4 times the trials
    # --resume alone picks up every stored setting (optimizer, seed, budget, workers) and adds nothing.
    code, out, _ = search(capsys, real_data_dir, tmp_path / "w4", "--resume")
    again = json.loads(out)
    assert code == 0 and (again["optimizer"], again["seed"], again["workers"]) == ("rea", 2, 4)
    assert again["trials"] == four["trials"] and again["incumbent"] == four["incumbent"]
    code, _, err = search(capsys, real_data_dir, tmp_path / "w4", "--resume", "--seed", "3")
    one_line_error(code, err, "belongs to a different search (--seed 3 given, 2 stored)")
    code, _, err = search(capsys, real_data_dir, tmp_path / "w4", "--resume", "--workers", "2")
    one_line_error(code, err, "--workers 2 given, 4 stored")
    code, _, err = search(capsys, real_data_dir, tmp_path / "none", "--resume")
    one_line_error(code, err, "nothing to resume in")


def test_resume_alone_continues_a_cut_short_run(capsys, real_data_dir, tmp_path):
    # A killed run (only some trials stored) continued with --resume alone ends like the uninterrupted run.
    common = ("--optimizer", "ls", "--n-iter", "30", "--seed", "6", "--eval-cost-epochs", "0.5")
    assert search(capsys, real_data_dir, tmp_path / "clean", *common)[0] == 0
    assert search(capsys, real_data_dir, tmp_path / "cut", *common)[0] == 0
    with sqlite3.connect(tmp_path / "cut" / "study.db") as db:
        db.execute("DELETE FROM trials WHERE number >= 11")  # what a kill during trial 11 leaves: its start
        db.execute("DELETE FROM asks WHERE ask_number >= 12")
    assert search(capsys, real_data_dir, tmp_path / "cut", "--resume")[0] == 0
    assert trials_of(tmp_path / "cut") == trials_of(tmp_path / "clean")


def test_compare_shows_1_vs_4_simulated_workers(capsys, real_data_dir, tmp_path):
    code, out, _ = run(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rs,rea", "--seeds", "4",
                       "--datasets", "cifar10", "--time-budget", "6000", "--workers", "1,4", "--processes", "1",
                       "--out", str(tmp_path / "cmp"), "--json")  # fmt: skip
    assert code == 0
    cells = {(c["optimizer"], c["workers"]): c for c in json.loads(out)["cells"]}
    assert set(cells) == {("rs", 1), ("rea", 1), ("rs", 4), ("rea", 4)}
    for name in ("rs", "rea"):
        assert cells[(name, 4)]["mean_trials"] > 2.5 * cells[(name, 1)]["mean_trials"]
    text = (tmp_path / "cmp" / "results.md").read_text()
    assert "| workers |" in text and "| cifar10 | 6,000 | 0 | rea | 4 |" in text
    assert "--datasets cifar10 --time-budget 6000 --workers 1,4" in text
    assert (tmp_path / "cmp" / "anytime_cifar10_6000s.png").is_file()
    code, _, err = run(capsys, "compare", "--workers", "1,0", "--out", str(tmp_path / "bad"))
    one_line_error(code, err, "argument --workers: '0' is outside 1..4096")


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_parallel import Sleepy, StallsAfter
    from nasforge.search.executors import create_executor
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study
    if __name__ == "__main__":  # worker processes are spawned: they import this script again
        run, resume = sys.argv[1], sys.argv[2] == "resume"
        # the first run: 4 trials, then both workers block until Ctrl-C; the resumed run: quick trials
        evaluator = Sleepy(0.01) if resume else StallsAfter(sys.argv[3], quick=4)
        study = Study.resume(run, {{}}) if resume else Study.create(run, {{}})
        with study, create_executor("process", evaluator, workers=2) as executor:
            try:
                study.optimize(create_optimizer("tpe", 2), evaluator, n_iter=12, workers=2, executor=executor)
            except KeyboardInterrupt:
                sys.exit(130)
    """
)


def test_ctrl_c_stops_the_workers_and_resume_finishes_the_search(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(CTRL_C_SCRIPT.format(tests=str(Path(__file__).parent)))
    run, tickets = tmp_path / "run", tmp_path / "tickets"
    tickets.mkdir()
    # Its own process group, so SIGINT reaches the search and its workers as a terminal's Ctrl-C does.
    proc = subprocess.Popen([sys.executable, str(script), str(run), "new", str(tickets)], start_new_session=True)
    # No race with the search: after its 4 quick trials both workers block, so it waits for Ctrl-C.
    deadline, count = time.monotonic() + 120, 0
    while count < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
        try:
            with sqlite3.connect(run / "study.db", timeout=5) as db:
                count = db.execute("SELECT count(*) FROM trials").fetchone()[0]
        except sqlite3.OperationalError:
            pass
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    with Study.open(run) as study:
        pids = {t.result.metrics["pid"] for t in study.trials}
        stopped_at = len(study.trials)
    deadline = time.monotonic() + 30  # a worker may take a moment to be reaped once its search has gone
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)  # no worker outlives the search
    subprocess.run([sys.executable, str(script), str(run), "resume", "-"], check=True)
    with Study.open(run) as study:
        assert stopped_at == 4
        assert sorted(t.ask_number for t in study.trials) == list(range(12))  # nothing lost or counted twice
        assert len(study.storage.asks()) == 12


KILL_PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_parallel import LogsItsPid
    from nasforge.search.executors import create_executor
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study
    if __name__ == "__main__":
        run, resume, log = sys.argv[1], sys.argv[2] == "resume", sys.argv[4]
        evaluator = LogsItsPid(log, float(sys.argv[3]))
        study = Study.resume(run, {{}}) if resume else Study.create(run, {{}})
        with study, create_executor("process", evaluator, workers=2) as executor:
            study.optimize(create_optimizer("rs", 2), evaluator, n_iter=6, workers=2, executor=executor)
    """
)


def test_kill_9_of_a_search_takes_its_workers_along_and_resume_reruns_their_trials(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(KILL_PROCESS_SCRIPT.format(tests=str(Path(__file__).parent)))
    run, log = tmp_path / "run", tmp_path / "pids.log"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "new", "30", str(log)])
    deadline = time.monotonic() + 60
    while (not log.exists() or len(log.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = {int(pid) for pid in log.read_text().split()}  # both busy with a 30 s trial
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphaned workers go on training"
    with Study.open(run) as study:
        assert study.trials == [] and len(study.storage.asks()) == 2  # two trials started, none finished
        started = [a.arch for a in study.storage.asks()]
    subprocess.run([sys.executable, str(script), str(run), "resume", "0.01", str(log)], check=True)
    with Study.open(run) as study:
        assert sorted(t.ask_number for t in study.trials) == list(range(6))
        assert {t.arch for t in study.trials if t.ask_number < 2} == set(started)
