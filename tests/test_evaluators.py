"""Evaluators against the benchmark's own numbers (read independently from the NB201 CSV) and real training."""

from __future__ import annotations

import csv
import gzip
import math

import numpy as np
import pytest

from nasforge.benchmarks.blackbox import BenchmarkEvaluator
from nasforge.errors import ConfigError
from nasforge.search.evaluators import TrainEvaluator, TrainProtocol
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch
from nasforge.trial import Request

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class FakeStore:
    """A test double with the store's query_many: metric value = index + offset per (dataset, metric)."""

    OFFSETS = {"valid_acc_12ep": 0.25, "valid_acc": 0.5, "test_acc": 0.75, "train_time": 1.0, "params": 2.0}

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def query_many(self, indices, dataset, metric, missing="raise"):
        self.calls.append((dataset, metric))
        values = np.asarray(indices, dtype=float) / 1000 + self.OFFSETS.get(metric, 3.0)
        if metric == "valid_acc_12ep":
            values[7] = math.nan  # one arch without a 12-epoch record
        return values


def test_protocol_searches_cifar10_valid_and_reports_cifar10_test():
    store = FakeStore()
    evaluator = BenchmarkEvaluator(store, "cifar10")
    assert ("cifar10-valid", "valid_acc_12ep") in store.calls
    assert ("cifar10", "test_acc") in store.calls
    assert ("cifar10-valid", "train_time") in store.calls
    arch = NB201Arch.from_index(2000)
    result = evaluator.evaluate(Request(arch))
    assert result.objective == pytest.approx(2.25)
    assert result.cost == pytest.approx(12 * 3.0)  # train_time (2.0 + 1.0) x 12 epochs
    assert result.metrics["test_acc"] == pytest.approx(2.75)
    high = evaluator.evaluate(Request(arch, fidelity=200))
    assert high.objective == pytest.approx(2.5) and high.cost == pytest.approx(600.0)
    assert evaluator.predicted_cost(Request(arch, 200)) == high.cost


def test_validation_pass_cost_is_charged_as_extra_epochs():
    evaluator = BenchmarkEvaluator(FakeStore(), "cifar10", eval_cost_epochs=0.5)
    result = evaluator.evaluate(Request(NB201Arch.from_index(2000)))
    assert result.cost == pytest.approx(12.5 * 3.0)
    with pytest.raises(ConfigError, match=">= 0"):
        BenchmarkEvaluator(FakeStore(), "cifar10", eval_cost_epochs=-1)


def test_missing_benchmark_value_is_a_fail_result():
    result = BenchmarkEvaluator(FakeStore(), "cifar100").evaluate(Request(NB201Arch.from_index(7)))
    assert not result.ok and "valid_acc_12ep" in result.error


def test_bad_dataset_and_fidelity_are_user_errors():
    with pytest.raises(ConfigError, match="known: cifar10, cifar100, ImageNet16-120"):
        BenchmarkEvaluator(FakeStore(), "mnist")
    with pytest.raises(ConfigError, match="valid fidelities: 12, 200"):
        BenchmarkEvaluator(FakeStore(), "cifar10").evaluate(Request(NB201Arch.from_index(0), fidelity=50))


# --- real data --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csv_rows(nb201_csv):
    with gzip.open(nb201_csv, "rt") as f:
        return {row["arch_str"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def store(real_data_dir):
    from nasforge.benchmarks import load_nb201

    return load_nb201(real_data_dir)


@pytest.mark.parametrize(("dataset", "prefix"), [("cifar10", "c10"), ("cifar100", "c100"), ("ImageNet16-120", "in16")])
def test_benchmark_evaluator_returns_the_csv_numbers(store, csv_rows, dataset, prefix):
    evaluator = BenchmarkEvaluator(store, dataset)
    for text in (BEST_C10, NB201Arch.from_index(0).to_string(), NB201Arch.from_index(11).to_string()):
        row = csv_rows[text]
        per_epoch = float(row[f"{prefix}_train_time_200ep_s"]) / 200
        low = evaluator.evaluate(Request(NB201Arch.parse(text)))
        assert low.objective == pytest.approx(float(row[f"{prefix}_val_acc_12ep"]), abs=1e-4)
        assert low.cost == pytest.approx(12 * per_epoch, rel=1e-6)
        assert low.metrics["test_acc"] == pytest.approx(float(row[f"{prefix}_test_acc_200"]), abs=1e-4)
        high = evaluator.evaluate(Request(NB201Arch.parse(text), fidelity=200))
        assert high.objective == pytest.approx(float(row[f"{prefix}_val_acc_200"]), abs=1e-4)
        assert high.cost == pytest.approx(float(row[f"{prefix}_train_time_200ep_s"]), rel=1e-6)


def test_cost_matches_the_stores_train_cost(store):
    evaluator = BenchmarkEvaluator(store, "cifar10")
    for index in (0, 11, 6111):
        expected = store.train_cost(index, "cifar10-valid", 12, schedule="12")
        assert evaluator.evaluate(Request(NB201Arch.from_index(index))).cost == pytest.approx(expected)


def test_rank_and_optimum_on_cifar10(store, csv_rows):
    tables = BenchmarkEvaluator(store, "cifar10").tables
    tests = sorted((float(r["c10_test_acc_200"]) for r in csv_rows.values()), reverse=True)
    assert tables.best_test == pytest.approx(94.373333, abs=1e-5)  # NB201's published optimum
    assert tables.rank_by_test(NB201Arch.from_index(6111)) == 1
    best = float(csv_rows[BEST_C10]["c10_test_acc_200"])
    assert tables.rank_by_test(NB201Arch.parse(BEST_C10)) == 1 + sum(t > best for t in tests)
    assert tables.test.size == NUM_ARCHS


@pytest.mark.slow
def test_train_evaluator_trains_the_arch_for_real(real_data_dir):
    pytest.importorskip("torch")
    protocol = TrainProtocol(train_fraction=0.002, valid_fraction=0.02, epochs=1, batch_size=50, device="cpu")
    evaluator = TrainEvaluator(protocol, seed=0, data_dir=str(real_data_dir))
    arch = NB201Arch.parse("|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    result = evaluator.evaluate(Request(arch))
    assert result.ok and 0.0 <= result.objective <= 100.0
    assert result.metrics["epochs"] == 1 and result.cost > 0
    train, valid = evaluator.datasets()
    assert len(train) == 100  # 0.2 % of CIFAR-10's 50,000 training images, 10 per class
    assert train.class_counts() == [10] * 10
    assert len(valid) == 200  # 2 % of the 10,000 images on disk, held out before the training draw
    again = TrainEvaluator(protocol, seed=0, data_dir=str(real_data_dir)).evaluate(Request(arch))
    assert again.objective == result.objective  # the same trial retrains identically (resume)
