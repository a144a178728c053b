"""Importers on tiny files in the real formats, and on bad files (random bytes, truncation, code-running pickles)."""

from __future__ import annotations

import bz2
import os
import pickle

import numpy as np
import pytest
from _benchmark_fixtures import (
    CSV_ARCHS,
    NASLIB_ARCHS,
    NATS_INDEX,
    CodeRunner,
    csv_cell,
    naslib_cost,
    naslib_value,
    nats_acc,
    write_naslib_pickle,
    write_nats_file,
    write_nb201_csv,
)

from nasforge.benchmarks import importers as imp
from nasforge.benchmarks._unpickle import safe_loads
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.store import open_store
from nasforge.errors import BenchmarkError
from nasforge.spaces.nb201 import NB201Arch


def build(tmp_path, *steps):
    builder = StoreBuilder()
    for step in steps:
        step(builder)
    return open_store(builder.write(tmp_path / "store"))


# --- the NB201 table -------------------------------------------------------------------------------------------


def test_nb201_csv_maps_each_column_to_its_dataset_and_split(tmp_path):
    csv_path = write_nb201_csv(tmp_path / "t.csv.gz")
    store = build(tmp_path, lambda b: imp.import_table(b, csv_path, imp.NB201_FINAL_MAPPING))
    for row, index in enumerate(CSV_ARCHS):
        v = lambda col, row=row: float(csv_cell(row, col))  # noqa: E731
        # CIFAR-10 validation comes from the 25k-image model (cifar10-valid), test from the 50k one (cifar10).
        assert store.query(index, "cifar10-valid", "valid_acc") == v("c10_val_acc_200")
        assert store.query(index, "cifar10", "test_acc") == v("c10_test_acc_200")
        assert store.query(index, "cifar10-valid", "test_acc") == v("c10_valtest_acc_200_v11")
        assert store.query(index, "cifar100", "valid_acc") == v("c100_val_acc_200")
        assert store.query(index, "ImageNet16-120", "test_acc") == v("in16_test_acc_200")
        assert store.query(index, "cifar10-valid", "valid_acc_12ep") == v("c10_val_acc_12ep")
        assert store.query(index, "cifar10", "test_acc_12ep") == v("c10_test_acc_12ep")
        assert store.query(index, "cifar100", "train_time") == pytest.approx(v("c100_train_time_200ep_s") / 200)
        assert store.query(index, "ImageNet16-120", "params") == v("in16_params_M_nb201")
        assert store.query(index, "cifar10", "params_exact") == v("c10_params_M")
        assert (
            store.query(index, "cifar10", "flops") == store.query(index, "cifar10-valid", "flops") == v("c10_flops_M")
        )
        assert store.query(index, "cifar100", "latency") == v("c100_latency_s")
        assert store.query(index, "cifar10-valid", "valid_acc_nats", seed=1) == v("c10_val_acc_200_nats_s2")
    # Row 1 (arch 6111) has two seeds: position 2 does not exist, and the error says which positions do.
    with pytest.raises(BenchmarkError, match=r"2 seeds, positions 0\.\.1 \(seed ids not recorded\)"):
        store.query(6111, "cifar100", "valid_acc_nats", seed=2)
    with pytest.raises(BenchmarkError, match="seed ids not recorded"):
        store.query(0, "cifar100", "valid_acc_nats", seed=777)
    with pytest.raises(BenchmarkError, match="is not recorded for arch 1; the store has it for 3 of 15625"):
        store.query(1, "cifar10", "test_acc")


@pytest.mark.parametrize("scale", ["nan", "inf", "-1e400", "0", "abc"])
def test_a_column_scale_must_be_a_finite_nonzero_number(scale):
    with pytest.raises(BenchmarkError, match="bad scale in column mapping"):
        imp.ColumnMap.parse(f"acc=cifar10:test_acc*{scale}")


def test_generic_tsv_with_index_key_and_scale(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("index\tacc\tsecs\n5\t71.5\t400\n7\t72.5\t600\n")
    maps = [imp.ColumnMap.parse("acc=cifar100:test_acc"), imp.ColumnMap.parse("secs=cifar100:train_time*0.005")]
    store = build(tmp_path, lambda b: imp.import_table(b, path, maps, key="index"))
    assert store.query_many([5, 7], "cifar100", "test_acc").tolist() == [71.5, 72.5]
    assert store.query(7, "cifar100", "train_time") == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drop": "c100_test_acc_200"}, "missing column.*c100_test_acc_200"),
        ({"bad_cell": (2, "c10_flops_M", "12,5x")}, r"line 4, column 'c10_flops_M': '12,5x' is not a number"),
        ({"bad_cell": (0, "arch_str", "|conv~0|")}, "line 2: bad architecture"),
    ],
)
def test_bad_tables_name_the_problem(tmp_path, kwargs, message):
    csv_path = write_nb201_csv(tmp_path / "t.csv.gz", **kwargs)
    with pytest.raises(BenchmarkError, match=message):
        imp.import_table(StoreBuilder(), csv_path, imp.NB201_FINAL_MAPPING)


@pytest.mark.parametrize("content", [os.urandom(3000), b"\x1f\x8b" + os.urandom(200), b"arch_str,x\n"])
def test_random_bytes_truncated_gzip_and_empty_tables_are_refused(tmp_path, content):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(content)
    with pytest.raises(BenchmarkError, match=str(path)):
        imp.import_table(StoreBuilder(), path, imp.NB201_FINAL_MAPPING)


def test_curves_csv(tmp_path):
    path = tmp_path / "c.csv"
    a0, a1 = NB201Arch.from_index(0).to_string(), NB201Arch.from_index(3).to_string()
    path.write_text(f'arch_i,arch_str,train_accs,val_accs\n0,{a0},"[1.0, 2.0, 3.0]","[0.5, 1.5, 2.5]"\n'
                    f'3,{a1},"[4, 5, 6]","[7, 8, 9]"\n')  # fmt: skip
    store = build(tmp_path, lambda b: imp.import_curves_csv(b, path))
    assert store.curve(3, "cifar10-valid", "valid_acc").tolist() == [7, 8, 9]
    assert store.query(0, "cifar10-valid", "train_acc", epoch=1) == 2.0
    assert store.curve_archs("cifar10-valid", "train_acc").tolist() == [0, 3]
    with pytest.raises(
        BenchmarkError, match=r"no valid_acc curve on cifar10-valid; curves exist for 2 archs \(indices 0, 3\)"
    ):
        store.query(1, "cifar10-valid", "valid_acc", epoch=1)
    path.write_text(f'arch_str,train_accs,val_accs\n{a0},"[1.0, oops]","[1]"\n')
    with pytest.raises(BenchmarkError, match="line 2, column 'train_accs': expected a list of numbers"):
        imp.import_curves_csv(StoreBuilder(), path)


# --- NASLib's pickle --------------------------------------------------------------------------------------------


def test_naslib_pickle_splits_curves_from_the_trailing_test_entry(tmp_path):
    path = write_naslib_pickle(tmp_path / "nb201_cifar10_full_training.pickle")
    store = build(tmp_path, lambda b: imp.import_naslib_pickle(b, path))
    for k, index in enumerate(NASLIB_ARCHS):
        valid = store.curve(index, "cifar10-valid", "valid_acc")
        assert len(valid) == 200 and valid[37] == naslib_value("eval_acc1es", k, 37)
        assert store.query(index, "cifar10-valid", "valid_acc") == naslib_value("eval_acc1es", k, 199)
        assert store.query(index, "cifar10-valid", "test_acc") == 99.0 - k  # the 201st entry
        assert store.query(index, "cifar10-valid", "train_loss", epoch=9) == naslib_value("train_losses", k, 9)
        for key, value in naslib_cost(k).items():
            assert store.query(index, "cifar10-valid", key) == value
        assert store.train_cost(index, "cifar10-valid", 12, schedule="12") == pytest.approx(12 * (7.25 + k))


def test_naslib_pickle_with_wrong_structure(tmp_path):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps({NB201Arch.from_index(0).to_string(): {"cifar10-valid": {"train_acc1es": [1.0]}}}))
    with pytest.raises(BenchmarkError, match="lacks the list 'train_losses'"):
        imp.import_naslib_pickle(StoreBuilder(), path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(BenchmarkError, match="expected a dict arch_str"):
        imp.import_naslib_pickle(StoreBuilder(), path)


def test_truncated_pickle_is_refused(tmp_path):
    path = write_naslib_pickle(tmp_path / "p.pickle")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(BenchmarkError, match="truncated"):
        imp.import_naslib_pickle(StoreBuilder(), path)


def test_code_running_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    for protocol in (0, 2, 5):
        path = tmp_path / f"evil{protocol}.pickle"
        path.write_bytes(pickle.dumps({"x": CodeRunner(marker)}, protocol=protocol))
        with pytest.raises(BenchmarkError, match=r"refused to unpickle: the file references posix\.system"):
            imp.import_naslib_pickle(StoreBuilder(), path)
    bz = tmp_path / "000000.pickle.pbz2"
    bz.write_bytes(bz2.compress(pickle.dumps(CodeRunner(marker))))
    with pytest.raises(BenchmarkError, match="refused to unpickle"):
        imp.import_nats(StoreBuilder(), [bz])
    assert not marker.exists()


def test_unpickler_allows_exactly_containers_numbers_and_numpy():
    value = {"a": [1, 2.5, (3, None)], "b": np.arange(4.0), "c": np.float64(0.5), "d": {1, 2}, "e": b"x"}
    for protocol in (2, 4, 5):
        out = safe_loads(pickle.dumps(value, protocol=protocol))
        assert out["a"] == value["a"] and out["b"].tolist() == [0, 1, 2, 3] and out["c"] == 0.5 and out["d"] == {1, 2}
    for forbidden in (pickle.dumps(print), pickle.dumps(np.load), pickle.dumps(NB201Arch.from_index(0))):
        with pytest.raises(BenchmarkError, match="refused to unpickle"):
            safe_loads(forbidden)


# --- NATS-Bench per-arch files ----------------------------------------------------------------------------------


def test_nats_file_gives_seeds_curves_and_splits(tmp_path):
    path = write_nats_file(tmp_path)
    store = build(tmp_path, lambda b: imp.import_nats(b, [tmp_path]))
    mean = lambda ds, split, e, seeds=(777, 888, 999): np.mean([nats_acc(ds, split, s, e) for s in seeds])  # noqa: E731
    # cifar10-valid: x-valid at every epoch (valid_acc curve), ori-test at the end only (test_acc final).
    assert store.seeds(NATS_INDEX, "cifar10-valid", "valid_acc", curve=True) == [777, 888, 999]
    assert store.query(NATS_INDEX, "cifar10-valid", "valid_acc", epoch=50, seed=888) == nats_acc(
        "cifar10-valid", "x-valid", 888, 50
    )
    assert store.query(NATS_INDEX, "cifar10-valid", "valid_acc", epoch=50) == pytest.approx(
        mean("cifar10-valid", "x-valid", 50)
    )
    assert store.query(NATS_INDEX, "cifar10-valid", "test_acc") == pytest.approx(mean("cifar10-valid", "ori-test", 199))
    assert store.query(NATS_INDEX, "cifar10-valid", "valid_acc_nats", seed=999) == nats_acc(
        "cifar10-valid", "x-valid", 999, 199
    )
    # seed=2 is the third seed in ascending order, i.e. 999
    assert store.query(NATS_INDEX, "cifar100", "test_acc", seed=2) == nats_acc("cifar100", "x-test", 999, 199)
    assert store.query(NATS_INDEX, "cifar100", "ori_test_acc", epoch=3, seed=777) == nats_acc(
        "cifar100", "ori-test", 777, 3
    )
    assert store.query(NATS_INDEX, "cifar10", "test_acc", epoch=0) == pytest.approx(mean("cifar10", "ori-test", 0))
    # The separate 12-epoch schedule: its own metrics, its own seeds (cifar10-valid ran 111 and 777).
    assert store.seeds(NATS_INDEX, "cifar10-valid", "valid_acc_12ep") == [111, 777]
    assert store.query(NATS_INDEX, "cifar10-valid", "valid_acc_12ep", seed=111) == nats_acc(
        "cifar10-valid", "x-valid", 111, 11
    )
    assert store.curve(NATS_INDEX, "cifar100", "valid_acc_12ep").shape == (12,)
    assert store.query(NATS_INDEX, "ImageNet16-120", "train_time") == 7.5
    assert store.query(NATS_INDEX, "cifar100", "params") == 0.25 and store.query(NATS_INDEX, "cifar10", "flops") == 30.5
    with pytest.raises(BenchmarkError, match=r"epochs 0\.\.11"):
        store.query(NATS_INDEX, "cifar100", "valid_acc_12ep", epoch=12)
    with pytest.raises(
        BenchmarkError, match=r"no seed 555; it has 3 seeds, positions 0\.\.2 \(seed ids 777, 888, 999\)"
    ):
        store.query(NATS_INDEX, "cifar100", "valid_acc", seed=555)
    assert path.name == "000011.pickle.pbz2"


def test_nats_file_whose_index_contradicts_its_arch_is_refused(tmp_path):
    path = write_nats_file(tmp_path)
    data = safe_loads(bz2.decompress(path.read_bytes()))
    data["200"]["arch_index"] = 12
    path.write_bytes(bz2.compress(pickle.dumps(data)))
    with pytest.raises(BenchmarkError, match="arch_index 12 does not match arch_str"):
        imp.import_nats(StoreBuilder(), [path])


def test_nats_random_bytes(tmp_path):
    path = tmp_path / "000001.pickle.pbz2"
    path.write_bytes(b"BZh9" + os.urandom(500))
    with pytest.raises(BenchmarkError, match="truncated or corrupt bz2 file"):
        imp.import_nats(StoreBuilder(), [path])
