"""The seed-compatible ``NB201BenchmarkAPI`` on the seed's own pickle format and on a store."""

from __future__ import annotations

import pickle

import pytest
from _benchmark_fixtures import NASLIB_ARCHS, CodeRunner, naslib_value, write_naslib_pickle

from nasforge.benchmarks import Metric, NB201BenchmarkAPI, StoreBuilder
from nasforge.benchmarks import importers as imp
from nasforge.errors import BenchmarkError
from nasforge.spaces.nb201 import NB201Arch


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))


def test_seed_pickle_is_imported_once_and_queried_like_the_seed(tmp_path):
    path = write_naslib_pickle(tmp_path / "nb201_cifar10_full_training.pickle")
    api = NB201BenchmarkAPI(path, "cifar10")
    arch = NB201Arch.from_index(NASLIB_ARCHS[1]).to_string()
    valid = api.query(arch, Metric.VAL_ACCURACY)
    assert len(valid) == 200 and valid[10] == naslib_value("eval_acc1es", 1, 10)
    assert api.query(arch, Metric.VAL_ACCURACY, last_epoch_only=True) == naslib_value("eval_acc1es", 1, 199)
    assert api.query(arch, Metric.TRAIN_LOSS)[0] == naslib_value("train_losses", 1, 0)
    assert api.query(arch, Metric.TRAIN_ACCURACY, last_epoch_only=True) == naslib_value("train_acc1es", 1, 199)
    assert api.query(arch, Metric.VAL_LOSS, last_epoch_only=True) == naslib_value("eval_losses", 1, 199)
    assert api.query(arch, Metric.TRAIN_TIME) == 8.25 and api.query(arch, Metric.PARAMS) == 1.125
    assert NB201BenchmarkAPI(path, "cifar10").store.path == api.store.path  # cached, not re-imported
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_store_directory_works_too(tmp_path):
    builder = StoreBuilder()
    imp.import_naslib_pickle(builder, write_naslib_pickle(tmp_path / "p.pickle"))
    api = NB201BenchmarkAPI(builder.write(tmp_path / "store"), "cifar10-valid")
    assert api.query(NASLIB_ARCHS[2], "VAL_ACCURACY", last_epoch_only=True) == naslib_value("eval_acc1es", 2, 199)


def test_errors(tmp_path):
    path = write_naslib_pickle(tmp_path / "p.pickle")
    with pytest.raises(BenchmarkError, match="unknown dataset 'mnist'"):
        NB201BenchmarkAPI(path, "mnist")
    api = NB201BenchmarkAPI(path, "cifar10")
    with pytest.raises(BenchmarkError, match="unknown metric 'TEST_ACCURACY'; use one of TRAIN_ACCURACY"):
        api.query(0, "TEST_ACCURACY")
    with pytest.raises(BenchmarkError, match="not found"):
        NB201BenchmarkAPI(tmp_path / "missing.pickle")
    evil = tmp_path / "evil.pickle"
    evil.write_bytes(pickle.dumps(CodeRunner(tmp_path / "pwned")))
    with pytest.raises(BenchmarkError, match="refused to unpickle"):
        NB201BenchmarkAPI(evil)
    assert not (tmp_path / "pwned").exists() and not list((tmp_path / "cache").glob("naslib-evil*"))
