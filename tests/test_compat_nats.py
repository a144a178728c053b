"""nasforge.compat.nats against the real thing: the official ``nats_bench`` API and ours on the same official
files (NATS's three per-arch test-fixture files and its meta file, in the directory layout NATS expects).
Every value of every call must be equal; and the NATS-style example scripts must give the same trajectories."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from _nats_compat import (
    Tostr,
    call,
    check_costs_latency_and_config,
    check_find_best,
    check_get_more_info,
    check_names_and_indices,
    check_show,
    make_apis,
)

from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.importers import import_nats
from nasforge.benchmarks.store import open_store
from nasforge.compat import nats
from nasforge.errors import BenchmarkError, NasforgeError
from nasforge.spaces.nb201 import NB201Arch

nats_bench = pytest.importorskip("nats_bench", reason="the official NATS-Bench API (pip install nats_bench)")

pytestmark = pytest.mark.realdata

ARCHS = (0, 11, 284)  # the archs of NATS's fixture files
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = ("12", "200")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "nats_compat"


@pytest.fixture(scope="module")
def nats_dir(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NATS's fast-mode directory ``NATS-tss-v1_0-3ffb9-simple/`` rebuilt from the shared copies."""
    nb201 = real_data_dir / "nb201"
    metas = sorted((nb201 / "nats_tss_meta").glob("*meta.pickle.pbz2"))
    if not metas:
        pytest.skip(f"the NATS meta file is absent from {nb201 / 'nats_tss_meta'}")
    target = tmp_path_factory.mktemp("nats") / "NATS-tss-v1_0-3ffb9-simple"
    target.mkdir()
    shutil.copy(metas[0], target / "meta.pickle.pbz2")
    for index in ARCHS:
        (source,) = (nb201 / "curves" / "raw").glob(f"*__{index:06d}.pickle.pbz2")
        shutil.copy(source, target / f"{index:06d}.pickle.pbz2")
    return target


@pytest.fixture(scope="module")
def apis(nats_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, nats.NATStopology]:
    return make_apis(nats_dir, "tss", tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("index", ARCHS)
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("hp", HPS)
def test_get_more_info_every_epoch_and_seed(apis: tuple, index: int, dataset: str, hp: str) -> None:
    epochs = int(hp)
    # every epoch of the 12-epoch schedule; of the 200-epoch one its ends and a stride (each epoch is one lookup)
    check_get_more_info(apis, index, dataset, hp, (None, *range(0, epochs, 1 if epochs == 12 else 23), 1,
                                                   epochs - 2, epochs - 1))  # fmt: skip


@pytest.mark.parametrize("index", ARCHS)
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("hp", HPS)
def test_costs_latency_and_config(apis: tuple, index: int, dataset: str, hp: str) -> None:
    check_costs_latency_and_config(apis, index, dataset, (hp,))


def test_is_random_draws_the_same_seeds(apis: tuple) -> None:
    official, ours = apis
    for api in apis:
        random.seed(3)
        api.values = [api.get_more_info(i, ds, None, hp) for i in ARCHS for ds in DATASETS for hp in HPS]
    assert ours.values == official.values
    # a private generator seeded alike gives the same draws without touching the shared one
    random.seed(3)
    private = nats.NATStopology(ours.store, verbose=False, rng=random.Random(3))
    assert [private.get_more_info(i, ds, None, hp) for i in ARCHS for ds in DATASETS for hp in HPS] == official.values


@pytest.mark.parametrize("hp", HPS)
def test_simulate_train_eval_and_clock(apis: tuple, hp: str) -> None:
    runs = []
    for api in apis:
        random.seed(11)
        api.reset_time()
        calls = [api.simulate_train_eval(i, ds, iepoch=e, hp=hp)
                 for e in (None, 0, 5) for i in ARCHS for ds in ("cifar10", "cifar100", "ImageNet16-120")]  # fmt: skip
        calls.append(api.simulate_train_eval(api.arch(11), "cifar100", hp=hp, account_time=False))
        runs.append((calls, api.used_time))
        api.reset_time()
        assert api.used_time == 0
    assert runs[1] == runs[0]
    for api in apis:
        assert call(api.simulate_train_eval, 0, "cifar10-valid", hp=hp) == "ValueError"


def test_names_indices_iteration_and_text(apis: tuple, capsys: pytest.CaptureFixture) -> None:
    official, ours = apis
    check_names_and_indices(apis, 15625, (0, 1, 11, 284, 9930, 15624),
                            ("|nor_conv_3x3~0|", "not an arch", Tostr("|x~0|"), 3.5))  # fmt: skip
    for i in ARCHS:
        for hp in HPS:
            assert ours.query_info_str_by_arch(official.arch(i), hp) == official.query_info_str_by_arch(i, hp)
            assert ours.query_by_arch(i, hp) == official.query_by_arch(i, hp)
        check_show(apis, capsys, i)


def test_unknown_dataset_hp_and_space_raise_as_nats(apis: tuple, real_data_dir: Path) -> None:
    official, ours = apis
    for query in (
        lambda api: api.get_more_info(0, "cifar1000", None, "12"),
        lambda api: api.get_more_info(0, "cifar10", None, "90"),
        lambda api: api.get_cost_info(0, "mnist", "200"),
    ):
        assert call(query, ours) == call(query, official) == "KeyError"
    with pytest.raises(KeyError) as info:
        ours.get_more_info(0, "cifar1000")
    assert isinstance(info.value, NasforgeError) and "cifar1000" in str(info.value)
    with pytest.raises(ValueError):
        nats_bench.create(None, "xyz")
    with pytest.raises(BenchmarkError, match="invalid search space"):
        nats.create(None, "xyz")
    with pytest.raises(BenchmarkError, match="not a NATS-Bench tss file|malformed NATS-Bench tss file"):
        # the size space's files are not the topology space's (its own API: test_compat_nats_size.py)
        nats.create(str(next((real_data_dir / "nats_sss" / "raw").glob("*__000011.pickle.pbz2"))), "tss")
    with pytest.raises(BenchmarkError, match="neither a file or a dir"):
        nats.create("/nonexistent/NATS-tss", "tss")


def test_network_from_config_is_nb201s(apis: tuple) -> None:
    official, ours = apis
    for i in ARCHS:
        for dataset in ("cifar100",):
            net = nats.get_cell_based_tiny_net(ours.get_net_config(i, dataset))
            assert (
                net.arch == NB201Arch.from_index(i)
                and net.num_classes == official.get_net_config(i, dataset)["num_classes"]
            )
            # NATS records the parameter count (millions) of the network it trained
            count = sum(p.numel() for p in net.parameters()) / 1e6
            assert count == pytest.approx(official.get_cost_info(i, dataset, "200")["params"], abs=1e-6)


def test_importer_keeps_nats_times_and_checks_the_meta_file(nats_dir: Path, tmp_path: Path) -> None:
    builder = StoreBuilder()
    assert sorted(import_nats(builder, [nats_dir])) == list(ARCHS)
    store = open_store(builder.write(tmp_path / "store"))
    official = nats_bench.create(str(nats_dir), "tss", fast_mode=True, verbose=False)
    record = official.query_by_index(11, "cifar100", hp="200")[888]
    assert store.curve(11, "cifar100", "test_time", seed=888).tolist() == [
        record.eval_times[f"x-test@{e}"] for e in range(200)
    ]
    assert (
        store.query(11, "cifar100", "valid_time_12ep", seed=111)
        == official.query_by_index(11, "cifar100", hp="12")[111].eval_times["x-valid@11"]
    )
    assert any(p["importer"] == "nats-meta" and p["meta_archs"] == 15625 for p in store.provenance)
    # a meta file listing the archs in another order is refused
    import bz2
    import pickle

    meta = pickle.loads(bz2.decompress((nats_dir / "meta.pickle.pbz2").read_bytes()))
    meta["meta_archs"][0], meta["meta_archs"][1] = meta["meta_archs"][1], meta["meta_archs"][0]
    bad = tmp_path / "meta.pickle.pbz2"
    bad.write_bytes(bz2.compress(pickle.dumps(meta)))
    with pytest.raises(BenchmarkError, match=r"meta_archs\[0\]"):
        import_nats(StoreBuilder(), [bad])
    with pytest.raises(BenchmarkError, match="holds arch strings only"):
        import_nats(StoreBuilder(), [nats_dir / "meta.pickle.pbz2"])


def test_cli_imports_the_official_directory(nats_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nasforge.cli.main import main

    assert main(["bench", "import", "nats", str(nats_dir), "-o", str(tmp_path / "store")]) == 0
    store = open_store(tmp_path / "store")
    assert store.seeds(284, "cifar10-valid", "train_time_12ep", curve=True) == [111, 777]
    capsys.readouterr()
    assert main(["bench", "import", "nats", str(nats_dir / "meta.pickle.pbz2"), "-o", str(tmp_path / "s2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "per-arch" in err and not (tmp_path / "s2").exists()


def _script(name: str, official: bool) -> dict:
    """The example script's namespace; for ``official`` with its import line switched to ``nats_bench``."""
    source = (EXAMPLES / name).read_text()
    line = "from nasforge.compat.nats import create"
    assert source.count(line) == 1
    if official:
        source = source.replace(line, "from nats_bench import create")
    namespace: dict = {"__name__": f"nats_example_{official}"}
    exec(compile(source, str(EXAMPLES / name), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name", ["random_search.py", "regularized_evolution.py"])
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_example_scripts_give_the_same_trajectories(
    name: str, dataset: str, nats_dir: Path, apis: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    argv = ["--path", str(nats_dir), "--dataset", dataset, "--time-budget", "3000", "--seeds", "3",
            "--candidates", "0,11,284", "--json"]  # fmt: skip
    results = [_script(name, official)["main"](argv) for official in (True, False)]
    assert results[1] == results[0]
    histories = [run["history"] for run in results[0]["runs"]]
    assert all(len(h) > 10 for h in histories) and len({tuple(h) for h in histories}) == 3  # seeds differ


def test_default_store_answers_as_nats_for_the_fixture_archs(
    apis: tuple, real_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create(None, ...) opens the data directory's store (NB201 tables + the same NATS files): the NATS-recorded
    archs still answer exactly as the official API does."""
    official, _ = apis
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("NASFORGE_DATA", str(real_data_dir))
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    default = nats.create(None, "tss", fast_mode=True, verbose=False)
    for index in ARCHS:
        for dataset in DATASETS:
            for hp in HPS:
                seeds = official.query_meta_info_by_index(index, hp).get_dataset_seeds(dataset)
                for is_random in (False, *seeds):
                    for iepoch in (None, 3):
                        want = official.get_more_info(index, dataset, iepoch, hp, is_random)
                        assert default.get_more_info(index, dataset, iepoch, hp, is_random) == want
                assert default.get_cost_info(index, dataset, hp) == official.get_cost_info(index, dataset, hp)
    # over all 15,625 archs find_best gives NB201's published optima (the data README's checks)
    assert default.find_best("cifar10", "test", hp="200") == (6111, pytest.approx(94.373, abs=1e-3))
    assert default.find_best("cifar10", "valid", hp="200") == (6111, pytest.approx(91.607, abs=1e-3))
    assert default.find_best("cifar100", "test", hp="200") == (9930, pytest.approx(73.513, abs=1e-3))
    assert default.find_best("ImageNet16-120", "valid", hp="200") == (10676, pytest.approx(46.767, abs=1e-3))


@pytest.mark.parametrize("hp", HPS)
@pytest.mark.parametrize(
    "dataset, metric_on_set",
    [("cifar10", "valid"), ("cifar10", "test"), ("cifar10", "train"), ("cifar10-valid", "x-valid"),
     ("cifar100", "valid"), ("cifar100", "test"), ("cifar100", "ori-test"), ("ImageNet16-120", "valid")],
)  # fmt: skip
def test_find_best(apis: tuple, dataset: str, metric_on_set: str, hp: str) -> None:
    check_find_best(apis, ARCHS, dataset, metric_on_set, hp, ((None, None), (100.0, None), (None, 0.11), (1.0, None)))
