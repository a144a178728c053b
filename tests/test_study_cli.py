"""``nasforge study show``: a real small search on a seed-format store, read back trial by trial.

Fixture values (``_benchmark_fixtures``): arch number k reaches eval accuracy 5 + 199/10 + k after epoch 199,
``ori-test`` 99 - k, and records per-epoch training time 7.25 + k s, params 0.125 + k M, flops 15.5 + k M.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _benchmark_fixtures import write_seed_store

from nasforge.cli.main import main

N = 5


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, list]:
    """Six random-search trials: the five archs the store records, then one it does not (a FAIL)."""
    root = tmp_path_factory.mktemp("study")
    store, archs = write_seed_store(root, N)
    code = main(["search", "--store", str(store), "--objective", "valid_acc", "--n-iter", str(N + 1),
                 "--out", str(root / "run"), "--no-plots", "--json"])  # fmt: skip
    assert code == 0
    return root / "run", archs


def show(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["study", "show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_lists_every_trial_with_hand_checked_values(run_dir, capsys):
    run, archs = run_dir
    code, out, _ = show(capsys, str(run), "--json")
    assert code == 0
    payload = json.loads(out)
    trials = payload["trials"]
    assert len(trials) == N + 1 and payload["counts"] == {"COMPLETE": N, "FAIL": 1, "UNFINISHED": 0}
    for k, (trial, arch) in enumerate(zip(trials, archs)):
        assert (trial["number"], trial["arch"], trial["state"], trial["fidelity"]) == (k, arch.to_string(), "COMPLETE",
                                                                                      200)  # fmt: skip
        assert trial["objective"] == pytest.approx(5 + 199 / 10 + k)
        assert trial["cost"] == pytest.approx(200 * (7.25 + k)) and trial["attempts"] == 1
        m = trial["metrics"]
        assert m["valid_acc"] == pytest.approx(5 + 199 / 10 + k) and m["test_acc"] == pytest.approx(99 - k)
        assert m["train_time"] == pytest.approx(7.25 + k) and m["params"] == pytest.approx(0.125 + k)
        assert m["flops"] == pytest.approx(15.5 + k)
    failed = trials[N]
    assert failed["state"] == "FAIL" and failed["objective"] is None and "records no valid_acc" in failed["error"]
    assert payload["incumbent"]["number"] == N - 1 and payload["incumbent"]["arch"] == archs[-1].to_string()
    assert payload["config"]["evaluator"]["objective"] == {"200": "valid_acc"}
    # The same numbers as the rows in the database.
    with sqlite3.connect(run / "study.db") as db:
        rows = db.execute("SELECT arch, state, objective, cost, attempts FROM trials ORDER BY number").fetchall()
    assert rows == [(t["arch"], t["state"], t["objective"], t["cost"], t["attempts"]) for t in trials]


def test_show_text_names_each_trial_and_the_incumbent(run_dir, capsys):
    run, archs = run_dir
    code, out, _ = show(capsys, str(run))
    assert code == 0
    for k, arch in enumerate(archs):
        line = next(line for line in out.splitlines() if line.endswith(arch.to_string()))
        assert line.split()[:3] == [str(k), "COMPLETE", "200"] and f"{5 + 199 / 10 + k:.5g}" in line
    assert "error: the benchmark records no valid_acc" in out
    assert f"incumbent: trial {N - 1} (index {archs[-1].index}, 200 epochs), objective 28.9:" in out
    assert show(capsys, str(run / "study.db"))[1] == out  # the database file itself works too


def test_a_started_trial_without_result_is_unfinished(run_dir, tmp_path, capsys):
    run, archs = run_dir
    copy = tmp_path / "run"
    copy.mkdir()
    with sqlite3.connect(run / "study.db") as src, sqlite3.connect(copy / "study.db") as dst:
        src.backup(dst)
        # What the asynchronous loop writes when it starts a trial: the ask, before any result.
        dst.execute("INSERT INTO asks VALUES (?, ?, ?, ?, ?, ?, ?)", (N + 1, archs[0].to_string(), 200, N + 1, 1,
                                                                        0.0, 0.0))  # fmt: skip
    code, out, _ = show(capsys, str(copy), "--json")
    payload = json.loads(out)
    assert payload["counts"]["UNFINISHED"] == 1
    assert payload["unfinished"][0]["ask_number"] == N + 1 and payload["unfinished"][0]["worker"] == 1


@pytest.mark.parametrize("kind", ["missing", "not a database"])
def test_bad_run_is_one_line(kind, tmp_path, capsys):
    if kind == "not a database":
        (tmp_path / "study.db").write_text("hello")
    code, out, err = show(capsys, str(tmp_path / "nope" if kind == "missing" else tmp_path))
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("nasforge: error:")
    assert not (tmp_path / "nope").exists()


@pytest.mark.slow
def test_training_trials_record_the_last_epochs_losses_and_accuracies(real_data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["search", "--train", "--n-iter", "1", "--epochs", "1", "--train-fraction", "0.0004",
                 "--valid-fraction", "0.002", "--device", "cpu", "--out", str(tmp_path / "t"), "--no-plots",
                 "--data-dir", str(real_data_dir), "--json"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    code, out, _ = show(capsys, str(tmp_path / "t"), "--json")
    trial = json.loads(out)["trials"][0]
    m = trial["metrics"]
    assert set(m) >= {"train_acc", "train_loss", "valid_acc", "valid_loss"}
    # 20 training images (0.04 % of 50,000), 20 validation images (0.2 % of the 10,000 on disk): accuracies
    # are whole multiples of 5 %; losses are cross-entropies, positive and finite.
    assert m["train_acc"] % 5 == 0 and m["valid_acc"] % 5 == 0
    assert 0 < m["train_loss"] < 50 and 0 < m["valid_loss"] < 50
    assert trial["objective"] == m["valid_acc"] and m["epochs"] == 1
    with sqlite3.connect(tmp_path / "t" / "study.db") as db:
        assert json.loads(db.execute("SELECT metrics FROM trials").fetchone()[0]) == m
