"""``nasforge zc`` and ``nasforge predictors`` on a tiny store: scores land in the store, kill -9 + --resume loses
nothing, bad input is one line with exit 2."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _benchmark_fixtures import CSV_ARCHS, csv_cell, write_nb201_csv
from _cli import run

from nasforge.benchmarks.store import open_store
from nasforge.spaces.nb201 import NB201Arch
from nasforge.spaces.nb201_model import count_flops, count_params


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    monkeypatch.delenv("NASFORGE_DATA", raising=False)


@pytest.fixture
def store(tmp_path, capsys) -> Path:
    out = tmp_path / "store"
    assert (
        run(capsys, "bench", "import", "nb201-csv", str(write_nb201_csv(tmp_path / "t.csv.gz")), "-o", str(out))[0] == 0
    )
    return out


def archs_file(tmp_path: Path, indices: list[int]) -> Path:
    path = tmp_path / "archs.txt"
    path.write_text("\n".join(NB201Arch.from_index(i).to_string() for i in indices) + "\n")
    return path


def test_score_writes_metrics_that_bench_query_sees(store, tmp_path, capsys):
    archs = archs_file(tmp_path, [0, 6111])
    code, out, err = run(capsys, "zc", "score", "--dataset", "cifar10,ImageNet16-120", "--proxies", "params,flops",
                         "--archs", str(archs), "--out", str(store), "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["scored"] == 2
    code, out, _ = run(capsys, "bench", "query", "6111", "--dataset", "ImageNet16-120", "--metric", "zc_flops",
                       "--store", str(store), "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["value"] == pytest.approx(count_flops(NB201Arch.from_index(6111), "ImageNet16-120"))
    with open_store(store) as s:
        assert s.query(0, "cifar10", "zc_params") == pytest.approx(count_params(NB201Arch.from_index(0)) / 1e6)
        assert s.query(0, "cifar10", "zc_params_time") >= 0
        assert "test_acc" in s.metrics("cifar10")  # the store kept what it had
    assert not (tmp_path / "store.zc-journal.jsonl").exists()
    # a second run finds everything in the store
    code, out, _ = run(capsys, "zc", "score", "--dataset", "cifar10", "--proxies", "params", "--archs", str(archs),
                       "--out", str(store), "--json")  # fmt: skip
    assert json.loads(out)["skipped"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--proxies", "foo", "--dataset", "cifar10"], "unknown proxy 'foo'"),
        (["--proxies", "nwot", "--dataset", "cifar100"], "no cifar100 images"),
        (["--proxies", "params", "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["--proxies", "params", "--dataset", "cifar10", "--archs", "0"], "between 1 and 15625"),
    ],
)
def test_score_bad_input_is_one_line_exit_2(store, tmp_path, capsys, argv, message):
    full = ["zc", "score", "--archs", "3", "--out", str(store), *argv]
    code, out, err = run(capsys, *full)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""
    assert not (tmp_path / "store.zc-journal.jsonl").exists()


# The scoring run stops itself (SIGSTOP) when it builds its third network: two archs are in the journal and the
# third is being scored. The kill then lands mid-run however late this process gets the CPU; a poll of the journal
# followed by a kill raced on a busy machine (8 quick archs could all finish in between).
STOP_AT_THE_THIRD_ARCH = """
import os, signal, sys
import nasforge.zerocost as zc
from nasforge.cli.main import main
real, built = zc.nb201_network, []
def nb201_network(*args, **kwargs):
    built.append(args)
    if len(built) == 3:
        os.kill(os.getpid(), signal.SIGSTOP)
    return real(*args, **kwargs)
zc.nb201_network = nb201_network
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_then_resume_loses_nothing(store, tmp_path):
    indices = [0, 1, 2, 3, 4, 5, 6, 7]
    archs = archs_file(tmp_path, indices)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    command = ["zc", "score", "--dataset", "cifar10", "--proxies", "params,l2_norm", "--archs", str(archs),
               "--out", str(store)]  # fmt: skip
    argv = [sys.executable, "-m", "nasforge.cli.main", *command]
    journal = tmp_path / "store.zc-journal.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", STOP_AT_THE_THIRD_ARCH, *command], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while (state := os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = state[0] == proc.pid and os.WIFSTOPPED(state[1])
    if stopped or state[0] == 0:  # not if it exited: waitpid has reaped it, its PID may be another's by now
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert stopped, "the run did not reach its third arch"
    assert journal.read_text().count("\n") == 3  # the header and two archs
    refused = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    done = subprocess.run([*argv, "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with open_store(store) as s:
        params = s.query_many(np.array(indices), "cifar10", "zc_params")
        l2 = s.query_many(np.array(indices), "cifar10", "zc_l2_norm")
    assert params == pytest.approx([count_params(NB201Arch.from_index(i)) / 1e6 for i in indices])
    # l2_norm depends only on the seeded weights: a fresh, uninterrupted run gives the same values
    fresh = tmp_path / "fresh"
    assert subprocess.run([*argv[:-1], str(fresh)], env=env, capture_output=True).returncode == 0
    with open_store(fresh) as s:
        assert s.query_many(np.array(indices), "cifar10", "zc_l2_norm") == pytest.approx(l2, rel=1e-12)


def test_a_store_not_merged_yet_points_to_zc_score_resume(tmp_path, capsys):
    # what a 'zc score --out NEW' killed before its first merge leaves: the journal beside a store not made yet
    missing = tmp_path / "scores"
    (tmp_path / "scores.zc-journal.jsonl").write_text('{"kind": "nasforge-zc-journal"}\n')
    query = ["bench", "query", "6111", "--dataset", "cifar10", "--metric", "zc_synflow", "--store", str(missing)]
    code, out, err = run(capsys, *query)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "scores.zc-journal.jsonl" in err and "zc score" in err and "--resume" in err and "bench import" not in err
    assert not missing.exists()  # nothing created
    (tmp_path / "scores.zc-journal.jsonl").unlink()  # without the journal: the plain refusal
    code, _, err = run(capsys, *query)
    assert code == 2 and "not a benchmark store; build one with 'nasforge bench import" in err


def test_predictors_evaluate_bad_input_and_missing_zc_metric(store, capsys):
    code, _, err = run(
        capsys, "predictors", "evaluate", "--model", "svm", "--encoding", "onehot", "--store", str(store)
    )
    assert code == 2 and "unknown predictor 'svm'" in err
    code, _, err = run(capsys, "predictors", "evaluate", "--model", "gbt", "--encoding", "zc", "--zc", str(store),
                       "--dataset", "cifar10", "--store", str(store))  # fmt: skip
    assert code == 2 and "no zc scores on cifar10" in err and err.count("\n") == 1
    code, _, err = run(capsys, "predictors", "evaluate", "--model", "rf", "--encoding", "onehot", "--dataset",
                       "cifar10", "--target", "test_acc", "--store", str(store))  # fmt: skip
    assert code == 2 and "more than the pool of 3" in err
    # the default --target (valid_acc, which cifar10 lacks) is named as the default, with the option that works
    code, out, err = run(capsys, "predictors", "evaluate", "--model", "rf", "--encoding", "onehot", "--dataset",
                         "cifar10", "--store", str(store))  # fmt: skip
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "the default --target valid_acc is not in cifar10's metrics; pass --target test_acc" in err


def test_correlate_reports_rank_correlations_with_the_store_target(store, tmp_path, capsys):
    from _benchmark_fixtures import CSV_ARCHS, csv_cell
    from scipy import stats

    archs = archs_file(tmp_path, list(CSV_ARCHS))
    code, out, err = run(capsys, "zc", "correlate", "--dataset", "cifar10", "--proxies", "params", "--archs",
                         str(archs), "--store", str(store), "--out", str(tmp_path / "scores"), "--json")  # fmt: skip
    assert code == 0, err
    row = json.loads(out)["proxies"][0]
    params = [count_params(NB201Arch.from_index(i)) for i in CSV_ARCHS]
    acc = [float(csv_cell(r, "c10_test_acc_200")) for r in range(len(CSV_ARCHS))]
    assert row["spearman"] == pytest.approx(stats.spearmanr(params, acc).statistic)
    assert row["kendall"] == pytest.approx(stats.kendalltau(params, acc).statistic)
    assert row["archs"] == 3 and row["cpu_s_per_arch"] >= 0


def _zc_exact_store_main():
    path = Path(__file__).resolve().parents[1] / "perf" / "zc_exact_store.py"
    spec = importlib.util.spec_from_file_location("zc_exact_store", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_zc_exact_store_copies_flops_replaces_only_its_own_store_and_checks_a_partial_one(
    store, tmp_path, capsys, monkeypatch
):
    from nasforge.benchmarks.builder import StoreBuilder

    monkeypatch.setenv("NASFORGE_STORE", str(store))
    main = _zc_exact_store_main()
    out = tmp_path / "exact"
    assert main(["--out", str(out)]) == 0
    flops = {prefix: [float(csv_cell(row, f"{prefix}_flops_M")) for row in range(3)] for prefix in ("c10", "c100")}
    with open_store(out) as s:
        assert s.query_many(np.array(CSV_ARCHS), "cifar10", "zc_flops") == pytest.approx(flops["c10"])
        assert s.query_many(np.array(CSV_ARCHS), "cifar100", "zc_flops") == pytest.approx(flops["c100"])
        assert s.metrics("cifar10") == ("zc_flops",)
        (entry,) = s.provenance
        assert "params" not in entry["copied_from"]  # only flops is copied
    capsys.readouterr()
    # An existing --out: before, a traceback whose hint named an --overwrite the script lacked.
    assert main(["--out", str(out)]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "already exists; add --overwrite" in err
    assert main(["--out", str(out), "--overwrite"]) == 0
    manifest = (store / "manifest.json").read_bytes()
    assert main(["--out", str(store), "--overwrite"]) == 2  # never a store it did not write
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "is not a store this script wrote" in err
    assert (store / "manifest.json").read_bytes() == manifest
    # --check against a cifar10-only store: before, a traceback at cifar100; now the datasets it scored are compared
    builder = StoreBuilder()
    builder.set_scalar("cifar10", "zc_flops", np.array(CSV_ARCHS[:2]), np.array(flops["c10"][:2]) + [0.0, 2.5])
    partial = builder.write(tmp_path / "partial")
    assert main(["--out", str(tmp_path / "checked"), "--check", str(partial)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cifar10 flops: 2 scored archs, largest difference 2.5"
    assert lines[1] == f"cifar100 flops: not scored in {partial}, not checked"
    assert main(["--out", str(tmp_path / "unchecked"), "--check", str(tmp_path)]) == 2  # not a store
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "is not a store" in err and not (tmp_path / "unchecked").exists()
