"""nasforge.compat.nats on the size space against the real thing: the official ``nats_bench`` API and ours on the
same official sss files (NATS's three per-arch files and its meta file, in the directory layout NATS expects).
Every value of every call must be equal. The default store (the 90-epoch validation table of all 32,768 archs
plus the same files) must answer the same for those archs, the table's values for the others, and say what
exists for what the data lacks."""

from __future__ import annotations

import contextlib
import io
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

from nasforge.compat import nats, nats_size
from nasforge.compat.nats_size import NATSsize
from nasforge.errors import BenchmarkError, NasforgeError
from nasforge.spaces.nats_sss import SSSArch

nats_bench = pytest.importorskip("nats_bench", reason="the official NATS-Bench API (pip install nats_bench)")

pytestmark = pytest.mark.realdata

ARCHS = (0, 11, 284)  # the archs of NATS's sss fixture files
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = ("01", "12", "90")


@pytest.fixture(scope="module")
def sss_dir(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NATS's fast-mode directory ``NATS-sss-v1_0-50262-simple/`` rebuilt from the shared copies."""
    raw = real_data_dir / "nats_sss" / "raw"
    files = sorted(raw.glob("nats-bench-*__*.pickle.pbz2")) if raw.is_dir() else []
    if len(files) < 4:
        pytest.skip(f"NATS's sss files are absent from {raw}")
    target = tmp_path_factory.mktemp("nats") / "NATS-sss-v1_0-50262-simple"
    target.mkdir()
    for source in files:
        shutil.copy(source, target / source.name.rsplit("__", 1)[1])
    return target


@pytest.fixture(scope="module")
def apis(sss_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, NATSsize]:
    return make_apis(sss_dir, "sss", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def default(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> NATSsize:
    """create(None, 'sss'): the data directory's sss store (table + official files + counted costs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("NASFORGE_DATA", str(real_data_dir))
        if not (real_data_dir / "nats_sss" / "nats_sss_valid90_s777.csv.gz").is_file():
            pytest.skip("the sss 90-epoch table is absent")
        return nats.create(None, "sss", fast_mode=True, verbose=False)


def _epochs(hp: str) -> tuple[int | None, ...]:
    epochs = int(hp)
    return (None, *range(0, epochs, 1 if epochs <= 12 else 11), 1 % epochs, epochs - 2 if epochs > 1 else 0, epochs - 1)


@pytest.mark.parametrize("index", ARCHS)
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("hp", HPS)
def test_get_more_info_every_epoch_and_seed(apis: tuple, index: int, dataset: str, hp: str) -> None:
    check_get_more_info(apis, index, dataset, hp, _epochs(hp))


@pytest.mark.parametrize("index", ARCHS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_costs_latency_and_config(apis: tuple, index: int, dataset: str) -> None:
    check_costs_latency_and_config(apis, index, dataset, HPS)


def test_is_random_and_simulate_train_eval_follow_nats_draws(apis: tuple) -> None:
    official, ours = apis
    runs = []
    for api in apis:
        random.seed(3)
        api.reset_time()
        infos = [api.get_more_info(i, ds, None, hp) for i in ARCHS for ds in DATASETS for hp in HPS]
        sims = [api.simulate_train_eval(i, ds, iepoch=e, hp=hp) for hp in HPS for e in (None, 0)
                for i in ARCHS for ds in ("cifar10", "cifar100", "ImageNet16-120")]  # fmt: skip
        sims.append(api.simulate_train_eval(api.arch(11), "cifar100", hp="90", account_time=False))
        runs.append((infos, sims, api.used_time))
    assert runs[1] == runs[0]
    for api in apis:
        assert call(api.simulate_train_eval, 0, "cifar10-valid", hp="12") == "ValueError"


def test_names_indices_iteration_and_text(apis: tuple, capsys: pytest.CaptureFixture) -> None:
    official, ours = apis
    assert (ours.search_space_name, ours.full_train_epochs, ours.full_epochs_in_paper, ours.is_size,
            ours.is_topology) == (official.search_space_name, official.full_train_epochs,  # fmt: skip
                                  official.full_epochs_in_paper, official.is_size, official.is_topology)
    check_names_and_indices(apis, 32768, (0, 1, 11, 284, 4681, 31615, 32767),
                            ("8:8:8:8", "8:8:8:8:7", "8:8:8:8:72", " 8:8:8:8:8", "|nor_conv_3x3~0|", Tostr("9:8:8:8:8"),
                             3.5))  # fmt: skip
    assert ours[-1] == "64:64:64:64:64"
    for i in ARCHS:
        for hp in HPS:
            assert ours.query_info_str_by_arch(official.arch(i), hp) == official.query_info_str_by_arch(i, hp)
        assert ">>> 090 epochs >>>" in check_show(apis, capsys, i)


def test_unknown_dataset_hp_and_arch_raise_as_nats(apis: tuple, real_data_dir: Path) -> None:
    official, ours = apis
    for query in (
        lambda api: api.get_more_info(0, "cifar1000", None, "12"),
        lambda api: api.get_more_info(0, "cifar10", None, "200"),
        lambda api: api.get_cost_info(0, "mnist", "90"),
        lambda api: api.get_net_config(0, "mnist"),
    ):
        assert call(query, ours) == call(query, official) == "KeyError"
    with pytest.raises(KeyError) as info:
        ours.get_more_info(0, "cifar10", hp="200")
    assert isinstance(info.value, NasforgeError) and "'01', '12', '90'" in str(info.value)
    # bad input names what exists: the 8 channel choices, the 5 layers, the index range
    for bad, what in (("8:8:8:8:9", "8, 16, 24, 32, 40, 48, 56, 64"), ("8:8:8:8", "5 channel counts"),
                      (" 8:8:8:8:8", "canonical string is '8:8:8:8:8'"), (32768, r"\[0, 32768\]")):  # fmt: skip
        for lookup in (ours.get_more_info, ours.get_cost_info, ours.get_net_config):
            with pytest.raises(BenchmarkError, match=what):
                lookup(bad, "cifar10")
        assert call(official.get_more_info, bad, "cifar10") == "ValueError"
    # the topology space's files are not the size space's, and the other way round
    tss = sorted((real_data_dir / "nb201" / "curves" / "raw").glob("*__000011.pickle.pbz2"))
    if tss:
        with pytest.raises(BenchmarkError, match="tss .topology. file, not an sss file"):
            nats.create(str(tss[0]), "sss")


@pytest.mark.parametrize("hp", HPS)
@pytest.mark.parametrize(
    "dataset, metric_on_set",
    [("cifar10", "valid"), ("cifar10", "test"), ("cifar10", "train"), ("cifar10-valid", "x-valid"),
     ("cifar100", "valid"), ("cifar100", "test"), ("cifar100", "ori-test"), ("ImageNet16-120", "valid")],
)  # fmt: skip
def test_find_best(apis: tuple, dataset: str, metric_on_set: str, hp: str) -> None:
    check_find_best(apis, ARCHS, dataset, metric_on_set, hp, ((None, None), (10.0, None), (None, 0.05), (1.0, None)))


def test_network_from_config_counts_nats_params(apis: tuple) -> None:
    official, ours = apis
    for i in ARCHS:
        for dataset in ("cifar100", "ImageNet16-120"):
            config = ours.get_net_config(i, dataset)
            net = nats.get_cell_based_tiny_net(config)
            assert net.arch == SSSArch.from_index(i) and net.num_classes == official.get_net_config(i, dataset)[
                "num_classes"
            ]
            count = sum(p.numel() for p in net.parameters()) / 1e6  # NATS records millions of parameters
            assert count == pytest.approx(official.get_cost_info(i, dataset, "90")["params"], abs=1e-6)
    with pytest.raises(NasforgeError, match="cell"):
        nats.get_cell_based_tiny_net({**ours.get_net_config(0, "cifar10"), "genotype": "|none~0|"})


def test_default_store_answers_as_nats_for_the_official_archs(apis: tuple, default: NATSsize) -> None:
    official, _ = apis
    for index in ARCHS:
        for dataset in DATASETS:
            for hp in HPS:
                seeds = official.query_meta_info_by_index(index, hp).get_dataset_seeds(dataset)
                for is_random in (False, *seeds):
                    for iepoch in (None, 0):
                        want = official.get_more_info(index, dataset, iepoch, hp, is_random)
                        assert default.get_more_info(index, dataset, iepoch, hp, is_random) == want
                assert default.get_cost_info(index, dataset, hp) == official.get_cost_info(index, dataset, hp)


def test_default_store_gives_the_table_for_every_arch_and_names_what_is_missing(default: NATSsize) -> None:
    # the data README's checks: arch 0's seed-777 90-epoch validation accuracies, and the maxima of the table
    arch0 = [default.get_more_info(0, ds, hp="90", is_random=777)["valid-accuracy"] for ds in nats_size._TABLE_DATASETS]
    assert arch0 == pytest.approx([76.888, 32.240, 16.600])
    assert default.get_more_info(32767, "cifar10-valid", hp="90", is_random=777) == {
        "valid-accuracy": pytest.approx(90.712, abs=1e-3)
    }
    assert default.find_best("cifar10", "valid", hp="90") == (32767, pytest.approx(90.712, abs=1e-3))
    assert default.find_best("cifar100", "valid", hp="90") == (31615, pytest.approx(70.920, abs=1e-3))
    assert default.find_best("ImageNet16-120", "valid", hp="90") == (24511, pytest.approx(46.733, abs=1e-3))
    # params/FLOPs of every arch (the network's count): arch 0 on cifar10-valid as in NATS's file
    assert default.get_cost_info(0, "cifar10-valid", "90")["params"] == 0.011714
    assert default.get_cost_info(5, "cifar10-valid", "90").keys() == {"flops", "params"}
    random.seed(0)
    assert default.get_more_info(5, "cifar100", hp="90") == default.get_more_info(5, "cifar100", hp="90",
                                                                                   is_random=777)  # fmt: skip
    lacking = {
        "seed mean": lambda: default.get_more_info(5, "cifar100", hp="90", is_random=False),
        "hp='12'": lambda: default.get_more_info(5, "cifar100", hp="12", is_random=777),
        "iepoch=3": lambda: default.get_more_info(5, "cifar100", 3, hp="90", is_random=777),
        "on cifar10:": lambda: default.get_more_info(5, "cifar10", hp="90", is_random=777),
        "from \\[777\\]": lambda: default.get_more_info(5, "cifar100", hp="90", is_random=888),
        "no latency": lambda: default.get_latency(5, "cifar100", "90"),
        "no training time": lambda: default.simulate_train_eval(5, "cifar100", hp="90"),
        "for 3 archs only": lambda: default.find_best("cifar100", "test", hp="90"),
    }
    for what, lookup in lacking.items():
        with pytest.raises(BenchmarkError, match=what) as info:
            lookup()
        message = str(info.value)
        assert "\n" not in message and ("777" in message or "0, 11, 284" in message), message  # names what exists
    with contextlib.redirect_stdout(io.StringIO()) as out:
        default.show(5)
    assert "has not been evaluated" in out.getvalue()
