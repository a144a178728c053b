"""Evaluators turn a :class:`~nasforge.trial.Request` into a :class:`~nasforge.trial.Result`.

The :class:`Evaluator` protocol is all the search loop knows of them. :class:`TrainEvaluator` trains each arch
for real (torch imported lazily, in the trial); the benchmark lookup evaluator lives beside the benchmark data
(:class:`nasforge.benchmarks.blackbox.BenchmarkEvaluator`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from nasforge.errors import ConfigError
from nasforge.trial import Request, Result


class Evaluator(Protocol):
    """What the search loop needs from an evaluator."""

    default_fidelity: int
    simulated_clock: bool  # results come from a table with known costs (True) or from real training (False)

    def evaluate(self, request: Request) -> Result: ...

    def predicted_cost(self, request: Request) -> float | None:
        """The cost ``evaluate`` will charge, when known beforehand (benchmarks); ``None`` otherwise."""
        ...

    def config(self) -> dict[str, Any]: ...


def clock_unit(evaluator: Any) -> str:
    """What one unit of the evaluator's costs (and so of a time budget) is: ``s``, or the ``clock_unit`` it declares
    (the NATS size-space benchmark charges 1 per trial: ``trials``)."""
    return getattr(evaluator, "clock_unit", "s")


@dataclass(frozen=True)
class TrainProtocol:
    """How :class:`TrainEvaluator` trains one arch. Defaults: the seed exercise (5 % of CIFAR-10, 10 epochs).

    ``valid_fraction`` of the available training images is held out first (class-stratified) for
    validation; the training subset is then ``train_fraction`` of the *complete* training split, drawn
    class-balanced from the rest.
    """

    dataset: str = "cifar10"  # a built-in name, or your own image folder / .npz (nasforge.data.own)
    image_size: int | None = None  # your own data: resize to image_size x image_size
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

    Each result's metrics hold the last epoch's ``train_acc``, ``train_loss`` (means over that epoch's batches),
    ``valid_acc`` and ``valid_loss`` (after it; accuracies in %, losses cross-entropy), ``train_time``
    (seconds per epoch), ``params`` (millions) and ``epochs``.

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
            full = load_dataset(p.dataset, "train", self.data_dir, image_size=p.image_size)
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
        model = build_nb201(request.arch, train_set.spec or p.dataset, seed=trial_seed)
        config = TrainConfig(epochs=epochs, batch_size=p.batch_size, seed=trial_seed, device=p.device)
        params = sum(t.numel() for t in model.parameters()) / 1e6
        start = time.perf_counter()
        try:
            outcome = train(model, train_set, valid_set, config, progress=False)
        except TrainingDivergedError as exc:
            return Result.fail(f"training diverged: {exc}", cost=time.perf_counter() - start)
        seconds = time.perf_counter() - start
        last = outcome.final  # the last epoch's numbers, as the seed exercise's evaluate() returns them
        metrics = {
            "valid_acc": float(last.valid_acc),
            "valid_loss": float(last.valid_loss),
            "train_acc": float(last.train_acc),
            "train_loss": float(last.train_loss),
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
            **({} if p.image_size is None else {"image_size": p.image_size}),  # absent: as studies before own data
        }
