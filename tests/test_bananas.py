"""BANANAS and zero-cost-aware search (rea+zc, bananas+zc): hand-worked landscapes, acquisitions and charges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _cli import run as cli

from nasforge.benchmarks.blackbox import BenchmarkEvaluator, LookupTables
from nasforge.errors import ConfigError
from nasforge.optimizers import create_optimizer
from nasforge.optimizers._base import parse_optimizer_args
from nasforge.optimizers.bananas import BANANAS, MLPEnsemble, acquisition
from nasforge.optimizers.zerocost import ProxyScores
from nasforge.search.study import Study
from nasforge.spaces.nats_sss import SSSArch
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch
from nasforge.trial import Result

WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
OPTIMUM = NB201Arch(("avg_pool_3x3",) * 6)  # the unique best of WEIGHTS @ op indices: 4 * 21 = 84


def separable(arch: NB201Arch) -> float:
    return float(WEIGHTS @ np.array(arch.op_indices))


def proxy_table(seconds: np.ndarray | float = 1.0) -> ProxyScores:
    """A proxy that ranks archs by a fixed random permutation (unrelated to any objective), with given costs."""
    scores = np.random.default_rng(123).permutation(NUM_ARCHS).astype(float)
    return ProxyScores("perm", scores, np.broadcast_to(np.asarray(seconds, float), (NUM_ARCHS,)).copy())


def tiny_tables() -> LookupTables:
    """Lookup tables over all NB201 archs: validation = the separable objective, training time = 1 + index/1000."""
    idx = np.arange(NUM_ARCHS)
    valid = np.array([separable(NB201Arch.from_index(int(i))) for i in idx])
    return LookupTables(dataset="cifar10", valid={12: valid}, test=valid, train_time=1.0 + idx / 1000.0,
                        params=np.ones(NUM_ARCHS), flops=np.ones(NUM_ARCHS), report="cifar10:test_acc")  # fmt: skip


# --- BANANAS --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_bananas_finds_the_optimum_of_a_separable_landscape(seed):
    opt = create_optimizer("bananas", seed)
    for _ in range(150):
        request = opt.ask()
        opt.tell(request, Result.complete(separable(request.arch)))
    found = [r.arch for r, _ in opt.history]
    assert OPTIMUM in found  # 150 of 15,625 archs: random search finds it with probability about 1 %
    assert np.mean([separable(a) for a in found[-50:]]) > np.mean([separable(a) for a in found[:10]]) + 15


def test_bananas_on_nats_sss_climbs_to_the_widest_net():
    # Objective: total channels; the unique best of the 32,768 archs is 64:64:64:64:64.
    opt = create_optimizer("bananas", 0, space="nats-sss")
    for _ in range(120):
        request = opt.ask()
        assert isinstance(request.arch, SSSArch)
        opt.tell(request, Result.complete(float(sum(request.arch.channels))))
    best = max(sum(r.arch.channels) for r, _ in opt.history)
    assert best >= 5 * 64 - 16  # within two channel steps of the top (random: ~ 280 of 320 after 120 draws)


def test_proposals_after_the_initial_design_are_mutations_of_the_best():
    opt = BANANAS(0, num_init=10, batch=10, parents=2)
    for _ in range(10):
        r = opt.ask()
        opt.tell(r, Result.complete(separable(r.arch)))
    top2 = sorted(opt.evaluated, key=lambda av: -av[1])[:2]
    batch = [opt.ask().arch for _ in range(10)]
    neighbours = set(top2[0][0].neighbors()) | set(top2[1][0].neighbors())
    assert set(batch) <= neighbours and len(set(batch)) == 10
    assert opt.parents_used == {a for a, _ in top2}


def test_ucb_acquisition_is_mean_plus_beta_std():
    mean, std = np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 0.0])
    got = acquisition(mean, std, "ucb", np.random.default_rng(0), beta=0.5)
    assert got.tolist() == [2.5, 2.5, 3.0]


def test_thompson_sampling_draws_each_candidate_independently():
    # Candidate a ~ N(0, 1), b = 1 exactly: a wins with probability P(Z > 1) = 0.1587 (normal table).
    rng = np.random.default_rng(0)
    wins = [acquisition(np.array([0.0, 1.0]), np.array([1.0, 0.0]), "its", rng, beta=0.0).argmax() == 0
            for _ in range(20000)]  # fmt: skip
    assert np.mean(wins) == pytest.approx(0.1587, abs=0.01)
    # No spread: the draw is the mean.
    assert acquisition(np.array([4.0, 5.0]), np.zeros(2), "its", rng, 0.0).tolist() == [4.0, 5.0]


def test_the_ensemble_fits_a_linear_function_and_its_members_differ():
    rng = np.random.default_rng(0)
    X = (rng.random((80, 20)) < 0.2).astype(float)
    y = X @ np.linspace(-1, 1, 20)
    model = MLPEnsemble(5, 2, 32, 300, 0.01, np.random.default_rng(1)).fit(X, y)
    Xt = (rng.random((40, 20)) < 0.2).astype(float)
    pred = model.predict(Xt)
    assert pred.shape == (5, 40)
    assert np.corrcoef(pred.mean(axis=0), Xt @ np.linspace(-1, 1, 20))[0, 1] > 0.95
    assert pred.std(axis=0).mean() > 1e-3  # the members' different initialisations give a spread


def test_bananas_settings_are_declared_and_checked():
    assert parse_optimizer_args(BANANAS, "acquisition=ucb,num_init=5,zc_features=true") == {
        "acquisition": "ucb", "num_init": 5, "zc_features": True}  # fmt: skip
    with pytest.raises(ConfigError, match="give one of its, ucb"):
        parse_optimizer_args(BANANAS, "acquisition=ei")
    with pytest.raises(ConfigError, match="bananas has no setting 'pool'"):
        parse_optimizer_args(BANANAS, "pool=3")
    with pytest.raises(ConfigError, match="batch=20 is larger than candidates=10"):
        BANANAS(0, batch=20, candidates=10)


# --- zero-cost warm-up and features ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, k", [("rea+zc", 10), ("bananas+zc", 10)])
def test_warm_up_asks_the_proxys_top_k_of_the_pool_first(name, k):
    table = proxy_table()
    opt = create_optimizer(name, 5, zc=table)
    pool = opt.warm_pool
    assert len(pool) == 1000 == len(set(pool))
    expected = sorted(pool, key=lambda a: -table.scores[a.index])[:k]  # the top k, computed here by sorting
    asked = [opt.ask().arch for _ in range(k)]
    assert asked == expected


def test_rea_warm_up_charges_the_pool_on_the_simulated_clock():
    seconds = np.arange(NUM_ARCHS) / 100.0  # arch i's proxy costs i/100 s
    tables = tiny_tables()
    opt = create_optimizer("rea", 2, population_size=5, zc_pool=20, zc=proxy_table(seconds))
    outcome = Study.in_memory({}).optimize(opt, BenchmarkEvaluator(tables=tables), n_iter=30)
    pool_cost = sum(a.index / 100.0 for a in opt.warm_pool)
    training = sum((1.0 + t.arch.index / 1000.0) * 12 for t in outcome.trials)
    assert outcome.clock == pytest.approx(training + pool_cost)
    first = outcome.trials[0]
    assert first.result.cost == pytest.approx((1.0 + first.arch.index / 1000.0) * 12 + pool_cost)
    assert all(t.result.cost == pytest.approx((1.0 + t.arch.index / 1000.0) * 12) for t in outcome.trials[1:])


def test_bananas_zc_features_charge_each_scored_arch_once():
    seconds = 0.5 + np.arange(NUM_ARCHS) % 7  # distinct per arch
    opt = create_optimizer("bananas", 3, num_init=5, zc_pool=30, zc_features=True, zc=proxy_table(seconds),
                           candidates=40, epochs=30)  # fmt: skip
    outcome = Study.in_memory({}).optimize(opt, BenchmarkEvaluator(tables=tiny_tables()), n_iter=25)
    scored = set(opt.warm_pool) | set(opt._encoded)  # the pool, and every arch the predictor saw (train + candidates)
    training = sum((1.0 + t.arch.index / 1000.0) * 12 for t in outcome.trials)
    assert outcome.clock == pytest.approx(training + sum(seconds[a.index] for a in scored))


def test_zero_cost_settings_need_scores_and_a_large_enough_pool():
    with pytest.raises(ConfigError, match="needs zero-cost proxy scores"):
        create_optimizer("rea", 0, zc_pool=100)
    with pytest.raises(ConfigError, match="needs zero-cost proxy scores"):
        create_optimizer("bananas", 0, zc_features=True)
    with pytest.raises(ConfigError, match="zc_pool=5 is smaller than population_size=10"):
        create_optimizer("rea+zc", 0, zc_pool=5, zc=proxy_table())
    with pytest.raises(ConfigError, match="zc_pool=8 is smaller than num_init=10"):
        create_optimizer("bananas+zc", 0, zc_pool=8, zc=proxy_table())
    with pytest.raises(ConfigError, match="larger than the space"):
        create_optimizer("rea+zc", 0, zc_pool=20000, zc=proxy_table())
    with pytest.raises(ConfigError, match=r"rs has no zero-cost-aware variant; the ones .*: bananas\+zc, rea\+zc"):
        create_optimizer("rs+zc", 0)


def test_an_unscored_arch_is_an_error_naming_the_command():
    table = proxy_table()
    scores = table.scores.copy()
    scores[::2] = math.nan
    with pytest.raises(Exception, match="nasforge zc score"):
        create_optimizer("rea+zc", 0, zc=ProxyScores("perm", scores, table.seconds))


# --- the CLI ----------------------------------------------------------------------------------------------------


def test_compare_with_a_store_without_the_proxy_is_one_line(capsys, real_data_dir, tmp_path):
    code, out, err = cli(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea,rea+zc",
                         "--zc", "synflow", "--seeds", "2", "--datasets", "cifar10", "--time-budget", "2000",
                         "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "no zc_synflow on cifar10" in err and "nasforge zc score --dataset cifar10 --proxies synflow" in err
    assert "pass --zc-store STORE" in err and "zc_exact_store" not in err  # that script writes flops only
    assert not (tmp_path / "c" / "compare.json").exists()
    code, _, err = cli(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea+zc", "--zc", "flops",
                       "--seeds", "2", "--datasets", "cifar10", "--time-budget", "2000",
                       "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert "pass --zc-store STORE" in err and "'python perf/zc_exact_store.py --out STORE' (flops)" in err


def test_compare_with_an_unknown_proxy_lists_the_known_ones(capsys, real_data_dir, tmp_path):
    from nasforge.zerocost import PROXIES

    code, _, err = cli(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea+zc", "--zc", "bogus",
                       "--seeds", "2", "--datasets", "cifar10", "--time-budget", "2000",
                       "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"--zc bogus: unknown zero-cost proxy; known: {', '.join(PROXIES)}" in err
    assert not (tmp_path / "c").exists()


def test_compare_zc_store_given_as_its_manifest_asks_for_the_directory(capsys, real_data_dir, tmp_path):
    store = tmp_path / "zc"
    store.mkdir()
    (store / "manifest.json").write_text("{}")
    code, _, err = cli(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "rea+zc", "--zc", "flops",
                       "--zc-store", str(store / "manifest.json"), "--seeds", "2", "--datasets", "cifar10",
                       "--time-budget", "2000", "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1
    assert f"is a file; give the store directory ({store})" in err and "has no manifest.json" not in err
    assert (store / "manifest.json").read_text() == "{}" and not (tmp_path / "c").exists()


def test_a_missing_or_non_store_zc_store_names_the_zero_cost_store_and_how_to_make_one(
    capsys, real_data_dir, tmp_path
):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command, zc_store, proxy, what in (
        ("search", tmp_path / "absent", "synflow", "does not exist"),
        ("compare", tmp_path / "absent", "flops", "does not exist"),
        ("search", empty, "flops", "has no manifest.json"),
    ):
        extra = ("--optimizer", "rea+zc") if command == "search" else ("--optimizers", "rea+zc", "--seeds", "2")
        code, _, err = cli(capsys, command, "--data-dir", str(real_data_dir), *extra, "--zc", proxy,
                           "--zc-store", str(zc_store), "--time-budget", "20000",
                           "--out", str(tmp_path / "o"))  # fmt: skip
        assert code == 2 and err.count("\n") == 1, err
        # before: "... it is not a benchmark store; build one with 'nasforge bench import ...'"
        assert f"--zc-store {zc_store} {what}: it is not a zero-cost store" in err and "bench import" not in err
        assert f"'nasforge zc score --dataset cifar10 --proxies {proxy} --archs all --out {zc_store}'" in err
        assert ("perf/zc_exact_store.py" in err) == (proxy == "flops")  # it copies the flops only
    assert not (tmp_path / "o").exists() and not (tmp_path / "absent").exists() and not any(empty.iterdir())


def test_compare_zc_variant_without_a_proxy_is_one_line(capsys, real_data_dir, tmp_path):
    code, _, err = cli(capsys, "compare", "--data-dir", str(real_data_dir), "--optimizers", "bananas+zc",
                       "--seeds", "2", "--datasets", "cifar10", "--time-budget", "2000",
                       "--out", str(tmp_path / "c"))  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "give --zc PROXY" in err


@pytest.fixture(scope="module")
def flops_zc_store(real_data_dir, tmp_path_factory):
    """A zero-cost store whose proxy ``flops`` is each arch's NB201 FLOPs on cifar10, each score charged 0.5 s."""
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.builder import StoreBuilder

    bench, every = load_nb201(real_data_dir), np.arange(NUM_ARCHS)
    builder = StoreBuilder()
    builder.set_scalar("cifar10", "zc_flops", every, bench.query_many(every, "cifar10-valid", "flops"))
    builder.set_scalar("cifar10", "zc_flops_time", every, np.full(NUM_ARCHS, 0.5))
    return builder.write(tmp_path_factory.mktemp("zc") / "store")


def test_search_with_a_bad_bananas_setting_is_one_line(capsys, real_data_dir, tmp_path, flops_zc_store):
    zc = ["--zc", "flops", "--zc-store", str(flops_zc_store)]
    for args, message in ((["--optimizer-args", "population=3"], "bananas has no setting 'population'"),
                          (["--optimizer-args", "num_init=20,zc_pool=10", *zc],
                           "zc_pool=10 is smaller than num_init=20")):  # fmt: skip
        code, _, err = cli(capsys, "search", "--data-dir", str(real_data_dir), "--optimizer", "bananas",
                           "--n-iter", "5", "--out", str(tmp_path / "s"), *args)  # fmt: skip
        assert code == 2 and err.count("\n") == 1 and message in err, err


def test_search_runs_a_zc_variant_charges_its_proxy_once_and_resumes_to_the_same_trials(
    capsys, real_data_dir, tmp_path, flops_zc_store
):
    import json
    import sqlite3

    from nasforge.benchmarks import load_nb201

    bench, every, zc_store = load_nb201(real_data_dir), np.arange(NUM_ARCHS), flops_zc_store

    def search(out, *extra):
        code, stdout, err = cli(capsys, "search", "--data-dir", str(real_data_dir), "--out", str(out), "--no-plots",
                                "--json", *extra)  # fmt: skip
        assert code == 0, err
        return stdout

    argv = ("--optimizer", "rea+zc", "--zc", "flops", "--zc-store", str(zc_store), "--n-iter", "25", "--seed", "3")
    clean = json.loads(search(tmp_path / "clean", *argv))
    with sqlite3.connect(tmp_path / "clean" / "study.db") as db:
        archs = [NB201Arch.parse(a) for (a,) in db.execute("SELECT arch FROM trials ORDER BY number")]
    train_time = bench.query_many(every, "cifar10-valid", "train_time")
    # NB201's 12-epoch training time of each trial, plus the warm-up pool of 1,000 archs scored once at 0.5 s
    assert clean["clock_s"] == pytest.approx(sum(12 * train_time[a.index] for a in archs) + 1000 * 0.5)
    flops = bench.query_many(every, "cifar10-valid", "flops")
    assert [flops[a.index] for a in archs[:10]] == sorted((flops[a.index] for a in archs[:10]), reverse=True)
    # study show names the proxy the run ranked by (before: "rea on cifar10 (benchmark), seed 3" and nothing else)
    code, shown, _ = cli(capsys, "study", "show", str(tmp_path / "clean"))
    assert code == 0 and f"seed 3, zero-cost proxy flops from {zc_store}; 25 trials" in shown.splitlines()[0]
    # killed during trial 11: the resume replays the warm-up without charging it again
    search(tmp_path / "cut", *argv)
    with sqlite3.connect(tmp_path / "cut" / "study.db") as db:
        db.execute("DELETE FROM trials WHERE number >= 11")
        db.execute("DELETE FROM asks WHERE ask_number >= 12")
    resumed = json.loads(search(tmp_path / "cut", "--resume"))
    assert resumed["clock_s"] == clean["clock_s"] and resumed["incumbent"] == clean["incumbent"]
    code, _, err = cli(capsys, "search", "--data-dir", str(real_data_dir), "--out", str(tmp_path / "cut"), "--resume",
                       "--zc", "synflow")  # fmt: skip
    assert code == 2 and "--zc synflow given, flops stored" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "rea+zc"], "--zc is needed: rea+zc ranks archs by a zero-cost proxy"),
    (["--optimizer", "bananas", "--optimizer-args", "zc_features=true"], "--zc is needed: bananas ranks archs"),
    (["--optimizer", "rea", "--zc", "flops"], "--zc and --zc-store feed the NAME+zc optimizers"),
    (["--optimizer", "rea+zc", "--zc", "flops", "--train"], "exist for NB201 on the benchmark only"),
    (["--optimizer", "rea+zc", "--zc", "bogus"], "--zc bogus: unknown zero-cost proxy; known: "),
    (["--optimizer", "rea+zc", "--zc", "synflow"], "the benchmark store has no zc_synflow on cifar10"),
])  # fmt: skip
def test_search_zero_cost_bad_input_is_one_line(capsys, real_data_dir, tmp_path, args, message):
    code, out, err = cli(capsys, "search", "--data-dir", str(real_data_dir), "--n-iter", "5", "--no-plots",
                         "--out", str(tmp_path / "s"), *args)  # fmt: skip
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s").exists()
