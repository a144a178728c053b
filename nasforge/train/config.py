"""The training engine's values: what to do (:class:`TrainConfig`) and what happened (:class:`EpochRecord`,
:class:`TrainResult`). Plain frozen dataclasses, JSON-ready through ``to_dict``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from nasforge.data.specs import DATASETS
from nasforge.errors import ConfigError

WEIGHT_OPTIMIZERS = ("sgd", "adam")
"""The torch optimizers the engine trains weights with (the NAS optimizers are ``nasforge.optimizers.OPTIMIZERS``)."""
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run. Defaults: NB201's recipe (SGD, Nesterov momentum 0.9, weight
    decay 5e-4, cosine to zero) scaled to the seed's batch of 64 (lr 0.05).

    ``augment=None`` uses the dataset's standard augmentation (crop + flip on CIFAR-10, none on MNIST).
    ``amp`` enables mixed precision, which only ever happens on CUDA. ``grad_clip`` is a max global norm.
    ``compile`` runs the full training batches through ``torch.compile``: on the CPU the NB201 network's step
    is ~1.15x faster, after a one-off compilation of about a minute per network (it needs a C++ compiler);
    a compiled step agrees with the eager one up to float rounding, whose differences grow over a run.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "constant"] = "cosine"
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    augment: bool | None = None
    compile: bool = False

    def __post_init__(self) -> None:
        _require(
            isinstance(self.epochs, int) and self.epochs >= 1,
            f"epochs must be a whole number >= 1, got {self.epochs!r}",
        )
        _require(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            f"batch_size must be a whole number >= 1, got {self.batch_size!r}",
        )
        _require(
            self.optimizer in WEIGHT_OPTIMIZERS,
            f"optimizer {self.optimizer!r} unknown; expected one of {WEIGHT_OPTIMIZERS}",
        )
        _require(self.schedule in SCHEDULES, f"schedule {self.schedule!r} unknown; expected one of {SCHEDULES}")
        _require(_finite(self.lr) and self.lr > 0, f"lr must be a positive number, got {self.lr!r}")
        _require(
            _finite(self.momentum) and 0 <= self.momentum < 1, f"momentum must lie in [0, 1), got {self.momentum!r}"
        )
        _require(
            not (self.nesterov and self.optimizer == "sgd" and self.momentum == 0),
            "nesterov needs momentum > 0; set momentum (e.g. 0.9) or nesterov=False",
        )
        _require(
            _finite(self.weight_decay) and self.weight_decay >= 0,
            f"weight_decay must be >= 0, got {self.weight_decay!r}",
        )
        _require(
            _finite(self.label_smoothing) and 0 <= self.label_smoothing < 1,
            f"label_smoothing must lie in [0, 1), got {self.label_smoothing!r}",
        )
        _require(isinstance(self.compile, bool), f"compile must be True or False, got {self.compile!r}")
        _require(
            self.grad_clip is None or (_finite(self.grad_clip) and self.grad_clip > 0),
            f"grad_clip must be a positive number or None, got {self.grad_clip!r}",
        )

    def augment_for(self, dataset_name: str) -> bool:
        """Whether to crop + flip ``dataset_name``'s training images: ``augment``, else the dataset's standard."""
        if self.augment is not None:
            return self.augment
        spec = DATASETS.get(dataset_name)
        return spec is not None and spec.augment

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss and accuracy over the epoch's batches (as the weights changed), then
    loss and accuracy on the evaluation set after the epoch (``None`` without one). Accuracies in percent.
    ``lr`` is the learning rate of the epoch's first step; ``seconds`` covers training and evaluation."""

    epoch: int
    train_loss: float
    train_acc: float
    valid_loss: float | None
    valid_acc: float | None
    seconds: float
    lr: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """Every epoch's record plus where the run happened."""

    records: tuple[EpochRecord, ...]
    config: TrainConfig
    device: str
    train_size: int
    valid_size: int

    @property
    def final(self) -> EpochRecord:
        return self.records[-1]

    @property
    def train_acc(self) -> float:
        return self.final.train_acc

    @property
    def valid_acc(self) -> float | None:
        return self.final.valid_acc

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "device": self.device,
            "train_size": self.train_size,
            "valid_size": self.valid_size,
            "seconds": self.seconds,
            "records": [r.to_dict() for r in self.records],
        }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
