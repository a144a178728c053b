"""Evaluators turn a :class:`~nasforge.trial.Request` into a :class:`~nasforge.trial.Result`, by lookup or by training.

:class:`BenchmarkEvaluator` follows the protocol of the NB201 and NATS-Bench papers on a simulated clock:

* the search objective is the validation accuracy of the **separate 12-epoch schedule** (NB201 ``hp='12'``),
  on ``cifar10-valid``'s ``x-valid`` for CIFAR-10 (the net trained on half the training set) and on
  ``x-valid`` for CIFAR-100 / ImageNet16-120;
* each evaluation charges NB201's recorded training time of those epochs (per-epoch ``train_time`` x 12)
  to the clock. NB201/NATS also add one validation pass (``valid-per-time``, about 3 % of the charge);
  the available data hold it for 3 archs only (0.33-0.49 of a training epoch there), so by default nasforge
  charges training time only; ``eval_cost_epochs`` adds that many epochs of training time per trial;
* the reported number is the **200-epoch test accuracy** of the incumbent, on CIFAR-10's ``ori-test`` for
  the net trained on the full training set (``cifar10``), or on ``x-test`` for the other two.

Fidelity 200 (Hyperband's high fidelity) reads the 200-epoch validation accuracy and charges 200 epochs.
All lookups are gathered into :class:`LookupTables` once (vectorized ``query_many``), so an evaluation is
a few array reads. :class:`TrainEvaluator` trains the network for real (torch imported lazily).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from nasforge.errors import ConfigError
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch
from nasforge.trial import Request, Result

BENCHMARK_DATASETS: Mapping[str, tuple[str, str]] = {
    # dataset -> (dataset searched on, dataset whose test accuracy is reported)
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120"),
}
FIDELITY_METRICS: Mapping[int, str] = {12: "valid_acc_12ep", 200: "valid_acc"}
"""Benchmark fidelity (epochs of the schedule) -> the validation metric read at the end of that schedule."""


class Evaluator(Protocol):
    """What the search loop needs from an evaluator."""

    default_fidelity: int
    simulated_clock: bool  # results come from a table with known costs (True) or from real training (False)

    def evaluate(self, request: Request) -> Result: ...

    def predicted_cost(self, request: Request) -> float | None:
        """The cost ``evaluate`` will charge, when known beforehand (benchmarks); ``None`` otherwise."""
        ...

    def config(self) -> dict[str, Any]: ...


def check_benchmark_dataset(dataset: str) -> tuple[str, str]:
    try:
        return BENCHMARK_DATASETS[dataset]
    except KeyError:
        raise ConfigError(f"unknown benchmark dataset {dataset!r}; known: {', '.join(BENCHMARK_DATASETS)}") from None


@dataclass(frozen=True)
class LookupTables:
    """Every number a benchmark search needs, as arrays indexed by the official NB201 index."""

    dataset: str
    valid: Mapping[int, np.ndarray]  # fidelity -> validation accuracy (%)
    test: np.ndarray  # 200-epoch test accuracy (%) on the reported split
    train_time: np.ndarray  # seconds per training epoch on the searched dataset
    params: np.ndarray  # millions
    flops: np.ndarray  # MFLOPs

    @classmethod
    def from_store(cls, store: Any, dataset: str) -> LookupTables:
        search_ds, report_ds = check_benchmark_dataset(dataset)
        every = np.arange(NUM_ARCHS)

        def column(ds: str, metric: str) -> np.ndarray:
            values = store.query_many(every, ds, metric, missing="nan")
            values.setflags(write=False)
            return values

        return cls(
            dataset=dataset,
            valid={f: column(search_ds, metric) for f, metric in FIDELITY_METRICS.items()},
            test=column(report_ds, "test_acc"),
            train_time=column(search_ds, "train_time"),
            params=column(search_ds, "params"),
            flops=column(search_ds, "flops"),
        )

    def rank_by_test(self, arch: NB201Arch) -> int:
        """1 + the number of archs with a strictly higher test accuracy."""
        return 1 + int(np.sum(self.test > self.test[arch.index]))

    @property
    def best_test(self) -> float:
        return float(np.nanmax(self.test))


class BenchmarkEvaluator:
    """Lookup evaluation on NB201 under the NB201/NATS protocol (module docstring), on a simulated clock.

    ``store`` is a :class:`nasforge.benchmarks.BenchmarkStore` (or anything with its ``query_many``);
    alternatively pass prebuilt ``tables`` (what ``nasforge compare`` ships to its worker processes).
    """

    def __init__(
        self,
        store: Any = None,
        dataset: str = "cifar10",
        *,
        tables: LookupTables | None = None,
        eval_cost_epochs: float = 0.0,
    ) -> None:
        check_benchmark_dataset(dataset)
        if not (math.isfinite(eval_cost_epochs) and eval_cost_epochs >= 0):
            raise ConfigError(f"eval_cost_epochs must be a number >= 0, got {eval_cost_epochs}")
        self.eval_cost_epochs = float(eval_cost_epochs)
        if tables is None:
            if store is None:
                raise ConfigError("BenchmarkEvaluator needs a benchmark store or lookup tables")
            tables = LookupTables.from_store(store, dataset)
        self.dataset = dataset
        self.tables = tables
        self.default_fidelity = 12
        self.simulated_clock = True  # costs are looked up: searches run on a simulated clock
        self._indices: dict[NB201Arch, int] = {}  # arch -> official index; the loop asks twice per trial

    def _index(self, arch: NB201Arch) -> int:
        index = self._indices.get(arch)
        if index is None:
            index = self._indices[arch] = arch.index
        return index

    def _fidelity(self, request: Request) -> int:
        fidelity = self.default_fidelity if request.fidelity is None else request.fidelity
        if fidelity not in FIDELITY_METRICS:
            valid = ", ".join(map(str, FIDELITY_METRICS))
            raise ConfigError(f"NB201 has no fidelity {fidelity}; valid fidelities: {valid} epochs")
        return fidelity

    def predicted_cost(self, request: Request) -> float:
        epochs = self._fidelity(request) + self.eval_cost_epochs
        return float(self.tables.train_time[self._index(request.arch)]) * epochs

    def evaluate(self, request: Request) -> Result:
        fidelity = self._fidelity(request)
        index = self._index(request.arch)
        t = self.tables
        cost = float(t.train_time[index]) * (fidelity + self.eval_cost_epochs)
        metrics = {
            "valid_acc": float(t.valid[fidelity][index]),
            "test_acc": float(t.test[index]),
            "train_time": float(t.train_time[index]),
            "params": float(t.params[index]),
            "flops": float(t.flops[index]),
        }
        if math.isnan(metrics["valid_acc"]) or math.isnan(cost):
            missing = FIDELITY_METRICS[fidelity] if math.isnan(metrics["valid_acc"]) else "train_time"
            return Result.fail(f"the benchmark records no {missing} for arch {index} on {self.dataset}", metrics={})
        return Result.complete(metrics["valid_acc"], cost=cost, metrics=metrics)

    def config(self) -> dict[str, Any]:
        search_ds, report_ds = BENCHMARK_DATASETS[self.dataset]
        return {
            "kind": "benchmark",
            "benchmark": "nb201",
            "dataset": self.dataset,
            "search_dataset": search_ds,
            "report_dataset": report_ds,
            "objective": {f: m for f, m in FIDELITY_METRICS.items()},
            "default_fidelity": self.default_fidelity,
            "cost": "train_time x (epochs + eval_cost_epochs)",
            "eval_cost_epochs": self.eval_cost_epochs,
        }


@dataclass(frozen=True)
class TrainProtocol:
    """How :class:`TrainEvaluator` trains one arch. Defaults: the seed exercise (5 % of CIFAR-10, 10 epochs).

    ``valid_fraction`` of the available training images is held out first (class-stratified) for
    validation; the training subset is then ``train_fraction`` of the *complete* training split, drawn
    class-balanced from the rest.
    """

    dataset: str = "cifar10"
    train_fraction: float = 0.05
    valid_fraction: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    device: str = "auto"

    def __post_init__(self) -> None:
        if not 0 < self.train_fraction <= 1 or not 0 < self.valid_fraction < 1:
            raise ConfigError("train_fraction must lie in (0, 1] and valid_fraction in (0, 1)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")


class TrainEvaluator:
    """Trains each requested arch with :func:`nasforge.train.train` and returns its final validation accuracy.

    The data split is drawn once from ``seed``; each trial trains with a seed derived from ``seed`` and the
    arch, so a resumed study retrains an interrupted trial identically. A NaN loss
    (:class:`~nasforge.errors.TrainingDivergedError`) becomes a FAIL result.
    """

    def __init__(self, protocol: TrainProtocol | None = None, *, seed: int = 0, data_dir: str | None = None) -> None:
        self.protocol = protocol or TrainProtocol()
        self.seed = seed
        self.data_dir = data_dir
        self.default_fidelity = self.protocol.epochs
        self.simulated_clock = False
        self._data: tuple[Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Sent to worker processes: without the loaded images, which each worker loads (once) itself.
        return {**self.__dict__, "_data": None}

    def datasets(self) -> tuple[Any, Any]:
        """The protocol's (train, valid) ImageDatasets, loaded once (also used by the exercise sheet's API)."""
        if self._data is None:
            from nasforge.data import class_balanced_subset, load_dataset, train_valid_split

            p = self.protocol
            full = load_dataset(p.dataset, "train", self.data_dir)
            rest, valid = train_valid_split(full, p.valid_fraction, self.seed)
            wanted = round(p.train_fraction * (full.full_size or len(full)))
            if wanted > len(rest):
                raise ConfigError(
                    f"train fraction {p.train_fraction:g} needs {wanted} images but {len(rest)} remain after holding "
                    f"out validation images; lower train_fraction or valid_fraction"
                )
            train = class_balanced_subset(rest, wanted / len(rest), self.seed)
            self._data = (train, valid)
        return self._data

    def predicted_cost(self, request: Request) -> None:
        return None

    def evaluate(self, request: Request) -> Result:
        from nasforge.errors import TrainingDivergedError
        from nasforge.train import TrainConfig, train
        from nasforge.train.models import build_nb201

        p = self.protocol
        epochs = p.epochs if request.fidelity is None else int(request.fidelity)
        train_set, valid_set = self.datasets()
        # One seed per (study seed, arch): an interrupted trial retrains identically after a resume.
        trial_seed = (self.seed * 1_000_003 + request.arch.code) % 2**31
        # build_nb201 sizes the net for the dataset (classes, input channels) and seeds its initialisation
        # without touching the caller's global RNG.
        model = build_nb201(request.arch, p.dataset, seed=trial_seed)
        config = TrainConfig(epochs=epochs, batch_size=p.batch_size, seed=trial_seed, device=p.device)
        params = sum(t.numel() for t in model.parameters()) / 1e6
        start = time.perf_counter()
        try:
            outcome = train(model, train_set, valid_set, config, progress=False)
        except TrainingDivergedError as exc:
            return Result.fail(f"training diverged: {exc}", cost=time.perf_counter() - start)
        seconds = time.perf_counter() - start
        metrics = {
            "valid_acc": float(outcome.valid_acc),
            "train_acc": float(outcome.train_acc),
            "train_time": seconds / epochs,
            "params": params,
            "epochs": epochs,
        }
        return Result.complete(outcome.valid_acc, cost=seconds, metrics=metrics)

    def config(self) -> dict[str, Any]:
        p = self.protocol
        return {
            "kind": "train",
            "dataset": p.dataset,
            "train_fraction": p.train_fraction,
            "valid_fraction": p.valid_fraction,
            "epochs": p.epochs,
            "batch_size": p.batch_size,
            "seed": self.seed,
        }
