"""The store format: queries, errors naming what exists, checksums, atomic merges, and finding the NB201 store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _benchmark_fixtures import CSV_ARCHS, csv_cell, write_nb201_csv

from nasforge.benchmarks import StoreBuilder, build_nb201_store, load_nb201, open_store
from nasforge.benchmarks import importers as imp
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import NB201Arch


@pytest.fixture
def store_path(tmp_path):
    builder = StoreBuilder()
    builder.set_scalar("cifar100", "test_acc", np.array([0, 1, 2]), np.array([50.0, 60.0, 70.0]))
    builder.set_scalar("cifar100", "train_time", np.array([0, 1, 2]), np.array([10.0, 20.0, 30.0]))
    builder.set_seeds("cifar100", "test_acc", np.array([2]), np.array([[69.0, 71.0]]), np.array([[777, 888]]))
    builder.set_curve("cifar100", "train_acc", 1, np.array([1.0, 2.0, 3.0]))
    builder.add_provenance("unit-test", None)
    return builder.write(tmp_path / "store")


def test_query_by_index_string_arch_and_op_code(store_path):
    store = open_store(store_path)
    arch = NB201Arch.from_index(2)
    for key in (2, np.int64(2), arch, arch.to_string(), f"op:{arch.op_code}"):
        assert store.query(key, "cifar100", "test_acc") == 70.0
    assert store.query(2, "cifar100", "test_acc", seed=777) == 69.0
    assert store.query(2, "cifar100", "test_acc", seed=1) == 71.0
    assert store.query(1, "cifar100", "train_acc", epoch=2) == 3.0
    assert store.train_cost(1, "cifar100", 200) == 4000.0


def test_query_many_accepts_arrays_lists_and_archs(store_path):
    store = open_store(store_path)
    assert store.query_many(np.array([2, 0]), "cifar100", "test_acc").tolist() == [70.0, 50.0]
    assert store.query_many([NB201Arch.from_index(1), 0], "cifar100", "test_acc").tolist() == [60.0, 50.0]
    assert store.query_many([1, 1], "cifar100", "train_acc", epoch=0).tolist() == [1.0, 1.0]
    with pytest.raises(BenchmarkError, match=r"not recorded for arch 3 \(2 of the requested archs lack it\)"):
        store.query_many(np.array([0, 3, 4]), "cifar100", "test_acc")
    assert np.isnan(store.query_many(np.array([0, 3]), "cifar100", "test_acc", missing="nan")[1])
    with pytest.raises(ArchError, match=r"indices must be in 0\.\.15624"):
        store.query_many(np.array([0, 15625]), "cifar100", "test_acc")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            dict(dataset="cifar10", metric="test_acc"),
            BenchmarkError,
            "unknown dataset 'cifar10'; this store has cifar100",
        ),
        (dict(metric="valid_acc"), BenchmarkError, "unknown metric 'valid_acc' for cifar100; cifar100 has test_acc"),
        (dict(arch=5), BenchmarkError, "test_acc on cifar100 is not recorded for arch 5; the store has it for 3 of"),
        (dict(arch=-1), ArchError, r"index -1 out of range"),
        (dict(arch="|nor_conv_3x3~0|"), ArchError, "malformed NB201 arch string"),
        (dict(seed=999), BenchmarkError, r"no seed 999; it has 2 seeds, positions 0\.\.1 \(seed ids 777, 888\)"),
        (dict(arch=0, seed=0), BenchmarkError, "arch 0 test_acc on cifar100 has no per-seed values"),
        (dict(metric="train_time", seed=0), BenchmarkError, "train_time on cifar100 has no per-seed values"),
        (
            dict(epoch=3),
            BenchmarkError,
            "test_acc on cifar100 has no per-epoch curves in this store; metrics with curves there: train_acc",
        ),
        (dict(metric="train_acc", arch=1, epoch=3), BenchmarkError, r"epoch 3 out of range .*epochs 0\.\.2"),
        (
            dict(metric="train_acc", arch=0, epoch=0),
            BenchmarkError,
            r"arch 0 has no train_acc curve .* 1 archs \(indices 1\)",
        ),
        (dict(metric="train_acc", arch=2), BenchmarkError, "train_acc on cifar100 is not recorded for arch 2; .* 1 of"),
    ],
)
def test_bad_queries_raise_errors_naming_what_exists(store_path, call, error, message):
    store = open_store(store_path)
    kwargs = {"arch": 2, "dataset": "cifar100", "metric": "test_acc"} | call
    with pytest.raises(error, match=message):
        store.query(kwargs.pop("arch"), kwargs.pop("dataset"), kwargs.pop("metric"), **kwargs)


def test_final_value_where_only_a_curve_exists_is_its_last_entry(store_path):
    store = open_store(store_path)  # arch 1 has the train_acc curve [1, 2, 3] and no separate final value
    assert store.query(1, "cifar100", "train_acc") == 3.0 == store.query(1, "cifar100", "train_acc", epoch=2)
    assert store.query_many(np.array([1, 0]), "cifar100", "train_acc", missing="nan")[0] == 3.0
    assert store.coverage("cifar100", "train_acc")["final"] == 1
    assert store.query(1, "cifar100", "test_acc") == 60.0  # a recorded final value is left as it is


def test_checksum_failure_is_caught_lazily_and_eagerly(store_path):
    scalars = store_path / "scalars" / "cifar100.npy"
    data = bytearray(scalars.read_bytes())
    data[-8:] = np.float64(99.0).tobytes()  # same size, different value
    scalars.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError, match=r"checksum mismatch in scalars/cifar100\.npy.*re-import"):
        open_store(store_path, checksums="eager")
    store = open_store(store_path)  # opening checks sizes only; the first use of the file checks its hash
    with pytest.raises(BenchmarkError, match="checksum mismatch"):
        store.query(0, "cifar100", "test_acc")


@pytest.mark.parametrize("damage", ["missing-file", "resized-file", "schema", "not-json"])
def test_damaged_stores_are_refused_at_open(store_path, damage):
    manifest = store_path / "manifest.json"
    if damage == "missing-file":
        (store_path / "scalars" / "cifar100.npy").unlink()
    elif damage == "resized-file":
        with open(store_path / "scalars" / "cifar100.npy", "ab") as f:
            f.write(b"\0")
    elif damage == "schema":
        manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"schema_version": 99}))
    else:
        manifest.write_text("{not json")
    with pytest.raises(BenchmarkError, match="re-import"):
        open_store(store_path)


def test_not_a_store(tmp_path):
    with pytest.raises(BenchmarkError, match="does not exist: it is not a benchmark store; build one with"):
        open_store(tmp_path / "nope")


def test_merge_keeps_old_values_and_provenance(store_path, tmp_path):
    builder = StoreBuilder.from_store(open_store(store_path))
    builder.set_scalar("cifar100", "test_acc", np.array([1, 7]), np.array([61.0, 77.0]))
    builder.add_provenance("second", None)
    builder.write(store_path, overwrite=True)
    store = open_store(store_path)
    assert store.query_many([0, 1, 2, 7], "cifar100", "test_acc").tolist() == [50.0, 61.0, 70.0, 77.0]
    assert store.query(2, "cifar100", "test_acc", seed=888) == 71.0
    assert store.curve(1, "cifar100", "train_acc").tolist() == [1.0, 2.0, 3.0]
    assert [p["importer"] for p in store.provenance] == ["unit-test", "second"]


def test_a_failed_write_leaves_no_store(tmp_path):
    builder = StoreBuilder()
    builder.set_scalar("cifar100", "test_acc", np.array([0]), np.array([1.0]))
    builder.set_curve("cifar100", "valid_acc", 0, np.array([np.inf, 1.0]))
    builder.provenance.append({"importer": "x", "bad": float("nan")})  # NaN is not JSON: the manifest write fails
    with pytest.raises(ValueError):
        builder.write(tmp_path / "store")
    assert not (tmp_path / "store").exists() and not [p for p in tmp_path.iterdir()]


def test_an_open_store_survives_being_replaced(store_path):
    old = open_store(store_path)
    assert old.query(0, "cifar100", "test_acc") == 50.0
    builder = StoreBuilder()
    builder.set_scalar("cifar100", "test_acc", np.array([0]), np.array([1.0]))
    builder.set_seeds("cifar100", "test_acc", np.array([2]), np.array([[1.0, 2.0]]))
    builder.write(store_path, overwrite=True)
    assert old.query(0, "cifar100", "test_acc") == 50.0  # still mapped to the unlinked old file
    assert open_store(store_path).query(0, "cifar100", "test_acc") == 1.0
    with pytest.raises(BenchmarkError, match="was replaced .* after it was opened: open it again"):
        old.query(2, "cifar100", "test_acc", seed=0)  # a file the old store had not mapped yet: now the new one


# --- finding the NB201 store ------------------------------------------------------------------------------------


def test_load_nb201_builds_a_cached_store_once_and_rebuilds_when_the_source_changes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    os.chmod(data_dir / "nb201", 0o555)  # the shared data folder is read-only
    try:
        store = load_nb201(data_dir)
        assert store.path.parent == tmp_path / "cache"
        assert store.query(CSV_ARCHS[1], "cifar10", "test_acc") == float(csv_cell(1, "c10_test_acc_200"))
        assert store.curve_archs("cifar10-valid", "valid_acc").tolist() == [11]  # the NATS file was merged in
        assert load_nb201(data_dir).path == store.path
        csv_path = data_dir / "nb201" / "nb201_final.csv.gz"
        os.chmod(data_dir / "nb201", 0o755)
        write_nb201_csv(csv_path, bad_cell=(0, "c10_test_acc_200", "1.5"))
        rebuilt = load_nb201(data_dir)
        assert rebuilt.path != store.path and rebuilt.query(CSV_ARCHS[0], "cifar10", "test_acc") == 1.5
    finally:
        os.chmod(data_dir / "nb201", 0o755)


def test_load_nb201_resolution_order(data_dir, tmp_path, monkeypatch):
    explicit = build_nb201_store(data_dir / "nb201", tmp_path / "explicit")
    monkeypatch.setenv("NASFORGE_STORE", str(explicit))
    assert load_nb201(tmp_path / "elsewhere").path == explicit
    monkeypatch.delenv("NASFORGE_STORE")
    build_nb201_store(data_dir / "nb201", data_dir / "nb201" / "store")
    assert load_nb201(data_dir).path == data_dir / "nb201" / "store"
    assert load_nb201(data_dir, store=explicit).path == explicit


def test_load_nb201_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("NASFORGE_STORE", raising=False)
    with pytest.raises(BenchmarkError, match=r"looked in: .*empty/nb201/store.*nasforge bench import nb201-csv"):
        load_nb201(tmp_path / "empty")


def test_importing_a_table_checks_datasets(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arch_str,a\n" + NB201Arch.from_index(0).to_string() + ",1\n")
    with pytest.raises(BenchmarkError, match="unknown dataset 'cifar-10'"):
        imp.import_table(StoreBuilder(), path, [imp.ColumnMap.parse("a=cifar-10:test_acc")])


def test_benchmarks_never_import_torch():
    code = (
        "import sys, nasforge.benchmarks, nasforge.viz.benchmark, nasforge.cli.bench\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
