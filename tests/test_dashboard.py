"""``nasforge dashboard``: optuna-dashboard served for real over the Optuna-journal mirror of a study."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nasforge.search.storage import AskRecord
from nasforge.search.study import Study
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Result, TrialRecord

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("optuna_dashboard") is None or importlib.util.find_spec("optuna") is None,
    reason="the optuna extra (optuna, optuna-dashboard) is not installed",
)

CONFIG = {
    "space": "nb201",
    "optimizer": {"name": "rs", "space": "nb201"},
    "evaluator": {"kind": "benchmark", "dataset": "cifar10", "default_fidelity": 12,
                  "objective": {"12": "valid_acc_12ep"}},
    "seed": 0,
    "n_iter": 10,
    "time_budget": None,
}  # fmt: skip
ARCHS = [NB201Arch.from_index(i) for i in (0, 1, 6111, 42, 15624, 7)]
# Hand-chosen values: trial 1 fails, trial 2 is the best.
VALUES = [71.5, None, 90.25, 80.0, 65.125]


def record(study: Study, k: int, *, ask_number: int | None = None, started: float = 1000.0) -> None:
    value = VALUES[k]
    result = Result.fail("diverged", cost=5.0) if value is None else Result.complete(value, cost=10.0 + k,
                                                                                     metrics={"test_acc": value + 1})
    study.record(TrialRecord(len(study.trials), ARCHS[k], 12, result, 0.1, started + k, started + k + 1,
                             ask_number=ask_number))  # fmt: skip


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def start(run: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-m", "nasforge.cli.main", "dashboard", str(run), "--port", "0", "--json", *extra]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stdout:  # the --json document is indented: it ends with a line "}"
        lines.append(line)
        if line.rstrip() == "}":
            break
    if not lines:
        proc.kill()
        pytest.fail(f"the dashboard did not start: {proc.stderr.read()}")
    return proc, json.loads("".join(lines))["url"]


def trials_of(url: str, n: int, timeout: float = 30.0) -> list[dict]:
    """The dashboard's trials once it shows ``n`` of them (the mirror catches up within its interval)."""
    deadline = time.monotonic() + timeout
    while True:
        trials = fetch(url + "api/studies/0?after=0")["trials"]
        if len(trials) == n or time.monotonic() > deadline:
            return trials
        time.sleep(0.2)


def attrs(trial: dict) -> dict:
    return {a["key"]: a["value"] for a in trial["user_attrs"]}


def test_dashboard_serves_a_running_study_and_follows_it(tmp_path):
    run = tmp_path / "run"
    study = Study.create(run, CONFIG)
    for k in range(3):
        record(study, k)
    proc, url = start(run, "--interval", "0.2")
    try:
        summaries = fetch(url + "api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["run"] and summaries[0]["directions"] == ["maximize"]
        trials = trials_of(url, 3)
        assert [t["state"] for t in trials] == ["Complete", "Fail", "Complete"]
        assert [t.get("values") for t in trials] == [[71.5], None, [90.25]]
        assert [attrs(t)["arch"] for t in trials] == [a.to_string() for a in ARCHS[:3]]
        assert attrs(trials[2])["test_acc"] == "91.25" and attrs(trials[2])["cost"] == "12.0"  # the API sends text
        params = {p["name"]: p["param_external_value"] for p in trials[2]["params"]}
        assert tuple(params[f"edge_{i}-{j}"] for i, j in ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))) == (
            ARCHS[2].ops
        )
        study_info = fetch(url + "api/studies/0?after=0")
        assert study_info["objective_names"] == ["valid_acc_12ep"]
        assert [t["number"] for t in study_info["best_trials"]] == [2]

        # The search goes on while the dashboard runs: a finished trial, and one in flight on a worker.
        record(study, 3)
        study.storage.add_ask(AskRecord(4, ARCHS[4], 12, told_before=4, worker=1, sim_start=50.0, started_at=2000.0))
        trials = trials_of(url, 5)
        assert [t["state"] for t in trials] == ["Complete", "Fail", "Complete", "Complete", "Running"]
        record(study, 4, ask_number=4)
        deadline = time.monotonic() + 30
        while trials[4]["state"] == "Running" and time.monotonic() < deadline:
            time.sleep(0.2)
            trials = trials_of(url, 5)
        assert trials[4]["state"] == "Complete" and trials[4]["values"] == [65.125]  # same trial, now finished
        assert attrs(trials[4])["arch"] == ARCHS[4].to_string()
    finally:
        proc.send_signal(signal.SIGTERM)  # what `kill` sends; handled like Ctrl-C
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"the dashboard did not stop on SIGTERM; its stderr: {proc.communicate()[1][-2000:]}")
        finally:
            study.close()
    assert code == 0
    # Optuna never touched nasforge's database: its tables are still exactly nasforge's.
    with sqlite3.connect(run / "study.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "trials", "asks"}
    assert (run / "optuna.journal").is_file()


def test_a_replaced_study_is_mirrored_afresh(tmp_path):
    from nasforge.integrations.optuna import StudyMirror

    run = tmp_path / "run"
    with Study.create(run, CONFIG) as study:
        for k in range(3):
            record(study, k)
    mirror = StudyMirror(run)
    assert mirror.sync() == 3
    with Study.create(run, CONFIG, force=True) as study:  # what `search --force` does
        record(study, 3)
    assert mirror.sync() == 1
    import optuna

    trials = optuna.load_study(study_name="run", storage=mirror.storage).trials
    assert [(t.value, t.user_attrs["arch"]) for t in trials] == [(80.0, ARCHS[3].to_string())]


def one_line(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasforge: error:") and text in lines[0], proc.stderr
    assert proc.stdout == ""


def dashboard(*argv: str, code: str = "pass") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    script = f"import sys; {code}; from nasforge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, "dashboard", *argv], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip


def test_a_port_in_use_is_one_line_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    with Study.create(run, CONFIG) as study:
        record(study, 0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        one_line(dashboard(str(run), "--port", str(port)), f"port {port} on 127.0.0.1 is in use")
    assert sorted(p.name for p in run.iterdir()) == ["study.db"]


def test_a_run_that_is_not_a_study_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a study")
    one_line(dashboard(str(tmp_path), "--port", "0"), "is not a nasforge study (study.db missing)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("module", ["optuna", "optuna_dashboard"])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, module):
    run = tmp_path / "run"
    with Study.create(run, CONFIG) as study:
        record(study, 0)
    proc = dashboard(str(run), "--port", "0", code=f"sys.modules[{module!r}] = None")
    one_line(proc, "pip install 'nasforge[optuna]'")
    assert sorted(p.name for p in run.iterdir()) == ["study.db"]


class ConvCount:
    """A toy evaluator: each arch scores its number of convolutions (a value known by hand for every arch)."""

    default_fidelity = 12
    simulated_clock = True

    def evaluate(self, request):
        return Result.complete(sum("conv" in op for op in request.arch.ops), cost=10.0)

    def predicted_cost(self, request):
        return 10.0

    def config(self):
        return {"kind": "toy"}


def test_a_running_search_keeps_the_journal_up_to_date_trial_by_trial(tmp_path):
    import optuna

    from nasforge.integrations.optuna import MIRROR_NAME, live_mirror
    from nasforge.optimizers import create_optimizer

    run = tmp_path / "run"
    seen = []  # after each trial: what a fresh reader of the journal finds (no dashboard running)

    with Study.create(run, CONFIG) as study:
        sync = live_mirror(run, interval=0)

        def after_trial(record, s):
            sync()
            storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(run / MIRROR_NAME)))
            trials = optuna.load_study(study_name="run", storage=storage).get_trials(deepcopy=False)
            seen.append([(t.user_attrs["arch"], t.values) for t in trials])

        outcome = study.optimize(create_optimizer("rs", 0), ConvCount(), n_iter=6, callback=after_trial)
    assert [len(s) for s in seen] == [1, 2, 3, 4, 5, 6]
    expected = [(t.arch.to_string(), [float(sum("conv" in op for op in t.arch.ops))]) for t in outcome.trials]
    assert seen[-1] == expected and seen[2] == expected[:3]


def test_a_multi_objective_study_is_mirrored_with_one_direction_per_objective(tmp_path):
    """``search --objectives``: the mirror has the study's directions and each trial's named values, in order,
    so optuna-dashboard draws the Pareto front (a single maximised value would hide it)."""
    import optuna

    from nasforge.integrations.optuna import StudyMirror

    config = {**CONFIG, "evaluator": {**CONFIG["evaluator"], "objectives": "convs:max,pools:min"}}
    run = tmp_path / "run"
    with Study.create(run, config) as study:
        for k, arch in enumerate(ARCHS[:4]):
            convs = sum("conv" in op for op in arch.ops)  # counted by hand from the arch, not by nasforge
            pools = sum("pool" in op for op in arch.ops)
            result = Result.complete(float(convs), cost=1.0, values={"convs": float(convs), "pools": float(pools)})
            study.record(TrialRecord(k, arch, 12, result, 0.1, 1000.0 + k, 1001.0 + k))
    mirror = StudyMirror(run)
    assert mirror.sync() == 4
    mirrored = optuna.load_study(study_name="run", storage=mirror.storage)
    assert mirrored.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert mirrored.metric_names == ["convs", "pools"]
    assert [t.values for t in mirrored.trials] == [
        [float(sum("conv" in op for op in a.ops)), float(sum("pool" in op for op in a.ops))] for a in ARCHS[:4]
    ]
