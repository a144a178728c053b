"""Every file nasforge reads is checked field by field: each bad file below (the exact inputs of issue 11's
bad-input run) is one NasforgeError naming the file, never a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import math
import os
import pickle
import shutil
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from _benchmark_fixtures import write_naslib_pickle, write_nats_file
from test_study import CONFIG, ToyEvaluator

from nasforge.benchmarks import StoreBuilder, open_store
from nasforge.benchmarks import importers as imp
from nasforge.cli.main import main
from nasforge.data.formats import IDX_IMAGES_MAGIC, read_idx
from nasforge.errors import ArchError, BenchmarkError, ConfigError, DataError, StudyError
from nasforge.optimizers import create_optimizer
from nasforge.search.study import Study

# --- store manifests ---------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path) -> Path:
    builder = StoreBuilder()
    builder.set_scalar("cifar100", "test_acc", np.array([0, 1, 2]), np.array([50.0, 60.0, 70.0]))
    builder.add_provenance("unit-test", None)
    return builder.write(tmp_path / "S")


COLUMN = "columns/cifar100/test_acc.npy"  # the fixture's one final-value column (decimal integers: 50, 60, 70)


def _column(m):
    return m["datasets"]["cifar100"]["columns"]["test_acc"]


def _outside(m, store):  # the column file moved next to the store: same bytes and checksum, named "../"
    shutil.copy(store / COLUMN, store.parent / "outside.npy")
    m["files"]["../outside.npy"] = m["files"].pop(COLUMN)
    _column(m)["file"] = "../outside.npy"


def _absolute(m, store):
    shutil.copy(store / COLUMN, store.parent / "outside.npy")
    name = str(store.parent / "outside.npy")
    m["files"][name] = m["files"].pop(COLUMN)
    _column(m)["file"] = name


def _symlink(m, store):
    shutil.copy(store / COLUMN, store.parent / "outside.npy")
    os.unlink(store / COLUMN)
    os.symlink(store.parent / "outside.npy", store / COLUMN)


def _linked_folder(m, store):  # the whole columns folder moved out, a symlink left in its place
    shutil.move(store / "columns", store.parent / "outside")
    os.symlink(store.parent / "outside", store / "columns")


def _shared_across_roles(m, store):  # the column file also named as the curve archs index: a different layout
    m["datasets"]["cifar100"]["curves"] = {"x": {"archs": COLUMN, "values": COLUMN, "ids": COLUMN}}


MANIFEST_DAMAGE = {
    "file ../outside.npy": (_outside, "not a plain relative path"),
    "absolute file path": (_absolute, "not a plain relative path"),
    "symlink out of the store": (_symlink, "not a plain file inside the store"),
    "folder linked out of the store": (_linked_folder, "not a plain file inside the store"),
    "num_archs true": (lambda m, s: m.update(num_archs=True), "'num_archs' is bool"),
    "num_archs -5": (lambda m, s: m.update(num_archs=-5), "positive count"),
    "files entry int": (lambda m, s: m["files"].update({COLUMN: 5}), "expected dict"),
    "files bytes str": (lambda m, s: m["files"][COLUMN].update(bytes="123"), "bytes is str"),
    "files sha256 int": (lambda m, s: m["files"][COLUMN].update(sha256=5), "sha256 is int"),
    "dataset entry list": (lambda m, s: m["datasets"].update(cifar100=[]), r"datasets\['cifar100'\] is list"),
    "columns a list": (lambda m, s: m["datasets"]["cifar100"].update(columns=[]), "columns is list"),
    "column file not listed": (lambda m, s: _column(m).update(file="columns/x.npy"), "does not list"),
    "decimals a string": (lambda m, s: _column(m).update(decimals="6"), "decimals is str"),
    "decimals 40": (lambda m, s: _column(m).update(decimals=40), r"expected 0\.\.22"),
    "exceptions not pairs": (lambda m, s: _column(m).update(exceptions=[[1]]), "expected \\[position, value\\]"),
    "exception outside the array": (lambda m, s: _column(m).update(exceptions=[[3, 1.5]]), "does not fit"),
    "a file in two roles": (_shared_across_roles, "need different layouts"),
    "seeds entry int": (lambda m, s: m["datasets"]["cifar100"].update(seeds={"test_acc": 3}), "expected dict"),
    "provenance of ints": (lambda m, s: m.update(provenance=[1]), "provenance entry 0 is int"),
    "deeply nested": (lambda m, s: m.update(provenance=json.loads("[" * 900 + "]" * 900)), "provenance entry 0"),
}


@pytest.mark.parametrize("damage", list(MANIFEST_DAMAGE))
def test_a_damaged_manifest_is_refused_at_open(store, damage):
    mutate, message = MANIFEST_DAMAGE[damage]
    manifest = json.loads((store / "manifest.json").read_text())
    mutate(manifest, store)
    (store / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BenchmarkError, match=message):
        open_store(store).query(0, "cifar100", "test_acc")


def test_a_manifest_nested_past_the_parser_limit_is_one_error(store):
    (store / "manifest.json").write_text('{"a":' * 100000 + "1" + "}" * 100000)
    with pytest.raises(BenchmarkError, match="not valid JSON"):
        open_store(store)


def test_an_array_of_the_wrong_shape_or_dtype_is_refused(store):
    # The fixture covers few archs, so its column is sparse: (n,) beside an archs index; its values are decimal
    # integers (int8 with 0 decimals), so a float file there does not fit the manifest entry.
    n = len(np.load(store / "columns/cifar100/test_acc.archs.npy"))
    for array, message in ((np.zeros((2, 2)), r"<f8 \(2, 2\).*needs <f8 or <f4 or \|i1 or <i2 or <i4 \(n,\)"),
                           (np.zeros(2, np.int64), "holds <i8"),
                           (np.zeros(n), "does not fit its manifest entry"),
                           (np.zeros(n + 1, np.int8), "not an ascending arch index")):  # fmt: skip
        np.save(store / COLUMN, array)
        manifest = json.loads((store / "manifest.json").read_text())
        data = (store / COLUMN).read_bytes()
        manifest["files"][COLUMN] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        (store / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(BenchmarkError, match=message):
            open_store(store).query(0, "cifar100", "test_acc")


# --- study databases ----------------------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path) -> Path:
    with Study.create(tmp_path / "run", CONFIG) as study:
        study.optimize(create_optimizer("rs", 0), ToyEvaluator(), n_iter=3)
    return tmp_path / "run"


STUDY_DAMAGE = {
    "objective NULL on COMPLETE": ("UPDATE trials SET objective=NULL WHERE state='COMPLETE'", "has no objective"),
    "objective text": ("UPDATE trials SET objective='high' WHERE number=0", "objective is 'high'"),
    "cost text": ("UPDATE trials SET cost='abc' WHERE number=1", "cost is 'abc'"),
    "fidelity text": ("UPDATE trials SET fidelity='x' WHERE number=0", "fidelity is 'x'"),
    "metrics a list": ("UPDATE trials SET metrics='[1, 2]' WHERE number=0", "metrics is not a JSON object"),
    "metrics nested": ("UPDATE trials SET metrics='" + "[" * 100000 + "' WHERE number=0", "not a JSON object"),
    "worker text": ("UPDATE trials SET worker='w' WHERE number=0", "worker is 'w'"),
    "attempts -3": ("UPDATE trials SET attempts=-3 WHERE number=0", "attempts is '-3'"),
    "wall_time blob": ("UPDATE trials SET wall_time=x'00' WHERE number=0", "wall_time is"),
    "config a list": ("UPDATE meta SET value='[1]' WHERE key='config'", "configuration is a list"),
    "config nested": ("UPDATE meta SET value='" + '{"a":' * 50000 + "' WHERE key='config'", "nested too deeply"),
}


@pytest.mark.parametrize("damage", list(STUDY_DAMAGE))
def test_a_study_row_of_the_wrong_type_is_a_study_error(run, damage):
    sql, message = STUDY_DAMAGE[damage]
    with sqlite3.connect(run / "study.db") as db:
        db.execute(sql)
    with pytest.raises(StudyError, match=message):
        Study.open(run)


SEARCH_CONFIG = {
    "space": "nb201", "optimizer": {"name": "rs"}, "seed": 0, "n_iter": 3, "time_budget": None,
    "evaluator": {"kind": "benchmark", "dataset": "cifar10", "eval_cost_epochs": 0.0,
                  "objective": {"12": "valid_acc_12ep", "200": "valid_acc"}, "default_fidelity": 12},
}  # fmt: skip


@pytest.mark.parametrize("key,value", [("seed", "abc"), ("n_iter", "many"), ("time_budget", [1])])
def test_a_stored_search_setting_of_the_wrong_type_is_one_error(tmp_path, key, value, capsys):
    Study.create(tmp_path / "run", {**SEARCH_CONFIG, key: value}).close()
    assert main(["search", "--out", str(tmp_path / "run"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"records the setting '{key}'" in err and len(err.strip().splitlines()) == 1


# --- genotype.json ------------------------------------------------------------------------------------------------

GOOD_GENOTYPE = {
    "space": "darts-mnist", "dataset": "mnist", "C": 8, "layers": 3, "epoch": 1,
    "genotype": {"normal": [["max_pool_3x3", 0], ["skip_connect", 0], ["max_pool_3x3", 1]], "normal_concat": [1, 2],
                 "reduce": [["max_pool_3x3", 0], ["skip_connect", 0], ["max_pool_3x3", 1]], "reduce_concat": [1, 2]},
}  # fmt: skip
GENOTYPE_DAMAGE = {
    "nested list": ("[" * 100000 + "]" * 100000, "nested too deeply"),
    "nested dict": ('{"a":' * 100000 + "1" + "}" * 100000, "nested too deeply"),
    "an int": ("5", "names no known space"),
    "space a list": (json.dumps({**GOOD_GENOTYPE, "space": ["darts"]}), "names no known space"),
    "layers a string": (json.dumps({**GOOD_GENOTYPE, "layers": "x"}), "'layers' is 'x'"),
    "layers -1": (json.dumps({**GOOD_GENOTYPE, "layers": -1}), "'layers' is '-1'"),
    "dataset an int": (json.dumps({**GOOD_GENOTYPE, "dataset": 5}), "'dataset' is '5'"),
    "C true": (json.dumps({**GOOD_GENOTYPE, "C": True}), "'C' is 'True'"),
    "nb201 arch a list": (json.dumps({"space": "nb201", "arch": [1, 2]}), "'arch' is"),
    "genotype nested": (
        json.dumps({**GOOD_GENOTYPE, "genotype": {"normal": [[[[["x"]]]]], "normal_concat": [1, 2], "reduce": [],
                                                  "reduce_concat": [1, 2]}}),  # fmt: skip
        "not an \\(op, input_state\\) pair",
    ),
}


@pytest.mark.parametrize("damage", list(GENOTYPE_DAMAGE))
def test_a_bad_genotype_json_is_one_arch_error(tmp_path, damage):
    from nasforge.oneshot.search import load_genotype

    text, message = GENOTYPE_DAMAGE[damage]
    (tmp_path / "genotype.json").write_text(text)
    with pytest.raises(ArchError, match=message):
        load_genotype(tmp_path)


def test_the_cli_reports_a_nested_genotype_json_in_one_line(tmp_path, capsys):
    from nasforge.cli.main import main

    (tmp_path / "genotype.json").write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "search.jsonl").write_text('{"alphas": {}}\n')
    for command in ("genotype", "alphas"):
        assert main(["viz", command, str(tmp_path), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "nested too deeply" in err and not (tmp_path / "out").exists()


# --- checkpoints ---------------------------------------------------------------------------------------------------


def _train_resume(path: Path):
    from nasforge.train import TrainConfig
    from nasforge.train.engine import _load_checkpoint

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    config = TrainConfig(epochs=1, batch_size=4, optimizer="sgd", lr=0.1, weight_decay=0.0, seed=0, device="cpu")
    return _load_checkpoint(path, model, optimizer, torch.amp.GradScaler("cpu", enabled=False), torch.Generator(),
                            config, torch.device("cpu"))  # fmt: skip


def _config():
    from nasforge.train import TrainConfig

    config = TrainConfig(epochs=1, batch_size=4, optimizer="sgd", lr=0.1, weight_decay=0.0, seed=0, device="cpu")
    return config.to_dict()


def _full_state(**change):
    model = torch.nn.Linear(2, 2)
    state = {
        "format": 1, "config": _config(), "records": [], "step": 0, "model": model.state_dict(),
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1).state_dict(), "scaler": {},
        "loader_rng": torch.Generator().get_state(), "torch_rng": torch.get_rng_state(),
    }  # fmt: skip
    state.update(change)
    return state


CHECKPOINT_DAMAGE = {
    "only format": ({"format": 1}, "'config' is missing"),
    "a list": ([1, 2], "it holds type list"),
    "config an int": ({"format": 1, "config": 5}, "'config' is of type int"),
    "records and step strings": ("records-str", "'records' is of type str"),
    "a record missing fields": ("record-short", "a record is not a EpochRecord"),
    "a record with a string loss": ("record-str", "train_loss is 'x'"),
    "step negative": ("step", "'step' is -1"),
    "rng a list": ("rng", "'loader_rng' is of type list"),
    "optimizer of another model": ("optimizer", "optimizer or random state cannot be restored"),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_damaged_training_checkpoint_is_one_config_error(tmp_path, damage):
    state, message = CHECKPOINT_DAMAGE[damage]
    record = {"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "valid_loss": None, "valid_acc": None,
              "seconds": 1.0, "lr": 0.1}  # fmt: skip
    state = {
        "records-str": lambda: {**_full_state(), "records": "x", "step": "y"},
        "record-short": lambda: _full_state(records=[{"epoch": 1}]),
        "record-str": lambda: _full_state(records=[{**record, "train_loss": "x"}]),
        "step": lambda: _full_state(step=-1),
        "rng": lambda: _full_state(loader_rng=[1, 2]),
        "optimizer": lambda: _full_state(optimizer={"state": {}, "param_groups": [{"params": [0, 1, 2, 3]}]}),
    }[state]() if isinstance(state, str) else state
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(ConfigError, match=message):
        _train_resume(tmp_path / "checkpoint.pt")


def test_a_sound_training_checkpoint_still_resumes(tmp_path):
    record = {"epoch": 1, "train_loss": 1.0, "train_acc": 50.0, "valid_loss": None, "valid_acc": None,
              "seconds": 1.0, "lr": 0.1}  # fmt: skip
    torch.save(_full_state(records=[record], step=7), tmp_path / "checkpoint.pt")
    records, step = _train_resume(tmp_path / "checkpoint.pt")
    assert step == 7 and records[0].train_acc == 50.0


@pytest.mark.parametrize("state,message", [({"config": {}}, "'model' is missing"), (5, "it holds type int")])
def test_a_damaged_darts_checkpoint_is_one_study_error(tmp_path, state, message):
    from nasforge.oneshot.search import _load_checkpoint

    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(StudyError, match=message):
        _load_checkpoint(tmp_path / "checkpoint.pt", None)


# --- IDX headers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dims,message",
    [
        ((2**31, 2**31, 4), "declares shape"),  # 2**64 bytes: wrapped to 0 in int64 arithmetic, then passed
        ((2**32 - 1,) * 3, "declares shape"),
        ((60000, 28, 28), "truncated"),
    ],
)
def test_idx_headers_that_do_not_fit_the_file_are_refused(tmp_path, dims, message):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", IDX_IMAGES_MAGIC, *dims)))
    with pytest.raises(DataError, match=message):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_an_idx_gzip_bomb_stops_at_the_size_the_header_declares(tmp_path):
    # A valid MNIST header (47 MB of pixels) followed by 1.1 GB of zeros in 1,100 gzip members (1.1 MB file).
    path = tmp_path / "train-images-idx3-ubyte.gz"
    member = gzip.compress(b"\0" * (1 << 20), compresslevel=9)
    path.write_bytes(gzip.compress(struct.pack(">IIII", IDX_IMAGES_MAGIC, 60000, 28, 28)) + member * 1100)
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(path, IDX_IMAGES_MAGIC)


# --- NATS files ----------------------------------------------------------------------------------------------------


def _rec(data, hp="200", key=("cifar10-valid", 777)):
    return data[hp]["all_results"][key]


def _no_at(data):
    _rec(data)["eval_acc1es"]["x-valid"] = 1.0


def _ragged(data):  # seed 888 of the 200-epoch schedule records 100 epochs; seed 777 records 200
    r = _rec(data, key=("cifar10-valid", 888))
    for k in ("train_acc1es", "train_losses", "train_times"):
        r[k] = {e: 1.0 for e in range(100)}


NATS_DAMAGE = {
    "hp 200 an int": (lambda d: d.update({"200": 5}), "'200' has type int"),
    "all_results an int": (lambda d: d["200"].update(all_results=5), "'all_results' has type int"),
    "record an int": (lambda d: d["200"]["all_results"].update({("cifar10-valid", 777): 5}), "the record has type int"),
    "x-valid without @": (_no_at, "eval key 'x-valid' is not 'split@epoch'"),
    "epochs inf": (lambda d: _rec(d).update(epochs=math.inf), "'epochs' has type float"),
    "epochs nan": (lambda d: _rec(d).update(epochs=math.nan), "'epochs' has type float"),
    "epochs 10**12": (lambda d: _rec(d).update(epochs=10**12), "the '200' schedule trains 200 epochs"),
    "epochs -1": (lambda d: _rec(d).update(epochs=-1), "'epochs' is -1"),
    "short per-epoch list": (lambda d: _rec(d).update(train_acc1es={e: 1.0 for e in range(3)}), "holds 3 epochs"),
    "ragged per-seed lists": (_ragged, "holds 100 epochs"),
    "params a string": (lambda d: _rec(d).update(params="big"), "params is 'big'"),
    "train acc inf": (lambda d: _rec(d)["train_acc1es"].update({5: math.inf}), "not a finite number"),
    "seed not a number": (
        lambda d: d["200"]["all_results"].update({("cifar10-valid", "abc"): _rec(d)}),
        "not a \\(dataset, seed\\) pair",
    ),
}


@pytest.mark.parametrize("damage", list(NATS_DAMAGE))
def test_a_malformed_nats_file_is_one_benchmark_error(tmp_path, damage):
    mutate, message = NATS_DAMAGE[damage]
    path = write_nats_file(tmp_path)
    data = pickle.loads(bz2.decompress(path.read_bytes()))
    mutate(data)
    path.write_bytes(bz2.compress(pickle.dumps(data)))
    with pytest.raises(BenchmarkError, match=message):
        imp.import_nats(StoreBuilder(), [path])


def test_ragged_lists_across_seeds_of_one_metric_are_refused(tmp_path):
    # Both seeds internally consistent, but seed 888 has a 1-point x-valid curve where 777 has 200 points.
    path = write_nats_file(tmp_path)
    data = pickle.loads(bz2.decompress(path.read_bytes()))
    evals = _rec(data, key=("cifar10-valid", 888))["eval_acc1es"]
    losses = _rec(data, key=("cifar10-valid", 888))["eval_losses"]
    for e in range(199):
        del evals[f"x-valid@{e}"], losses[f"x-valid@{e}"]
    path.write_bytes(bz2.compress(pickle.dumps(data)))
    with pytest.raises(BenchmarkError, match="per-seed lists of different lengths"):
        imp.import_nats(StoreBuilder(), [path])


def test_a_nats_bz2_bomb_is_refused_at_the_format_cap(tmp_path):
    # A pickle of one 2.1 GB bytes object (opcode BINBYTES8 and its length), the zeros in 2,100 bz2 streams:
    # a 0.1 MB file; the 798-byte file expanded to 2.1 GB before it was refused.
    path = tmp_path / "000011.pickle.pbz2"
    header = b"\x80\x04\x8e" + struct.pack("<Q", 2100 << 20)
    path.write_bytes(bz2.compress(header) + bz2.compress(b"\0" * (1 << 20)) * 2100)
    with pytest.raises(BenchmarkError, match="^[^(]*decompresses to more than 64 MB"):
        imp.import_nats(StoreBuilder(), [path])
    path.write_bytes(bz2.compress(b"\0" * (1 << 20)) * 2100)  # zeros alone: no pickle, refused at once
    with pytest.raises(BenchmarkError, match="not a readable pickle"):
        imp.import_nats(StoreBuilder(), [path])


# --- NASLib pickles ------------------------------------------------------------------------------------------------


def _first(data):
    return next(iter(data.values()))["cifar10-valid"]


NASLIB_DAMAGE = {
    "cost_info flops a string": (lambda d: _first(d)["cost_info"].update(flops="abc"), "flops'\\] is 'abc'"),
    "cost_info a list": (lambda d: _first(d).update(cost_info=[1]), "cost_info has type list"),
    "arch key an int": (lambda d: d.update({5: next(iter(d.values()))}), "key 5 is not an arch string"),
    "list holds a string": (lambda d: _first(d)["train_acc1es"].__setitem__(3, "x"), "non-numeric"),
    "list holds a list": (lambda d: _first(d)["train_acc1es"].__setitem__(3, [1, 2]), "non-numeric"),
    "list holds inf": (lambda d: _first(d)["train_acc1es"].__setitem__(3, math.inf), "finite numbers"),
}


@pytest.mark.parametrize("damage", list(NASLIB_DAMAGE))
def test_a_malformed_naslib_pickle_is_one_benchmark_error(tmp_path, damage):
    mutate, message = NASLIB_DAMAGE[damage]
    path = write_naslib_pickle(tmp_path / "n.pickle")
    data = pickle.loads(path.read_bytes())
    mutate(data)
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(BenchmarkError, match=message):
        imp.import_naslib_pickle(StoreBuilder(), path)


def test_a_compressed_table_past_its_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(imp, "TABLE_FILE_LIMIT", 1 << 20)  # the real cap (512 MB) works the same way, slower
    path = tmp_path / "table.csv.xz"
    import lzma

    path.write_bytes(lzma.compress(b"arch_str,x\n" + b"0" * (2 << 20)))
    with pytest.raises(BenchmarkError, match="decompresses to more than 1 MB"):
        imp.import_table(StoreBuilder(), path, [imp.ColumnMap("x", "cifar10", "test_acc")])


def test_a_cifar_npz_whose_array_expands_past_the_cap_is_refused(tmp_path, monkeypatch):
    from nasforge.data import formats

    np.savez_compressed(tmp_path / "c.npz", x_test=np.zeros((20, 32, 32, 3), np.uint8), y_test=np.zeros(20, np.int64))
    assert formats.read_cifar_npz(tmp_path / "c.npz", "test")[0].shape == (20, 32, 32, 3)
    monkeypatch.setattr(formats, "CIFAR_NPZ_LIMIT", 20 * 32 * 32 * 3)  # the real cap is 512 MB: same code path
    with pytest.raises(DataError, match="'x_test' expands to 61,568 bytes"):
        formats.read_cifar_npz(tmp_path / "c.npz", "test")
