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
    column = store_path / "columns" / "cifar100" / "test_acc.npy"
    data = bytearray(column.read_bytes())
    data[-1] ^= 0xFF  # same size, different value
    column.write_bytes(bytes(data))
    with pytest.raises(BenchmarkError, match=r"checksum mismatch in columns/cifar100/test_acc\.npy.*re-import"):
        open_store(store_path, checksums="eager")
    store = open_store(store_path)  # opening checks sizes only; the first use of the file checks its hash
    with pytest.raises(BenchmarkError, match="checksum mismatch"):
        store.query(0, "cifar100", "test_acc")


@pytest.mark.parametrize("damage", ["missing-file", "resized-file", "schema", "not-json"])
def test_damaged_stores_are_refused_at_open(store_path, damage):
    manifest = store_path / "manifest.json"
    if damage == "missing-file":
        (store_path / "columns" / "cifar100" / "test_acc.npy").unlink()
    elif damage == "resized-file":
        with open(store_path / "columns" / "cifar100" / "test_acc.npy", "ab") as f:
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


# --- schema versions: compact layout, old layout still readable -------------------------------------------------


def _write_v1_store(root, data):
    """A schema-1 store written by hand as nasforge's first format laid it out: every array dense over all
    15,625 archs in float64, curves indexed by a rows file (-1 = no curve). Independent of the builder."""
    from nasforge.benchmarks.store import FORMAT, sha256_file

    files = {}

    def save(rel, array):
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, array)
        files[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
        return rel

    seeds, seed_ids, rows = data["seeds"], data["seed_ids"], data["rows"]
    curves, curve_ids = data["curves"], data["curve_ids"]
    dataset = {
        "scalars": {"file": save("scalars/cifar10.npy", data["scalars"]), "metrics": ["test_acc", "train_time"]},
        "seeds": {"test_acc": {"values": save("seeds/cifar10/test_acc.npy", seeds),
                               "ids": save("seeds/cifar10/test_acc.ids.npy", seed_ids)}},
        "curves": {"train_acc": {"rows": save("curves/cifar10/train_acc.rows.npy", rows),
                                 "values": save("curves/cifar10/train_acc.npy", curves),
                                 "ids": save("curves/cifar10/train_acc.ids.npy", curve_ids)}},
    }  # fmt: skip
    manifest = {"format": FORMAT, "schema_version": 1, "space": "nb201", "num_archs": 15625, "provenance": [],
                "datasets": {"cifar10": dataset}, "files": files}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_an_old_layout_store_opens_and_every_value_survives_the_compact_rewrite(tmp_path):
    n = 15625
    rng = np.random.default_rng(7)
    scalars = np.full((2, n), np.nan)
    scalars[0] = rng.uniform(0, 100, n)  # float64 values (no float32 holds them): must stay float64
    scalars[1, [3, 77, 15624]] = [0.5, 1.25, 96.0]  # float32-exact, 3 archs
    seeds = np.full((n, 3), np.nan)
    seeds[5] = [90.5, 91.25, np.nan]
    seeds[9] = [1 / 3, 2 / 3, 0.1]
    seed_ids = np.zeros((n, 3), np.int32)
    seed_ids[5] = [777, 888, 0]
    rows = np.full(n, -1, np.int32)
    rows[[100, 5]] = [1, 0]
    curves = rng.uniform(0, 100, (2, 2, 12)).astype(np.float32).astype(np.float64)  # a float32 source
    curves[1, 1] = np.nan
    curve_ids = np.array([[777], [0]], np.int32)
    data = {"scalars": scalars, "seeds": seeds, "seed_ids": seed_ids, "rows": rows, "curves": curves,
            "curve_ids": curve_ids}  # fmt: skip
    old = open_store(_write_v1_store(tmp_path / "v1", data))
    new_path = StoreBuilder.from_store(old).write(tmp_path / "v3")
    new = open_store(new_path)
    assert (old.manifest["schema_version"], new.manifest["schema_version"]) == (1, 3)
    everything = np.arange(n)
    for store in (old, new):
        for k, metric in enumerate(("test_acc", "train_time")):
            got = store.query_many(everything, "cifar10", metric, missing="nan")
            assert np.array_equal(got, scalars[k], equal_nan=True) and got.dtype == np.float64
        assert store.query(3, "cifar10", "train_time") == 0.5
        assert store.query(5, "cifar10", "test_acc", seed=888) == 91.25
        assert store.query(9, "cifar10", "test_acc", seed=2) == 0.1
        assert store.seeds(5, "cifar10", "test_acc") == [777, 888]
        assert store.coverage("cifar10", "test_acc")["seeds"] == 2
        for arch, row in ((5, 0), (100, 1)):
            assert np.array_equal(store.curve(arch, "cifar10", "train_acc"), curves[row, 0])
            assert store.query(arch, "cifar10", "train_acc", epoch=11) == curves[row, 0, 11]
        assert np.array_equal(store.curve(5, "cifar10", "train_acc", seed=777), curves[0, 1])
        assert store.query(5, "cifar10", "train_acc", epoch=4, seed=777) == curves[0, 1, 4]
        assert store.curve_archs("cifar10", "train_acc").tolist() == [5, 100]
        with pytest.raises(BenchmarkError, match="no train_acc curve"):
            store.curve(6, "cifar10", "train_acc")
    # Stored compactly: 2 seed rows and 2 curves instead of 15,625-row tables; float32 curves, float64 random
    # values; 0.5, 1.25, 96.0 are 50, 125, 9600 hundredths (int16, 2 decimals).
    assert np.load(new_path / "seeds/cifar10/test_acc.npy").shape == (2, 3)
    assert np.load(new_path / "curves/cifar10/train_acc.npy").dtype == np.float32
    assert np.load(new_path / "columns/cifar10/test_acc.npy").dtype == np.float64
    assert np.load(new_path / "columns/cifar10/train_time.npy").tolist() == [50, 125, 9600]
    assert new.manifest["datasets"]["cifar10"]["columns"]["train_time"]["decimals"] == 2
    size = {p: sum(f.stat().st_size for f in (tmp_path / p).rglob("*") if f.is_file()) for p in ("v1", "v3")}
    assert size["v3"] < size["v1"] - 15625 * 3 * (8 + 4)  # at least the dense seed table saved


def _write_v2_store(root):
    """A schema-2 store written by hand as the previous release laid it out: one float scalar table per dataset
    (n_metrics, n_covered) beside an archs index, sparse seeds, curves with an archs index. Independent of the
    builder."""
    from nasforge.benchmarks.store import FORMAT, sha256_file

    files = {}

    def save(rel, array):
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, array)
        files[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
        return rel

    table = np.array([[91.553333, np.nan, 0.125], [7.2211, 1 / 3, np.nan]])  # test_acc, train_time of 3 archs
    dataset = {
        "scalars": {"file": save("scalars/cifar10.npy", table), "metrics": ["test_acc", "train_time"],
                    "archs": save("scalars/cifar10.archs.npy", np.array([4, 9, 15624], np.int32))},
        "seeds": {"test_acc": {"values": save("seeds/cifar10/test_acc.npy", np.array([[91.5, 91.606666]])),
                               "ids": save("seeds/cifar10/test_acc.ids.npy", np.array([[777, 888]], np.int32)),
                               "archs": save("seeds/cifar10/test_acc.archs.npy", np.array([4], np.int32))}},
        "curves": {"train_acc": {"archs": save("curves/cifar10/train_acc.archs.npy", np.array([9], np.int32)),
                                 "values": save("curves/cifar10/train_acc.npy", np.array([[[1.5, 2.5]]], np.float32)),
                                 "ids": save("curves/cifar10/train_acc.ids.npy", np.zeros((1, 0), np.int32))}},
    }  # fmt: skip
    manifest = {"format": FORMAT, "schema_version": 2, "space": "nb201", "num_archs": 15625, "provenance": [],
                "datasets": {"cifar10": dataset}, "files": files}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_a_schema_2_store_opens_and_upgrades_value_for_value(tmp_path):
    old = open_store(_write_v2_store(tmp_path / "v2"))
    new = open_store(StoreBuilder.from_store(old).write(tmp_path / "v3"))
    assert (old.manifest["schema_version"], new.manifest["schema_version"]) == (2, 3)
    for store in (old, new):
        assert store.query(4, "cifar10", "test_acc") == 91.553333
        assert store.query(15624, "cifar10", "test_acc") == 0.125
        assert store.query(9, "cifar10", "train_time") == 1 / 3
        assert store.query(4, "cifar10", "test_acc", seed=888) == 91.606666
        assert store.query(9, "cifar10", "train_acc", epoch=1) == 2.5 == store.query(9, "cifar10", "train_acc")
        assert store.coverage("cifar10", "test_acc") == {"final": 2, "seeds": 1, "seed_slots": 2, "curves": 0,
                                                         "epochs": 0}  # fmt: skip
        with pytest.raises(BenchmarkError, match="not recorded for arch 9"):
            store.query(9, "cifar10", "test_acc")
    for metric in ("test_acc", "train_time", "train_acc"):
        everything = np.arange(15625)
        assert np.array_equal(old.query_many(everything, "cifar10", metric, missing="nan"),
                              new.query_many(everything, "cifar10", metric, missing="nan"), equal_nan=True)  # fmt: skip


def test_decimal_text_is_stored_as_integers_and_read_back_bit_for_bit(tmp_path):
    builder = StoreBuilder()
    csv_text = ["94.373333", "73.513333", "46.766667", "0.000001", "", "-12.5"] * 4  # 24 cells, one empty per 6
    values = np.array([float(t) if t else np.nan for t in csv_text])
    values[7] = 1 / 3  # one value with no short decimal (a full-precision mean among CSV text): an exception
    builder.set_scalar("cifar10", "test_acc", np.arange(24), values)
    builder.set_scalar("cifar10", "flops", np.arange(3), np.array([15.64737, 220.11969, 7.78305]))
    path = builder.write(tmp_path / "s")
    store = open_store(path)
    column = store.manifest["datasets"]["cifar10"]["columns"]["test_acc"]
    raw = np.load(path / column["file"])
    # 94.373333 = 94373333 millionths: int32, NaN as the int32 minimum, 1/3 kept exactly in the manifest.
    assert raw.dtype == np.int32 and column["decimals"] == 6 and raw[:3].tolist() == [94373333, 73513333, 46766667]
    # Empty cells are not stored (the archs index leaves them out): 20 values; arch 7 is the 7th of them.
    assert raw.size == 20 and column["exceptions"] == [[6, 1 / 3]]
    got = store.query_many(np.arange(24), "cifar10", "test_acc", missing="nan")
    assert np.array_equal(got, values, equal_nan=True)  # bit for bit, as float() parsed the text
    assert store.query(0, "cifar10", "test_acc") == float("94.373333")
    assert store.query(7, "cifar10", "test_acc") == 1 / 3
    flops = store.manifest["datasets"]["cifar10"]["columns"]["flops"]
    assert flops["decimals"] == 5 and np.load(path / flops["file"]).tolist() == [1564737, 22011969, 778305]
    assert store.query(1, "cifar10", "flops") == 220.11969


def test_a_missing_seed_among_decimal_values_is_the_integer_minimum(tmp_path):
    builder = StoreBuilder()
    builder.set_seeds("cifar10", "test_acc", np.array([3, 8]), np.array([[91.5, np.nan, 91.25], [1.0, 2.0, 3.0]]))
    path = builder.write(tmp_path / "s")
    store = open_store(path)
    raw = np.load(path / store.manifest["datasets"]["cifar10"]["seeds"]["test_acc"]["values"])
    assert raw.dtype == np.int16 and raw.tolist() == [[9150, -32768, 9125], [100, 200, 300]]  # hundredths
    assert store.seeds(3, "cifar10", "test_acc") == [0, 1]  # two seeds present, ids not recorded
    assert store.query(3, "cifar10", "test_acc", seed=1) == 91.25 and store.query(8, "cifar10", "test_acc", seed=2) == 3


def test_identical_columns_are_written_once(tmp_path):
    builder = StoreBuilder()
    latency = np.array([12.345678, 0.001, 99.5])
    for ds in ("cifar10-valid", "cifar10", "cifar100"):  # HELP's latencies belong to all three CIFAR datasets
        builder.set_scalar(ds, "latency_pixel3", np.array([0, 1, 2]), latency)
        builder.set_curve(ds, "train_acc", 5, np.array([10.0, 20.0]))
    path = builder.write(tmp_path / "s")
    store = open_store(path)
    entries = [store.manifest["datasets"][ds]["columns"]["latency_pixel3"] for ds in store.datasets]
    assert len({e["file"] for e in entries}) == 1 and len({e["archs"] for e in entries}) == 1
    assert len(list(path.rglob("latency_pixel3*.npy"))) == 2  # one values file, one archs index
    assert len({store.manifest["datasets"][ds]["curves"]["train_acc"]["archs"] for ds in store.datasets}) == 1
    for ds in store.datasets:
        assert store.query_many(np.arange(3), ds, "latency_pixel3").tolist() == latency.tolist()
        assert store.query(5, ds, "train_acc", epoch=1) == 20.0


def test_a_sparse_three_arch_store_is_small(tmp_path):
    builder = StoreBuilder()
    for metric in ("test_acc", "valid_acc", "train_time", "flops", "params"):
        builder.set_scalar("cifar10", metric, np.array([0, 1, 2]), np.array([1.5, 2.5, 3.5]))
        builder.set_curve("cifar10", metric, 1, np.arange(200) / 7.0)
    size = sum(f.stat().st_size for f in builder.write(tmp_path / "s").rglob("*") if f.is_file())
    # Dense float64 over 15,625 archs would take 5 x 125,000 bytes for the scalars alone.
    assert size < 30_000


def test_negative_zero_keeps_its_sign_through_the_decimal_encoding(tmp_path):
    builder = StoreBuilder()
    builder.set_scalar("cifar10", "train_loss", np.arange(32), np.array([-0.0] + [1.5] * 31))
    store = open_store(builder.write(tmp_path / "s"))
    assert np.signbit(store.query(0, "cifar10", "train_loss")) and store.query(1, "cifar10", "train_loss") == 1.5
