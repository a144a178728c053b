"""``nasforge search`` and ``nasforge compare`` end to end on the real NB201 table."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from _cli import run


@pytest.fixture(scope="module")
def c10_test(nb201_csv) -> dict[str, float]:
    with gzip.open(nb201_csv, "rt") as f:
        return {row["arch_str"]: float(row["c10_test_acc_200"]) for row in csv.DictReader(f)}


def search(capsys, real_data_dir, out, *extra) -> tuple[int, str, str]:
    return run(capsys, "search", "--data-dir", str(real_data_dir), "--out", str(out), "--no-plots", *extra)


def one_line_error(capsys, code: int, err: str, pattern: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nasforge: error:"), err
    assert pattern in lines[0]


def test_search_summary_reports_rank_and_regret_from_the_benchmark(capsys, real_data_dir, tmp_path, c10_test):
    code, out, _ = search(capsys, real_data_dir, tmp_path / "run", "--optimizer", "rs", "--n-iter", "30", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["trials"] == 30 and summary["stopped"] == "n_iter"
    inc = summary["incumbent"]
    test = c10_test[inc["arch"]]
    assert inc["test_acc"] == pytest.approx(test, abs=1e-4)
    assert inc["rank_by_test"] == 1 + sum(v > test for v in c10_test.values())
    assert inc["regret"] == pytest.approx(94.373333 - test, abs=1e-4)
    with sqlite3.connect(tmp_path / "run" / "study.db") as db:
        rows = db.execute("SELECT arch, objective, state FROM trials ORDER BY number").fetchall()
    assert len(rows) == 30 and all(state == "COMPLETE" for _, _, state in rows)
    assert inc["valid_acc"] == max(objective for _, objective, _ in rows)


def test_time_budget_and_plots(capsys, real_data_dir, tmp_path):
    code, out, _ = run(capsys, "search", "--data-dir", str(real_data_dir), "--out", str(tmp_path / "r"),
                       "--optimizer", "rea", "--time-budget", "3000", "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["stopped"] == "time_budget" and summary["clock_s"] <= 3000
    for name in ("incumbent.png", "params_vs_accuracy.png"):
        assert (tmp_path / "r" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_training_mode_trains_and_records_each_arch(capsys, real_data_dir, tmp_path):
    pytest.importorskip("torch")
    code, out, _ = search(capsys, real_data_dir, tmp_path / "t", "--train", "--n-iter", "1", "--epochs", "1",
                          "--train-fraction", "0.002", "--valid-fraction", "0.01", "--device", "cpu",
                          "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["mode"] == "train" and summary["trials"] == 1
    assert "test_acc" not in summary["incumbent"]  # no benchmark: no test accuracy, rank or regret
    with sqlite3.connect(tmp_path / "t" / "study.db") as db:
        rows = db.execute("SELECT fidelity, state, cost, wall_time, metrics FROM trials").fetchall()
    for fidelity, state, cost, wall, metrics in rows:
        assert (fidelity, state) == (1, "COMPLETE")
        assert 0 < cost <= wall  # training seconds, measured inside the trial's wall time
        assert json.loads(metrics)["params"] > 0


def test_existing_run_needs_resume_or_force(capsys, real_data_dir, tmp_path):
    assert search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5")[0] == 0
    code, _, err = search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5")
    one_line_error(capsys, code, err, "continue it with --resume, replace it with --force")
    assert search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5", "--force")[0] == 0
    code, out, _ = search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5", "--resume", "--json")
    assert code == 0 and json.loads(out)["trials"] == 5


def test_resume_into_another_configuration_is_one_line(capsys, real_data_dir, tmp_path):
    assert search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5")[0] == 0
    code, _, err = search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5", "--optimizer", "rea", "--resume")
    one_line_error(capsys, code, err, "belongs to a different search")


def test_corrupted_database_is_one_line(capsys, real_data_dir, tmp_path):
    assert search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5")[0] == 0
    for name in ("study.db-wal", "study.db-shm"):
        (tmp_path / "run" / name).unlink(missing_ok=True)
    (tmp_path / "run" / "study.db").write_bytes(b"\x00" * 4096 + b"junk")
    code, _, err = search(capsys, real_data_dir, tmp_path / "run", "--n-iter", "5", "--resume")
    one_line_error(capsys, code, err, "corrupted")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (("--optimizer", "bogus"), "unknown optimizer 'bogus'; known optimizers: bananas, hb, ls, mols, morea, "),
        (("--space", "darts-xl"), "unknown search space 'darts-xl'"),
        (("--benchmark", "mnist"), "unknown benchmark dataset 'mnist'"),
    ],
)
def test_bad_names_are_one_line_errors(capsys, tmp_path, args, pattern):
    code, _, err = run(capsys, "search", "--out", str(tmp_path / "run"), *args)
    one_line_error(capsys, code, err, pattern)
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("budget", ["0", "-5", "nan"])
def test_nonpositive_budget_is_rejected(tmp_path, budget):
    proc = subprocess.run(
        [sys.executable, "-m", "nasforge.cli.main", "search", "--time-budget", budget, "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "--time-budget: " in proc.stderr and "is outside (0, 1e+09]" in proc.stderr


def test_kill_9_mid_search_then_resume_ends_with_the_uninterrupted_trials(real_data_dir, tmp_path):
    import fcntl

    base = [sys.executable, "-m", "nasforge.cli.main", "search", "--data-dir", str(real_data_dir), "--no-plots",
            "--optimizer", "rea", "--n-iter", "400", "--seed", "5"]  # fmt: skip
    killed = tmp_path / "killed"
    # The kill follows an event, the search's progress line of trial 40 (one per trial off a terminal), not a poll.
    # Its stderr is a pipe of one page: a search more than ~40 unread lines ahead blocks in its next write, so
    # however late this process runs, the kill lands before trial 400 (a poll of study.db raced on a busy machine).
    read_end, write_end = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([*base, "--out", str(killed)], stderr=write_end, stdout=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as progress:
        seen = b""
        while b"rea search: 40/400 trials" not in seen:
            seen = progress.readline()
            if not seen:  # the search ended (or failed) without reaching trial 40
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert b"rea search: 40/400 trials" in seen, "the search ended before its 40th trial"
    with sqlite3.connect(killed / "study.db") as db:
        at_kill = db.execute("SELECT count(*) FROM trials").fetchone()[0]
    assert 40 <= at_kill < 400
    subprocess.run([*base, "--out", str(killed), "--resume"], check=True, capture_output=True)
    subprocess.run([*base, "--out", str(tmp_path / "clean")], check=True, capture_output=True)
    query = "SELECT number, arch, fidelity, state, objective, metrics, cost FROM trials ORDER BY number"
    with sqlite3.connect(killed / "study.db") as a, sqlite3.connect(tmp_path / "clean" / "study.db") as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_compare_writes_table_json_and_anytime_plots(capsys, real_data_dir, tmp_path):
    report = tmp_path / "docs" / "results.md"
    code, out, _ = run(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rs,rea", "--seeds", "6",
                       "--datasets", "cifar10,cifar100", "--time-budget", "6000,8000", "--processes", "2",
                       "--out", str(tmp_path / "cmp"), "--report", str(report), "--json")  # fmt: skip
    assert code == 0
    payload = json.loads(out)
    cells = {(c["optimizer"], c["dataset"]): c for c in payload["cells"]}
    assert set(cells) == {("rs", "cifar10"), ("rea", "cifar10"), ("rs", "cifar100"), ("rea", "cifar100")}
    full = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    for cell in full["cells"]:
        assert len(cell["final_test"]) == 6
        assert cell["mean"] == pytest.approx(sum(cell["final_test"]) / 6)
    text = report.read_text()
    assert "![anytime_cifar10_6000s](../cmp/anytime_cifar10_6000s.png)" in text  # relative to the report
    assert "![anytime_cifar10_6000s](anytime_cifar10_6000s.png)" in (tmp_path / "cmp" / "results.md").read_text()
    assert "nasforge compare --optimizers rs,rea --seeds 6 --datasets cifar10,cifar100 --time-budget 6000,8000" in text
    assert "| cifar100 | 8,000 | 0 | rea |" in text
    assert (tmp_path / "cmp" / "anytime_cifar10_6000s.png").is_file()
    code, _, err = run(capsys, "compare", "--data-dir", str(real_data_dir), "--seeds", "2", "--out",
                       str(tmp_path / "cmp"))  # fmt: skip
    one_line_error(capsys, code, err, "already holds a comparison")


def test_compare_charges_the_validation_pass_when_asked(capsys, real_data_dir, tmp_path):
    code, out, _ = run(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rs", "--seeds", "5",
                       "--datasets", "cifar10,cifar10", "--time-budget", "12000", "--eval-cost-epochs", "0,6",
                       "--out", str(tmp_path / "cmp"), "--json")  # fmt: skip
    assert code == 0
    plain, charged = json.loads(out)["cells"]
    assert charged["eval_cost_epochs"] == 6
    # 18 instead of 12 epochs per trial: about two thirds as many trials in the same budget
    assert charged["mean_trials"] == pytest.approx(plain["mean_trials"] * 12 / 18, rel=0.1)
    text = (tmp_path / "cmp" / "results.md").read_text()
    assert "--eval-cost-epochs 0,6" in text and "| cifar10 | 12,000 | 6 | rs |" in text


def test_compare_single_process_equals_multi_process(real_data_dir):
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.search.compare import Setting, compare

    tables = {"cifar10": LookupTables.from_store(load_nb201(real_data_dir), "cifar10")}
    settings = [Setting("cifar10", 5000.0)]
    one = compare(tables, ["ls", "tpe"], settings, range(4), workers=1)
    two = compare(tables, ["ls", "tpe"], settings, range(4), workers=2)
    for a, b in zip(one.rows, two.rows):
        assert a.final_test.tolist() == b.final_test.tolist()


def test_compare_bad_budget_list_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "--datasets", "cifar10,cifar100", "--time-budget", "1,2,3",
                       "--out", str(tmp_path / "c"))  # fmt: skip
    one_line_error(capsys, code, err, "3 values for 2 datasets")
    code, _, err = run(capsys, "compare", "--datasets", "cifar10", "--time-budget", "-4", "--out", str(tmp_path / "c"))
    assert code == 2 and err.count("\n") == 1 and "--time-budget: '-4' is outside (0, 1e+09]" in err


def test_compare_budget_that_can_end_a_search_before_its_first_trial_is_one_line(capsys, real_data_dir, tmp_path):
    code, out, err = run(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea", "--seeds", "1",
                         "--datasets", "cifar10", "--time-budget", "10", "--out", str(tmp_path / "c33"))  # fmt: skip
    one_line_error(capsys, code, err, "a search of 10 s on cifar10 can end before its first trial: the costliest arch "
                                      "costs ")  # fmt: skip
    assert "give --time-budget >= " in err and out == "" and not (tmp_path / "c33").exists()
    # the validation charge is part of the first trial, and a fractional budget is printed as given
    code, _, err = run(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea", "--seeds", "1",
                       "--datasets", "cifar10", "--time-budget", "207.7", "--eval-cost-epochs", "1",
                       "--out", str(tmp_path / "c33"))  # fmt: skip
    one_line_error(capsys, code, err, "a search of 207.7 s on cifar10 can end before its first trial")
    # the multi-objective rows share the check (a seed without a trial would score regret 1)
    code, _, err = run(capsys, "compare", "--data-dir", str(real_data_dir), "--objectives",
                       "valid_acc_12ep:max,params:min", "--optimizers", "rs", "--seeds", "1", "--datasets", "cifar100",
                       "--time-budget", "100", "--out", str(tmp_path / "c33"))  # fmt: skip
    one_line_error(capsys, code, err, "a search of 100 s on cifar100 can end before its first trial: the costliest "
                                      "arch costs 415.3 s (12 epochs); give --time-budget >= 415.3")  # fmt: skip
    assert not (tmp_path / "c33").exists()


def test_search_refuses_a_budget_below_its_first_trial_as_compare_does(capsys, real_data_dir, tmp_path):
    # NB201's costliest arch trains 12 epochs on cifar10-valid in 207.65 s (compare's message above); a search of
    # 100 s could end with no trial (before: it ran, and wrote a study whose summary said "no incumbent")
    for extra, budget in (((), "100"), (("--eval-cost-epochs", "1"), "207.7")):
        code, out, err = search(capsys, real_data_dir, tmp_path / "s", "--optimizer", "rea", "--time-budget", budget,
                                *extra)  # fmt: skip
        one_line_error(capsys, code, err, f"a search of {budget} s on cifar10 can end before its first trial: the "
                                          "costliest arch costs ")  # fmt: skip
        assert out == "" and not (tmp_path / "s").exists()
    code, out, err = search(capsys, real_data_dir, tmp_path / "s", "--optimizer", "rea", "--time-budget", "207.65",
                            "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["trials"] >= 1, err


def test_a_budget_below_the_zero_cost_warm_up_is_refused(capsys, real_data_dir, tmp_path):
    import numpy as np

    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.builder import StoreBuilder
    from nasforge.spaces.nb201 import NUM_ARCHS

    every = np.arange(NUM_ARCHS)
    builder = StoreBuilder()
    builder.set_scalar("cifar10", "zc_flops", every, load_nb201(real_data_dir).query_many(every, "cifar10", "flops"))
    builder.set_scalar("cifar10", "zc_flops_time", every, np.full(NUM_ARCHS, 0.5))  # a warm-up charges 500 s
    zc = ("--optimizer", "rea+zc", "--zc", "flops", "--zc-store", str(builder.write(tmp_path / "zc")))
    # before: 0 trials and exit 0, the clock hiding the 500 s charged
    code, _, err = search(capsys, real_data_dir, tmp_path / "s", *zc, "--time-budget", "600")
    one_line_error(capsys, code, err, "rea+zc's zero-cost warm-up charges up to 500 s before it and the costliest "
                                      "arch costs 207.65 s (12 epochs); give --time-budget >= 707.65")  # fmt: skip
    assert not (tmp_path / "s").exists()
    code, out, err = search(capsys, real_data_dir, tmp_path / "t", *zc, "--time-budget", "707.65", "--json")
    assert code == 0 and json.loads(out)["trials"] >= 1, err
