"""Objectives and constraints (settings, black box, incumbent), multi-objective optimizers and `nasforge pareto`,
checked against brute force over the whole space and against the raw data tables."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nasforge.errors import ConfigError, SettingError
from nasforge.objectives import parse_constraint, parse_constraints, parse_objectives
from nasforge.optimizers import create_optimizer
from nasforge.pareto import TrueFront, hypervolume, pareto_mask
from nasforge.search.settings import SearchSettings
from nasforge.search.study import Study
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch
from nasforge.trial import Direction, Result

# --- parsing and settings --------------------------------------------------------------------------------------


def test_objectives_and_constraints_parse_and_refuse_bad_input() -> None:
    (acc, lat) = parse_objectives("test_acc:max, latency_pixel3:MIN")
    assert (acc.name, acc.direction, lat.name, lat.direction) == (
        "test_acc", Direction.MAXIMIZE, "latency_pixel3", Direction.MINIMIZE)
    for bad in ("test_acc", "test_acc:up", "a:max,a:min", ":max"):
        with pytest.raises(ConfigError, match="METRIC:max|twice"):
            parse_objectives(bad)
    c = parse_constraint("params >= 0.5")
    assert (c.metric, c.op, c.bound, c.violation(0.4)) == ("params", ">=", 0.5, pytest.approx(0.1))
    for bad in ("latency<5", "latency<=fast", "<=5", "latency<=inf"):
        with pytest.raises(ConfigError, match="METRIC<=NUMBER"):
            parse_constraint(bad)
    with pytest.raises(ConfigError, match="repeat"):
        parse_constraints(["params<=1", "params<=1.0"])


def test_settings_check_objectives_once() -> None:
    s = SearchSettings(optimizer="morea", objectives="valid_acc:max,latency_pixel3:min",
                       constraints=("latency_raspi4<=5",))  # fmt: skip
    assert [o.name for o in s.study_objectives] == ["valid_acc", "latency_pixel3"]
    assert s.optimizer_options["objectives"] == "valid_acc:max,latency_pixel3:min"  # the optimizer is told them
    assert s.constraints[0].name == "latency_raspi4<=5"
    with pytest.raises(SettingError, match="needs a direction"):
        SearchSettings(objectives="valid_acc")
    with pytest.raises(SettingError, match=">= 2 metrics"):
        SearchSettings(optimizer="nsga2")
    with pytest.raises(SettingError, match="across fidelities"):
        SearchSettings(optimizer="hb", objectives="valid_acc:max,params:min")
    with pytest.raises(SettingError, match="drop them"):
        SearchSettings(train=True, constraints="params<=1")


# --- constraints in a single-objective search ------------------------------------------------------------------


class _Toy:
    """Every arch's objective is its number of 3x3 convolutions, constrained to at most 2 of them: the best
    feasible value is 2, while the unconstrained optimum (6) is infeasible."""

    default_fidelity = 12

    def evaluate(self, request):  # noqa: ANN001, ANN201
        convs = sum(op == "nor_conv_3x3" for op in request.arch.ops)
        return Result.complete(convs, cost=1.0, constraints={"convs<=2": convs - 2})

    def predicted_cost(self, request):  # noqa: ANN001, ANN201
        return 1.0

    def config(self):  # noqa: ANN201
        return {"kind": "toy"}


@pytest.mark.parametrize("name", ["rs", "rea", "ls", "tpe", "morea", "nsga2", "parego", "mols"])
def test_infeasible_trials_are_recorded_and_never_the_incumbent(name: str) -> None:
    study = Study.in_memory({"seed": 0})
    study.optimize(create_optimizer(name, 0), _Toy(), n_iter=150)
    infeasible = [t for t in study.trials if not t.result.feasible]
    assert infeasible and all(t.result.constraints["convs<=2"] > 0 for t in infeasible)  # violation recorded
    assert study.incumbent.result.feasible and study.incumbent.result.objective == 2.0


# --- multi-objective optimizers beat random search at finding the true front -----------------------------------

_W = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
_ALL = np.array([NB201Arch.from_index(i).op_indices for i in range(NUM_ARCHS)], dtype=float)


def _values(arch: NB201Arch) -> tuple[float, float]:
    ops = np.array(arch.op_indices, dtype=float)
    # Two conflicting objectives: a weighted op sum (max) against the number of non-zero ops (min).
    return float(_W @ ops), float(np.count_nonzero(ops) + 0.1 * ops[0])


class _TwoObjectives:
    default_fidelity = 12

    def evaluate(self, request):  # noqa: ANN001, ANN201
        a, b = _values(request.arch)
        return Result.complete(a, cost=1.0, values={"a": a, "b": b})

    def predicted_cost(self, request):  # noqa: ANN001, ANN201
        return 1.0

    def config(self):  # noqa: ANN201
        return {"kind": "toy"}


def test_multi_objective_optimizers_reach_more_hypervolume_than_random_search() -> None:
    true = np.column_stack([_ALL @ _W, np.count_nonzero(_ALL, axis=1) + 0.1 * _ALL[:, 0]])
    ref = [0.0, 6.5]  # worse than every arch in both objectives
    assert hypervolume(true, ref, [True, False]) == pytest.approx(321.0)  # by hand: see below
    hv: dict[str, list[float]] = {}
    for name in ("rs", "morea", "nsga2", "mols", "parego"):
        for seed in range(10):
            options = {} if name == "rs" else {"objectives": "a:max,b:min"}
            study = Study.in_memory({"seed": seed}, parse_objectives("a:max,b:min"))
            study.optimize(create_optimizer(name, seed, **options), _TwoObjectives(), n_iter=150)
            points = [[t.result.value("a"), t.result.value("b")] for t in study.best_trials()]
            hv.setdefault(name, []).append(hypervolume(points, ref, [True, False]))
    for name in ("morea", "nsga2", "mols", "parego"):
        assert np.mean(hv[name]) > np.mean(hv["rs"]), {k: np.mean(v) for k, v in hv.items()}


def test_toy_front_by_hand() -> None:
    # With k non-zero ops the best weighted sum puts op 4 on the k heaviest edges: 4 * (6 + 5 + ... ), and a
    # non-zero first edge costs 0.1 more; the front is k = 0..6 with edge 0 last, plus the k = 6 variants.
    true = np.column_stack([_ALL @ _W, np.count_nonzero(_ALL, axis=1) + 0.1 * _ALL[:, 0]])
    front = true[pareto_mask(true, [True, False])]
    best_per_k = {round(b): a for a, b in front if abs(b - round(b)) < 1e-9}
    assert best_per_k == {k: 4.0 * sum(range(7 - k, 7)) for k in range(6)}


# --- real data: the exact front and budgets against the raw tables ---------------------------------------------


def _cli(capsys, real_data_dir, argv):  # noqa: ANN001, ANN202
    from nasforge.cli.main import main

    argv = [*argv, "--data-dir", str(real_data_dir)]
    if argv[0] == "study":
        argv = argv[:-2]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run_cli(capsys, real_data_dir):  # noqa: ANN001, ANN201
    def run(*argv: str) -> str:
        code, out, err = _cli(capsys, real_data_dir, argv)
        assert code == 0, err
        return out

    return run


@pytest.fixture
def run_cli_fails(capsys, real_data_dir):  # noqa: ANN001, ANN201
    def run(*argv: str) -> str:
        code, out, err = _cli(capsys, real_data_dir, argv)
        assert code == 2 and not out, (code, out, err)
        return err

    return run


def _help_and_final(real_data_dir):  # noqa: ANN001, ANN202
    with gzip.open(real_data_dir / "nb201" / "nb201_hw_latency_help.csv.gz", "rt") as f:
        lat = {int(r["index"]): float(r["gold_6226"]) for r in csv.DictReader(f)}
    with gzip.open(real_data_dir / "nb201" / "nb201_final.csv.gz", "rt") as f:
        acc = {int(r["index"]): float(r["c100_test_acc_200"]) for r in csv.DictReader(f)}
    return lat, acc


def test_pareto_cli_front_and_budget_match_the_raw_tables(real_data_dir, run_cli) -> None:  # noqa: ANN001
    lat, acc = _help_and_final(real_data_dir)
    out = run_cli("pareto", "--benchmark", "cifar100", "--objectives", "test_acc:max,latency_gold_6226:min",
                  "--budgets", "14", "--json")  # fmt: skip
    payload = json.loads(out)
    # Brute force from the CSV files: an arch is on the front iff no other is at least as good in both.
    pts = sorted((-acc[i], lat[i], i) for i in acc)
    expected, best_lat = set(), math.inf
    for _neg_acc, latency, index in pts:  # accuracy descending: on the front iff faster than every better one
        if latency < best_lat:
            expected.add(index)
            best_lat = latency
    assert {p["index"] for p in payload["front"]} == expected
    within = max((acc[i], i) for i in acc if lat[i] <= 14.0)
    assert payload["budgets"][0]["index"] == within[1]
    assert payload["budgets"][0]["test_acc"] == pytest.approx(within[0])


def test_pareto_budgets_bound_the_cost_objective_in_either_order_and_name_the_least_budget(
    real_data_dir, run_cli, run_cli_fails  # noqa: ANN001
) -> None:
    lat, acc = _help_and_final(real_data_dir)
    within = max((acc[i], i) for i in acc if lat[i] <= 14.0)
    fastest = min(lat.values())
    for objectives in ("test_acc:max,latency_gold_6226:min", "latency_gold_6226:min,test_acc:max"):
        # before, the reversed order bounded test_acc from below (>= 14 %) and reported the fastest such arch
        budgets = json.loads(run_cli("pareto", "--benchmark", "cifar100", "--objectives", objectives,
                                     "--budgets=1,14", "--json"))["budgets"]  # fmt: skip
        assert budgets[1]["metric"] == "latency_gold_6226" and budgets[1]["index"] == within[1]
        assert budgets[1]["test_acc"] == pytest.approx(within[0])
        # no arch runs in 1 ms: the answer names the least budget that any arch meets (before: "no arch" alone)
        assert budgets[0]["index"] is None and budgets[0]["least_budget"] == pytest.approx(fastest)
    text = run_cli("pareto", "--benchmark", "cifar100", "--objectives", "latency_gold_6226:min,test_acc:max",
                   "--budgets=1")  # fmt: skip
    assert f"budget latency_gold_6226 1: no arch within it; the least budget any arch meets is {fastest:.10g}" in text
    err = run_cli_fails("pareto", "--benchmark", "cifar100", "--objectives", "test_acc:max,valid_acc:max",
                        "--budgets=50")  # fmt: skip
    assert err.count("\n") == 1 and "--budgets bounds a cost objective (one to minimise" in err


def test_search_prints_its_front_against_the_true_front(real_data_dir, run_cli, tmp_path) -> None:  # noqa: ANN001
    out = run_cli("search", "--optimizer", "morea", "--benchmark", "cifar100", "--objectives",
                  "test_acc:max,latency_gold_6226:min", "--constraint", "latency_gold_6226<=14", "--n-iter", "60",
                  "--out", str(tmp_path / "run"), "--no-plots", "--json")  # fmt: skip
    front = json.loads(out)["front"]
    lat, acc = _help_and_final(real_data_dir)
    feasible = [i for i in acc if lat[i] <= 14.0]
    for p in front["points"]:
        assert lat[p["index"]] <= 14.0 and p["test_acc"] == pytest.approx(acc[p["index"]])
        dominated = any(acc[j] >= acc[p["index"]] and lat[j] <= lat[p["index"]] and
                        (acc[j] > acc[p["index"]] or lat[j] < lat[p["index"]]) for j in feasible)  # fmt: skip
        assert p["dominated_by_true_front"] == dominated
    assert 0 <= front["hypervolume_regret"] < front["true_hypervolume"]
    shown = json.loads(run_cli("study", "show", str(tmp_path / "run"), "--json"))
    assert {t["number"] for t in shown["best_trials"]} == {p["trial"] for p in front["points"]}


def test_bad_input_is_one_line_exit_2(real_data_dir, run_cli_fails, tmp_path) -> None:  # noqa: ANN001
    for args, words in (
        (("pareto", "--objectives", "valid_acc:max,latency_pixel9:min"), "latency_DEVICE"),
        (("pareto", "--objectives", "valid_acc:up"), "METRIC:max"),
        (("pareto", "--objectives", "valid_acc:max,params:min", "--constraint", "latency_raspi4<=0.001"),
         "best latency_raspi4 of any arch is 0.0112"),
        (("pareto", "--objectives", "valid_acc:max,params:min", "--ref", "99,0.0001"), "dominates nothing"),
        # a budget bounds a cost: at or below 0 it would select no arch, silently
        (("pareto", "--objectives", "valid_acc:max,params:min", "--budgets=-5,14"), "'-5' is outside (0, 1e+09]"),
        (("pareto", "--objectives", "valid_acc:max,params:min", "--budgets", "0"), "'0' is outside (0, 1e+09]"),
        (("search", "--objectives", "valid_acc:max,params:min", "--constraint", "params<=0.0001", "--out",
          str(tmp_path / "x")), "cannot be met"),
        (("compare", "--objectives", "valid_acc:max,params:min", "--workers", "4", "--datasets", "cifar100",
          "--time-budget", "2000", "--out", str(tmp_path / "x")), "drop them with --objectives"),
        # hb compares a 12-epoch result with a 200-epoch one: meaningless for final values, as in search
        (("compare", "--objectives", "valid_acc:max,params:min", "--optimizers", "rs,hb", "--datasets", "cifar100",
          "--time-budget", "2000", "--out", str(tmp_path / "x")), "hb compares results across fidelities"),
    ):
        err = run_cli_fails(*args)
        assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "study.db").exists()


def test_true_front_helper_drops_infeasible_archs() -> None:
    cols = {"a": np.array([3.0, 2.0, 1.0]), "b": np.array([3.0, 1.0, 2.0])}
    objs = parse_objectives("a:max,b:min")
    assert TrueFront.from_columns(cols, objs).indices.tolist() == [0, 1]
    front = TrueFront.from_columns(cols, objs, parse_constraints(["b<=2.5"]))
    assert front.indices.tolist() == [1] and front.ref.tolist() == [1.0, 2.0]  # worst over feasible archs


def test_mo_compare_rows_score_each_search_by_its_front(real_data_dir) -> None:  # noqa: ANN001
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.search.mocompare import mo_compare, run_mo_front

    tables = LookupTables.from_store(load_nb201(real_data_dir), "cifar100", None, ("valid_acc_12ep", "params"))
    objectives = parse_objectives("valid_acc_12ep:max,params:min")
    rows = mo_compare(tables, ["valid_acc_12ep:max,params:min"], ["rs", "nsga2"], range(3), 5000.0, workers=1)
    true = np.column_stack([tables.columns["valid_acc_12ep"], tables.columns["params"]])
    ref = [np.nanmin(true[:, 0]), np.nanmax(true[:, 1])]
    true_hv = _grid_free_hv(true[pareto_mask(true, [True, False])], ref)
    for row in rows:
        assert row.front_size == int(pareto_mask(true, [True, False]).sum())
        assert np.all(np.diff(row.curves, axis=1) <= 1e-12)  # regret never grows over time
        for seed in range(3):
            found = run_mo_front(tables, objectives, row.optimizer, seed, 5000.0)
            assert row.final[seed] == pytest.approx(1 - _grid_free_hv(found, ref) / true_hv, abs=1e-9)


def _grid_free_hv(points: np.ndarray, ref: list[float]) -> float:
    """2-D hypervolume of (max, min) points by the textbook staircase: accuracy descending, each adds a slab."""
    total, best_cost = 0.0, ref[1]
    for acc, cost in sorted(map(tuple, points), key=lambda p: (-p[0], p[1])):
        if cost < best_cost:
            total += (acc - ref[0]) * (best_cost - cost)
            best_cost = cost
    return total


def test_compare_objectives_writes_the_rows_and_plots(run_cli, tmp_path) -> None:  # noqa: ANN001
    out = run_cli("compare", "--objectives", "valid_acc_12ep:max,latency_gold_6226:min", "--optimizers", "rs,nsga2",
                  "--seeds", "2", "--datasets", "cifar100", "--time-budget", "3000", "--processes", "1",
                  "--out", str(tmp_path / "c"), "--json")  # fmt: skip
    payload = json.loads(out)
    assert [(r["optimizer"], r["seeds"]) for r in payload["rows"]] == [("rs", 2), ("nsga2", 2)]
    assert all(0 <= r["mean_hv_regret"] <= 1 for r in payload["rows"])
    names = {Path(p).name for p in payload["plots"]}
    assert {"hv_regret_latency_gold_6226.png", "front_latency_gold_6226.png", "budget_gold_6226.png"} <= names
    report = (tmp_path / "c" / "results.md").read_text()
    assert "--objectives valid_acc_12ep:max,latency_gold_6226:min" in report and "| `valid_acc_12ep" in report


def test_compare_objectives_gives_a_zc_optimizer_its_proxy_scores(real_data_dir, run_cli, run_cli_fails,
                                                                   tmp_path) -> None:  # noqa: ANN001
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.builder import StoreBuilder
    from nasforge.spaces.nb201 import NUM_ARCHS

    every = np.arange(NUM_ARCHS)
    builder = StoreBuilder()
    builder.set_scalar("cifar100", "zc_flops", every, load_nb201(real_data_dir).query_many(every, "cifar100", "flops"))
    builder.set_scalar("cifar100", "zc_flops_time", every, np.full(NUM_ARCHS, 0.5))  # a warm-up charges 500 s
    store = str(builder.write(tmp_path / "zc"))
    argv = ["compare", "--objectives", "valid_acc_12ep:max,params:min", "--optimizers", "rs,rea+zc", "--zc", "flops",
            "--zc-store", store, "--seeds", "2", "--datasets", "cifar100", "--processes", "1", "--json"]  # fmt: skip
    payload = json.loads(run_cli(*argv, "--time-budget", "3000", "--out", str(tmp_path / "c")))
    rows = {r["optimizer"]: r for r in payload["rows"]}
    assert rows["rea+zc"]["seeds"] == 2 and rows["rea+zc"]["mean_trials"] >= 1
    assert "--zc flops --zc-store" in payload["command"]
    # the warm-up's 500 s count in the least budget: one line naming it, nothing written
    err = run_cli_fails(*argv, "--time-budget", "800", "--out", str(tmp_path / "d"))
    assert err.count("\n") == 1 and "rea+zc's zero-cost warm-up charges up to 500 s" in err
    assert "give --time-budget >= 915.3" in err and not (tmp_path / "d").exists()
