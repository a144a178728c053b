"""Optuna both ways: NB201 in Optuna studies, Optuna's samplers as nasforge optimizers (duplicates, resume)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.search.study import Study
from nasforge.spaces.nb201 import EDGES, NUM_ARCHS, OPS, NB201Arch
from nasforge.trial import Result

pytestmark = pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="the optuna extra is absent")

WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # the separable objective of test_optimizers.py


def objective(arch: NB201Arch) -> float:
    return float(WEIGHTS @ np.array(arch.op_indices))


@pytest.fixture(autouse=True)
def quiet_optuna():
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


# --- NB201 in an Optuna study ------------------------------------------------------------------------------------


def test_search_space_is_six_edges_of_nb201_ops():
    from nasforge.integrations.optuna import search_space

    space = search_space()
    assert list(space) == [f"edge_{i}-{j}" for i, j in EDGES]
    assert all(tuple(d.choices) == OPS for d in space.values())
    assert np.prod([len(d.choices) for d in space.values()]) == NUM_ARCHS == 15_625


def test_suggest_arch_gives_the_enqueued_archs_back():
    import optuna

    from nasforge.integrations.optuna import arch_params, suggest_arch

    wanted = [NB201Arch.from_index(i) for i in (0, 6111, 15624)]
    study = optuna.create_study(direction="maximize")
    for arch in wanted:
        study.enqueue_trial(arch_params(arch))
    study.optimize(lambda trial: float(suggest_arch(trial).index), n_trials=3)
    assert [t.value for t in study.trials] == [0.0, 6111.0, 15624.0]  # NB201's own (1-based in papers) indices
    assert [t.params["edge_2-3"] for t in study.trials] == [a.op(2, 3) for a in wanted]


def test_benchmark_objective_returns_the_benchmarks_own_values(real_data_dir, nb201_csv):
    import optuna

    from nasforge.benchmarks import load_nb201
    from nasforge.integrations.optuna import BenchmarkObjective, arch_params

    with gzip.open(nb201_csv, "rt") as f:
        rows = {row["arch_str"]: row for row in csv.DictReader(f)}
    archs = [NB201Arch.from_index(i) for i in (6111, 42)]
    study = optuna.create_study(direction="maximize")
    for arch in archs:
        study.enqueue_trial(arch_params(arch))
    study.optimize(BenchmarkObjective(load_nb201(real_data_dir), "cifar10"), n_trials=2)
    for arch, trial in zip(archs, study.trials):
        row = rows[arch.to_string()]
        assert trial.user_attrs["arch"] == arch.to_string() and trial.user_attrs["index"] == arch.index
        assert trial.value == pytest.approx(float(row["c10_val_acc_12ep"]), abs=1e-4)
        assert trial.user_attrs["test_acc"] == pytest.approx(float(row["c10_test_acc_200"]), abs=1e-4)


def test_benchmark_objective_rejects_an_unknown_dataset_before_any_trial():
    from nasforge.errors import ConfigError
    from nasforge.integrations.optuna import BenchmarkObjective

    with pytest.raises(ConfigError, match="cifar10"):
        BenchmarkObjective("no-store", "mnist")


# --- Optuna samplers as nasforge optimizers ---------------------------------------------------------------------


def run(opt, n: int) -> None:
    for _ in range(n):
        request = opt.ask()
        opt.tell(request, Result.complete(objective(request.arch)))


def test_reproposed_archs_are_told_to_optuna_as_fail_and_never_evaluated():
    import optuna

    from nasforge.optimizers import create_optimizer

    opt = create_optimizer("optuna-tpe", seed=2)
    run(opt, 120)
    asked = [r.arch for r, _ in opt.history]
    assert len(set(asked)) == 120
    assert opt.duplicates > 0  # Optuna's TPE does re-propose on NB201 (the reason for the rule)
    trials = opt.optuna_study.trials
    assert len(trials) == 120 + opt.duplicates
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    duplicate = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.params for t in complete] == [dict(zip([f"edge_{i}-{j}" for i, j in EDGES], a.ops)) for a in asked]
    assert [t.value for t in complete] == [objective(a) for a in asked]
    assert len(duplicate) == opt.duplicates
    for t in duplicate:  # each names an arch asked before it, with the parameters Optuna proposed
        earlier = {c.user_attrs.get("arch") or json.dumps(c.params) for c in trials[: t.number]}
        assert json.dumps(t.params) in earlier
        assert t.user_attrs["duplicate_of"] == NB201Arch(tuple(t.params[f"edge_{i}-{j}"] for i, j in EDGES)).to_string()


def test_a_sampler_that_only_repeats_gets_an_unseen_neighbour_after_max_duplicates():
    import optuna

    from nasforge.optimizers._optuna import OptunaOptimizer

    class Stuck(optuna.samplers.BaseSampler):  # an Optuna sampler that proposes the all-"none" cell only
        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            return "none"

    class StuckOptimizer(OptunaOptimizer):
        name = "optuna-stuck"

        def _sampler(self, optuna, seed):
            return Stuck()

    only = NB201Arch(("none",) * 6)
    opt = StuckOptimizer(0, max_duplicates=3)
    first = opt.ask()
    assert first.arch == only
    opt.tell(first, Result.complete(1.0))
    second = opt.ask()
    assert (opt.duplicates, opt.replacements) == (4, 1)  # 3 re-asks allowed, the 4th repeat is replaced
    assert second.arch in only.neighbors()
    last = opt.optuna_study.trials[-1]
    assert NB201Arch(tuple(last.params[f"edge_{i}-{j}"] for i, j in EDGES)) == second.arch  # Optuna records it
    assert [t.state.name for t in opt.optuna_study.trials] == ["COMPLETE", "FAIL", "FAIL", "FAIL", "FAIL", "RUNNING"]


class Separable:
    """A toy evaluator (no benchmark): the separable objective, 10 s per trial."""

    default_fidelity = 12

    def evaluate(self, request):
        return Result.complete(objective(request.arch), cost=10.0)

    def predicted_cost(self, request):
        return 10.0

    def config(self):
        return {"kind": "toy"}


@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-nsga2"])
def test_a_resumed_study_replays_into_optuna_and_continues_as_if_never_stopped(tmp_path, name):
    from nasforge.optimizers import create_optimizer

    with Study.create(tmp_path / "a", {"seed": 3}) as study:
        study.optimize(create_optimizer(name, 3), Separable(), n_iter=25)
    with Study.resume(tmp_path / "a", {"seed": 3}) as study:
        study.optimize(create_optimizer(name, 3), Separable(), n_iter=40)
        resumed = [t.arch for t in study.trials]
    with Study.create(tmp_path / "b", {"seed": 3}) as study:
        study.optimize(create_optimizer(name, 3), Separable(), n_iter=40)
        straight = [t.arch for t in study.trials]
    assert resumed == straight and len(set(straight)) == 40


def test_optuna_gp_keeps_the_contract_on_a_short_run():
    """optuna-gp costs about a second per ask here, so it has this short version of the contract tests."""
    from nasforge.optimizers import create_optimizer

    def history(seed: int) -> list:
        opt = create_optimizer("optuna-gp", seed)
        for _ in range(3):
            batch = [opt.ask() for _ in range(4)]  # 4 workers: nothing pending is asked again
            assert len({r.arch for r in batch}) == 4 and list(opt.pending) == batch
            for request in reversed(batch):
                opt.tell(request, Result.complete(objective(request.arch)))
        opt.tell(opt.ask(), Result.fail("diverged"))
        return [r for r, _ in opt.history]

    a = history(5)
    assert a == history(5) and a != history(6)
    assert len({r.arch for r in a}) == 13


# --- the CLI ------------------------------------------------------------------------------------------------------


def cli(*argv: str, code: str = "pass") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    script = f"import sys; {code}; from nasforge.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env, timeout=120)


def test_search_with_optuna_missing_is_one_line_naming_the_extra(tmp_path):
    out = str(tmp_path / "run")
    proc = cli("search", "--optimizer", "optuna-tpe", "--out", out, code="sys.modules['optuna'] = None")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == ["nasforge: error: optimizer optuna-tpe needs Optuna; install the optional extra: "
                     "pip install 'nasforge[optuna]'"]  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_cli_search_with_optuna_tpe_resumes_by_replay(real_data_dir, tmp_path):
    out = str(tmp_path / "run")
    first = cli("search", "--optimizer", "optuna-tpe", "--n-iter", "15", "--seed", "4", "--out", out, "--no-plots",
                "--data-dir", str(real_data_dir), "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "Trial" not in first.stderr  # Optuna's per-trial log lines are quieted
    again = cli("search", "--out", out, "--resume", "--no-plots", "--data-dir", str(real_data_dir), "--json")
    assert again.returncode == 0, again.stderr  # every stored trial was asked again, identically, on replay
    assert json.loads(again.stdout)["incumbent"] == json.loads(first.stdout)["incumbent"]
