"""``search --objective METRIC --store DIR`` on a store imported from a seed-format (NASLib) pickle.

The tiny pickle (``_benchmark_fixtures.write_naslib_pickle``) holds the archs that random search with seed 0
asks first; arch number k records eval accuracy 5 + e/10 + k after epoch e (so 24.9 + k after epoch 199), the
final ``ori-test`` entry 99 - k and a per-epoch training time of 7.25 + k seconds. The seed format has no
separate 12-epoch schedule, so NB201's default objective (``valid_acc_12ep``) does not exist there.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _benchmark_fixtures import naslib_cost, naslib_value, write_seed_store

from nasforge.benchmarks import open_store
from nasforge.benchmarks.blackbox import BenchmarkEvaluator
from nasforge.cli.main import main
from nasforge.errors import ConfigError
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request

N = 5  # trials, = archs in the fixture


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory) -> tuple[Path, list[NB201Arch]]:
    return write_seed_store(tmp_path_factory.mktemp("seedstore"), N)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nasforge: error:"), err
    return lines[0]


def test_search_on_a_seed_format_store_finds_the_best_recorded_arch(seed_store, tmp_path, capsys):
    store, archs = seed_store
    code, out, _ = run(capsys, "search", "--store", str(store), "--objective", "valid_acc", "--n-iter", str(N),
                       "--out", str(tmp_path / "r"), "--no-plots", "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    inc = summary["incumbent"]
    # By hand: the best arch is the last one (k = 4): 5 + 199/10 + 4 = 28.9 after 200 epochs.
    assert summary["trials"] == N and summary["failed"] == 0 and summary["objective"] == "valid_acc"
    assert inc["arch"] == archs[-1].to_string() and inc["fidelity"] == 200
    assert inc["valid_acc"] == pytest.approx(5 + 199 / 10 + 4)
    assert inc["valid_acc"] == pytest.approx(max(naslib_value("eval_acc1es", k, 199) for k in range(N)))
    # No cifar10 (50k-trained) results in a seed file: the reported test accuracy is cifar10-valid's ori-test.
    assert inc["test_acc"] == pytest.approx(99.0 - 4) and inc["test_source"] == "cifar10-valid:test_acc"
    # The clock charges 200 epochs of the recorded per-epoch time: 200 x (7.25 + k), summed.
    assert summary["clock_s"] == pytest.approx(200 * sum(7.25 + k for k in range(N)))


def test_time_budget_charges_200_epochs_per_trial(seed_store, tmp_path, capsys):
    store, _ = seed_store
    budget = 200 * (7.25 + 8.25) + 1  # the first two trials fit, the third (200 x 9.25 s more) does not
    code, out, _ = run(capsys, "search", "--store", str(store), "--objective", "valid_acc", "--time-budget",
                       str(budget), "--out", str(tmp_path / "r"), "--no-plots", "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["trials"] == 2 and summary["stopped"] == "time_budget"
    assert summary["clock_s"] == pytest.approx(200 * (7.25 + 8.25))


def test_the_default_objective_on_a_seed_store_names_the_available_ones(seed_store, tmp_path, capsys):
    store, _ = seed_store
    out = tmp_path / "r"
    code, _, err = run(capsys, "search", "--store", str(store), "--out", str(out), "--n-iter", "2")
    line = one_line(code, err)
    assert "no 'valid_acc_12ep' on cifar10-valid" in line and "objectives available there: train_acc, valid_acc" in line
    for bad, why in (("nope", "no 'nope'"), ("valid_loss", "not an accuracy"), ("test_acc", "a test accuracy")):
        code, _, err = run(capsys, "search", "--store", str(store), "--out", str(out), "--objective", bad)
        assert why in one_line(code, err) and "train_acc, valid_acc" in err
    # Hyperband needs the 12-epoch schedule too, which a seed file lacks.
    code, _, err = run(capsys, "search", "--store", str(store), "--out", str(out), "--objective", "valid_acc",
                       "--optimizer", "hb")  # fmt: skip
    assert "asks for fidelities 12, 200 epochs" in one_line(code, err)
    assert not out.exists()  # every refusal came before anything was written


def test_resume_checks_the_objective_and_the_store(seed_store, tmp_path, capsys):
    store, _ = seed_store
    out = str(tmp_path / "r")
    assert run(capsys, "search", "--store", str(store), "--objective", "valid_acc", "--n-iter", "2", "--out", out,
               "--no-plots")[0] == 0  # fmt: skip
    code, _, err = run(capsys, "search", "--out", out, "--resume", "--objective", "train_acc")
    assert "--objective train_acc given, valid_acc stored" in one_line(code, err)
    code, _, err = run(capsys, "search", "--out", out, "--resume", "--store", str(tmp_path))
    assert f"--store {tmp_path} given, {store} stored" in one_line(code, err)
    # Without the options the stored objective and store are used (no --store, no data directory needed).
    code, out_text, _ = run(capsys, "search", "--out", out, "--resume", "--no-plots", "--json")
    assert code == 0 and json.loads(out_text)["trials"] == 2 and json.loads(out_text)["objective"] == "valid_acc"


def test_the_python_evaluator_takes_the_objective(seed_store):
    store, archs = seed_store
    evaluator = BenchmarkEvaluator(open_store(store), "cifar10", objective="valid_acc")
    assert evaluator.default_fidelity == 200 and evaluator.fidelities == (200,)
    for k, arch in enumerate(archs):
        result = evaluator.evaluate(Request(arch))
        assert result.objective == pytest.approx(naslib_value("eval_acc1es", k, 199))
        assert result.cost == pytest.approx(200 * naslib_cost(k)["train_time"])
        assert result.metrics["test_acc"] == pytest.approx(99.0 - k)
        assert result.metrics["params"] == pytest.approx(naslib_cost(k)["params"])
    train = BenchmarkEvaluator(str(store), "cifar10", objective="train_acc").evaluate(Request(archs[2]))  # a path
    assert train.objective == pytest.approx(naslib_value("train_acc1es", 2, 199))
    with pytest.raises(ConfigError, match="no fidelity 12 for objective valid_acc; valid fidelities: 200"):
        evaluator.evaluate(Request(archs[0], fidelity=12))
    with pytest.raises(ConfigError, match="has no cifar100 results"):
        BenchmarkEvaluator(open_store(store), "cifar100", objective="valid_acc")


def test_a_study_written_before_the_store_was_recorded_still_resumes(seed_store, tmp_path, capsys):
    store, _ = seed_store
    out = tmp_path / "r"
    assert run(capsys, "search", "--store", str(store), "--objective", "valid_acc", "--n-iter", "2", "--out",
               str(out), "--no-plots")[0] == 0  # fmt: skip
    with sqlite3.connect(out / "study.db") as db:  # what nasforge wrote before it recorded the store
        config = json.loads(db.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
        del config["evaluator"]["store"]
        db.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(config, sort_keys=True),))
    code, out_text, err = run(capsys, "search", "--out", str(out), "--resume", "--store", str(store), "--no-plots",
                              "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out_text)["trials"] == 2
