"""nasforge.compat.nats on tiny hand-made files (no real data, no nats_bench): values worked out by hand from
the fixture's rules (tests/_benchmark_fixtures.py: train time 7.5 s/epoch, every eval pass 0.5 s, params 0.25 M,
flops 30.5 M, latency 0.0125 s, accuracies from ``nats_acc``)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from _benchmark_fixtures import NATS_INDEX, NATS_SEEDS, nats_acc, write_nats_file, write_nb201_csv

from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.importers import NB201_FINAL_MAPPING, import_nats, import_table
from nasforge.compat import nats
from nasforge.errors import BenchmarkError
from nasforge.spaces.nb201 import NB201Arch


@pytest.fixture
def api(tmp_path: Path) -> nats.NATStopology:
    builder = StoreBuilder()
    import_table(builder, write_nb201_csv(tmp_path / "t.csv.gz"), NB201_FINAL_MAPPING, name="nb201-csv")
    import_nats(builder, [write_nats_file(tmp_path)])
    return nats.create(builder.write(tmp_path / "store"), "tss", verbose=False, rng=random.Random(0))


def test_importer_keeps_times_and_per_seed_costs(api: nats.NATStopology) -> None:
    store = api.store
    assert store.curve(NATS_INDEX, "cifar100", "ori_test_time", seed=888).tolist() == [0.5] * 200
    assert store.curve(NATS_INDEX, "cifar10-valid", "valid_time_12ep", seed=111).tolist() == [0.5] * 12
    assert store.curve(NATS_INDEX, "ImageNet16-120", "train_time_12ep", seed=111).tolist() == [7.5] * 12
    assert store.seeds(NATS_INDEX, "cifar10", "params", curve=False) == list(NATS_SEEDS["200"])
    assert store.query(NATS_INDEX, "cifar10-valid", "latency_12ep", seed=777) == 0.0125


def test_get_more_info_by_hand(api: nats.NATStopology) -> None:
    info = api.get_more_info(NATS_INDEX, "cifar100", iepoch=9, hp="200", is_random=888)
    assert info["train-accuracy"] == pytest.approx(20 + 9 / 10 + 888 / 1000)
    assert info["train-all-time"] == 7.5 * 10 and info["train-per-time"] == 7.5
    # cifar100's x-valid/x-test exist at the last epoch only; ori-test ("valtest") at every epoch
    assert "valid-accuracy" not in info and "test-accuracy" not in info
    assert info["valtest-accuracy"] == pytest.approx(nats_acc("cifar100", "ori-test", 888, 9))
    assert info["valtest-all-time"] == 0.5 * 10 and info["valtest-per-time"] == 0.5
    mean = api.get_more_info(NATS_INDEX, "cifar10-valid", hp="12", is_random=False)
    assert mean["valid-accuracy"] == pytest.approx(nats_acc("cifar10-valid", "x-valid", (111 + 777) / 2, 11))
    assert mean["test-loss"] == pytest.approx(nats_acc("cifar10-valid", "ori-test", (111 + 777) / 2, 11) / 100)


def test_simulate_train_eval_charges_training_and_one_validation_pass(api: nats.NATStopology) -> None:
    arch = NB201Arch.from_index(NATS_INDEX)
    acc, latency, cost, total = api.simulate_train_eval(arch, "cifar10", hp="12")
    assert cost == 12 * 7.5 + 0.5 and total == cost and latency == 0.0125
    assert any(acc == pytest.approx(nats_acc("cifar10-valid", "x-valid", s, 11)) for s in NATS_SEEDS["12"])
    # cifar100 at epoch 3: NATS takes the valtest accuracy; this file times x-valid at the last epoch only, so the
    # validation pass has no recorded time and only the 4 training epochs are charged
    acc, _, cost_c100, _ = api.simulate_train_eval(arch.to_string(), "cifar100", iepoch=3, hp="200")
    assert cost_c100 == 4 * 7.5 and api.used_time == cost + cost_c100
    assert any(acc == pytest.approx(nats_acc("cifar100", "ori-test", s, 3)) for s in NATS_SEEDS["200"])
    api.reset_time()
    assert api.used_time == 0


def test_costs_by_hand(api: nats.NATStopology) -> None:
    costs = api.get_cost_info(NATS_INDEX, "cifar100", "200")
    assert costs["flops"] == 30.5 and costs["params"] == 0.25
    assert costs["latency"] == pytest.approx(0.0125)  # NATS's sum over 3 seeds / 3 is 1 ulp off
    assert costs["T-train@epoch"] == 7.5 and costs["T-train@total"] == 7.5 * 200
    assert costs["T-ori-test@total"] == 0.5 * 200 and costs["T-ori-test@epoch"] == 0.5
    # this file records x-valid/x-test times at the last epoch only: NATS's get_times gives None for them
    assert costs["T-x-test@total"] is None and costs["T-x-valid@epoch"] is None


def test_archs_without_nats_records_answer_from_seed_means(api: nats.NATStopology, tmp_path: Path) -> None:
    # arch 6111 has only the table's seed means: accuracies and training time, no seeds to draw
    info = api.get_more_info(6111, "cifar10-valid", hp="200")
    assert info["valid-accuracy"] == api.store.query(6111, "cifar10-valid", "valid_acc")
    assert info["train-all-time"] == pytest.approx(api.store.query(6111, "cifar10-valid", "train_time") * 200)
    acc, _, cost, _ = api.simulate_train_eval(6111, "cifar10", hp="12")
    assert acc == api.store.query(6111, "cifar10-valid", "valid_acc_12ep")
    assert cost == pytest.approx(api.store.query(6111, "cifar10-valid", "train_time") * 12)  # no eval time recorded
    with pytest.raises(BenchmarkError, match="per-epoch"):
        api.get_more_info(6111, "cifar10-valid", iepoch=3, hp="200")


def test_indices_and_errors(api: nats.NATStopology) -> None:
    assert api.query_index_by_arch(NB201Arch.from_index(9930)) == 9930
    assert api.query_index_by_arch(" " + api.arch(5)) == -1  # NATS matches the exact string only
    with pytest.raises(BenchmarkError, match="not an architecture"):
        api.get_more_info("|none~0|", "cifar10")
    with pytest.raises(KeyError, match="unknown hp"):
        api.get_more_info(NATS_INDEX, "cifar10", hp="90")
    with pytest.raises(ValueError, match="can not find random seed"):
        api.get_more_info(NATS_INDEX, "cifar10", hp="200", is_random=5)


def test_older_nb201_names_default_to_200_epochs(api: nats.NATStopology) -> None:
    old = nats.NASBench201API(api.store.path, verbose=False)
    assert old.get_more_info(NATS_INDEX, "cifar10", is_random=False) == api.get_more_info(
        NATS_INDEX, "cifar10", hp="200", is_random=False
    )
    assert old.get_cost_info(NATS_INDEX, "cifar10", use_12epochs_result=True) == api.get_cost_info(
        NATS_INDEX, "cifar10", "12"
    )
    assert old.query_by_arch(NATS_INDEX) == api.query_info_str_by_arch(NATS_INDEX, "200")


def test_one_file_benchmark_and_its_meta_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NATS's non-fast-mode file: the meta fields plus ``arch2infos`` {index: the per-arch file's content}."""
    import bz2
    import pickle

    records = pickle.loads(bz2.decompress(write_nats_file(tmp_path).read_bytes()))
    meta = [NB201Arch.from_index(i).to_string() for i in range(15625)]
    one_file = {"meta_archs": meta, "total_archs": 15625, "arch2infos": {NATS_INDEX: records},
                "evaluated_indexes": {NATS_INDEX}}  # fmt: skip
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(one_file)))
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    api = nats.create(str(path), "tss", fast_mode=False, verbose=False)
    info = api.get_more_info(NATS_INDEX, "cifar10", hp="12", is_random=111)
    assert info["test-accuracy"] == pytest.approx(nats_acc("cifar10", "ori-test", 111, 11))
    assert info["train-all-time"] == 12 * 7.5
    meta[3], meta[4] = meta[4], meta[3]
    path.write_bytes(bz2.compress(pickle.dumps(one_file)))
    builder = StoreBuilder()
    with pytest.raises(BenchmarkError, match=r"meta_archs\[3\]"):
        import_nats(builder, [path])
    assert not builder.scalars  # nothing added
