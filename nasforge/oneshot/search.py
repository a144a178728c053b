"""The DARTS search loop: bilevel steps, per-epoch evaluation and records, a log directory, resume.

Per step (DARTS' Algorithm 1): an α update on a batch of the search-valid half (Adam, lr 3e-4,
betas (0.5, 0.999), weight decay 1e-3), then a weight update on a batch of the search-train half
(SGD, lr 0.025, momentum 0.9, weight decay 3e-4). What differs between the spaces is their protocol
(:attr:`nasforge.spaces.registry.OneShotView.protocol`, the defaults of :class:`SearchConfig`'s ``None`` fields):

* ``darts-mnist`` is the DARTS-MNIST sheet's ``train_search.py``: constant lr, no gradient clipping, seed 2,
  the first half of the training set for weights and the second for α, a fresh random validation batch per
  step (the sheet's ``next(iter(valid_loader))``), every training image each epoch (last batch partial);
* ``darts`` and ``nb201`` keep DARTS' refinements: lr cosine-annealed per epoch to 0.001, gradient norm
  clipped at 5, a class-balanced seeded 50/50 split, validation batches in passes, full batches only.

The log directory holds ``search.log`` (human-readable), ``search.jsonl`` (one record per epoch:
losses, accuracies, softmax(α) per edge, the genotype), ``genotype.json`` (rewritten atomically each
epoch), ``checkpoint.pt`` (everything needed to continue after the last finished epoch), and the sheet's
two files: ``log.txt`` (its per-epoch log lines: train_acc, valid_acc, genotype) and ``architecture`` (the
genotype's printed form).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nasforge._io import atomic_write_text, is_int
from nasforge.data import BatchLoader, ImageDataset, Normalizer, train_valid_split
from nasforge.data.specs import DATASETS as DATASET_SPECS
from nasforge.errors import (
    ArchError,
    ConfigError,
    NasforgeError,
    SettingError,
    StudyError,
    TrainingDivergedError,
    first_line,
)
from nasforge.oneshot.architect import ARCH_BETAS, ARCH_LR, ARCH_WEIGHT_DECAY, Architect
from nasforge.oneshot.methods import METHODS, get_method, temperature
from nasforge.oneshot.selection import best, candidates_for, one_hot, recalibrate_bn
from nasforge.oneshot.supernet import Supernet, build_supernet, darts_macro
from nasforge.spaces.darts import Genotype
from nasforge.spaces.nb201 import NB201Arch
from nasforge.spaces.registry import get_space, list_spaces, oneshot_view
from nasforge.train import select_device
from nasforge.train.engine import (
    CHECKPOINT_NAME,
    batch_bar,
    cosine_lr,
    evaluate,
    load_checkpoint_file,
    record_from_dict,
    save_checkpoint_file,
)

LOG_NAME = "search.log"
RECORDS_NAME = "search.jsonl"
GENOTYPE_NAME = "genotype.json"
SHEET_LOG_NAME = "log.txt"  # the DARTS-MNIST sheet's log file
ARCHITECTURE_NAME = "architecture"  # the sheet's genotype file: str(genotype)
OUTPUT_NAMES = (CHECKPOINT_NAME, RECORDS_NAME, GENOTYPE_NAME, LOG_NAME, SHEET_LOG_NAME, ARCHITECTURE_NAME)
"""Every file a search writes in its log directory (the checkpoint first)."""
LR_SCHEDULES = ("constant", "cosine")
SPLITS = ("halves", "balanced")
VALID_SAMPLINGS = ("random", "stream")

Lookup = Callable[[NB201Arch], dict[str, float]]


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search run (a resumed run must match it exactly).

    Fields left ``None`` take the space's protocol (``OneShotView.protocol``, :mod:`nasforge.spaces.registry`):
    ``lr_schedule`` "constant" or "cosine" (per epoch, ``w_lr`` → ``w_lr_min``), ``grad_clip`` the max global
    gradient norm (0: no clipping), ``stem_multiplier`` the stem's width in units of ``C`` (0: no stem),
    ``split`` "halves" (first part of the images for weights, the rest for α, as the sheet) or "balanced"
    (class-balanced, seeded), ``valid_sampling`` "random" (a fresh random batch each step) or "stream" (the
    search-valid part in shuffled passes), ``drop_last`` whether a partial last training batch is skipped.

    The selecting methods (``spos``, ``rsps``, ``setn``) score ``candidates`` cells after every epoch, each on
    one evaluation batch (``eval_batch_size`` images of the search-valid part, the same for all) after
    recalibrating BatchNorm on ``recalib_batches`` batches of the search-train part.

    ``partial_channels`` (DrNAS on nb201 only): DrNAS' progressive schedule, the epochs split evenly into one
    stage per entry, stage s running partial channel connections with K = ``partial_channels[s]`` and, from
    its start, only the ``keep_ops[s]`` ops of each edge with the largest α (DrNAS' NB201 run: K 4 then 2,
    keeping 5 then 3 ops). Empty: no schedule.

    ``warmup_epochs`` W: α is not stepped in the first W epochs of each stage (the whole run is one stage without
    the progressive schedule) while the weights train as usual; DrNAS' NB201 code waits 10 epochs of each 50.
    Methods that train α only, and W must leave every stage at least one epoch of α steps.
    """

    space: str = "darts-mnist"
    dataset: str = "mnist"
    epochs: int = 5
    order: int = 1
    batch_size: int = 64
    C: int | None = None
    layers: int | None = None
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    grad_clip: float | None = None
    a_lr: float = ARCH_LR
    a_betas: tuple[float, float] = ARCH_BETAS
    a_weight_decay: float = ARCH_WEIGHT_DECAY
    valid_fraction: float = 0.5
    seed: int | None = None
    device: str = "auto"
    eval_batch_size: int = 1000
    lr_schedule: str | None = None
    stem_multiplier: int | None = None
    split: str | None = None
    valid_sampling: str | None = None
    drop_last: bool | None = None
    method: str = "darts"
    tau_max: float = 10.0
    tau_min: float = 0.1
    candidates: int = 100
    recalib_batches: int = 4
    partial_channels: tuple[int, ...] = ()
    keep_ops: tuple[int, ...] = ()
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        get_method(self.method, self.space)  # unknown, or not for this space: ConfigError naming the valid ones
        if not get_method(self.method).uses_temperature:  # a temperature another method would silently ignore
            users = ", ".join(name for name, m in METHODS.items() if m.uses_temperature)
            for name in ("tau_max", "tau_min"):
                if getattr(self, name) != SearchConfig.__dataclass_fields__[name].default:
                    raise SettingError(name, f"applies to {users} only (its Gumbel-softmax temperature); method "
                                       f"{self.method!r} has none: leave out {{{name}}}")  # fmt: skip
        if not (math.isfinite(self.tau_max) and math.isfinite(self.tau_min) and 0 < self.tau_min <= self.tau_max):
            # A SettingError: the CLI names its options (--tau-min), the library its fields (tau_min).
            raise SettingError("tau_min", f"{self.tau_min!r} must lie in (0, {{tau_max}} {self.tau_max!r}]: GDAS "
                               "anneals from {tau_max} down to {tau_min}; e.g. {tau_max} 10 {tau_min} 0.1")  # fmt: skip
        if self.space == "nb201" and self.stem_multiplier not in (None, 1):  # NB201's macro builds its own stem
            raise ConfigError(
                f"stem_multiplier applies to the DARTS cell spaces; NB201's stem is fixed at C channels, got "
                f"{self.stem_multiplier}"
            )
        for name, value in oneshot_view(self.space).protocol.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "a_betas", tuple(self.a_betas))
        object.__setattr__(self, "partial_channels", tuple(self.partial_channels))
        object.__setattr__(self, "keep_ops", tuple(self.keep_ops))
        self._check_schedule()
        if self.order not in (1, 2):
            raise ConfigError(f"order must be 1 (first-order) or 2 (second-order), got {self.order}")
        if self.order == 2 and not get_method(self.method).trains_alpha:
            raise self._alpha_only("--order 2")
        if not (math.isfinite(self.a_lr) and self.a_lr > 0):
            raise ConfigError(f"the architecture lr must be a finite number > 0, got {self.a_lr!r}")
        if self.a_lr != ARCH_LR and not get_method(self.method).trains_alpha:
            raise self._alpha_only("--arch-lr")
        if self.candidates < 1 or self.recalib_batches < 1:
            raise ConfigError(
                f"candidates and recalib_batches must be >= 1, got {self.candidates} and {self.recalib_batches}"
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch size must be >= 1, got {self.epochs} and {self.batch_size}")
        self._check_warmup()
        for name, valid in (("lr_schedule", LR_SCHEDULES), ("split", SPLITS), ("valid_sampling", VALID_SAMPLINGS)):
            if getattr(self, name) not in valid:
                raise ConfigError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip >= 0):
            raise ConfigError(f"grad_clip must be a finite number >= 0 (0: no clipping), got {self.grad_clip!r}")
        if self.stem_multiplier < 0:
            raise ConfigError(f"stem_multiplier must be >= 0 (0: no stem), got {self.stem_multiplier}")

    def _check_schedule(self) -> None:
        ks, keeps = self.partial_channels, self.keep_ops
        if not ks and not keeps:
            return
        if self.method != "drnas" or self.space != "nb201":
            raise ConfigError("the progressive partial-channel schedule is DrNAS' on nb201: use --method drnas "
                              "--space nb201, or leave out --partial-channels and --keep-ops")  # fmt: skip
        C = oneshot_view(self.space).default_C if self.C is None else self.C
        n_ops = len(get_space(self.space).ops)
        if len(ks) != len(keeps) or len(ks) > self.epochs:
            raise ConfigError(
                f"give one --keep-ops per --partial-channels stage, at most one stage per epoch; got "
                f"{len(ks)} K value(s), {len(keeps)} keep value(s), {self.epochs} epoch(s)"
            )
        if any(k < 1 or C % k for k in ks):
            raise ConfigError(f"each partial-channel K must be >= 1 and divide C={C}, got {list(ks)}")
        # DrNAS widens the edges stage by stage (K shrinks); a narrowing stage would drop trained channels.
        if list(ks) != sorted(ks, reverse=True):
            raise ConfigError(f"--partial-channels must be non-increasing (each stage as wide or wider): {list(ks)}")
        if any(not 1 <= n <= n_ops for n in keeps) or list(keeps) != sorted(keeps, reverse=True):
            raise ConfigError(f"--keep-ops must be non-increasing numbers of ops from 1 to {n_ops}, got {list(keeps)}")

    def _alpha_only(self, option: str) -> ConfigError:
        """The refusal of ``option``, a setting of the α training, for a method that trains no α (SPOS, RSPS)."""
        trained = ", ".join(name for name, m in METHODS.items() if m.trains_alpha)
        return ConfigError(f"method {self.method!r} trains no architecture parameters; {option} applies to {trained}")

    def _check_warmup(self) -> None:
        W = self.warmup_epochs
        if not is_int(W) or W < 0:
            raise ConfigError(f"--warmup-epochs must be an integer >= 0 (0: α trains from the start), got {W!r}")
        if W and not get_method(self.method).trains_alpha:
            raise self._alpha_only("--warmup-epochs")
        shortest = min(Counter(self.stage_at(e) for e in range(self.epochs)).values(), default=0)
        if W and W >= shortest:
            what = "the run" if not self.partial_channels else "its shortest progressive stage"
            raise ConfigError(
                f"--warmup-epochs {W} leaves no epoch of α training: {what} has {shortest} epoch(s); "
                f"use at most {shortest - 1}"
            )

    def stage_at(self, epoch: int) -> int:
        """The progressive schedule's stage of epoch ``epoch`` (from 0): the epochs split evenly."""
        return epoch * len(self.partial_channels) // self.epochs

    def trains_alpha_at(self, epoch: int) -> bool:
        """Whether α is stepped in epoch ``epoch`` (from 0): the method trains α and the epoch is past the first
        ``warmup_epochs`` of its stage (DrNAS' ``if epoch >= 10``, ``epoch`` counted within the stage)."""
        stage = self.stage_at(epoch)
        start = next(e for e in range(epoch + 1) if self.stage_at(e) == stage)
        return get_method(self.method).trains_alpha and epoch - start >= self.warmup_epochs

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["a_betas"] = list(self.a_betas)
        data["partial_channels"], data["keep_ops"] = list(self.partial_channels), list(self.keep_ops)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def tau_at(self, epoch: int) -> float:
        """The method's temperature in epoch ``epoch`` (from 0): GDAS' linear ``tau_max`` → ``tau_min``."""
        return temperature(epoch, self.epochs, self.tau_max, self.tau_min)

    def lr_at(self, epoch: int) -> float:
        """The weight lr of epoch ``epoch`` (from 0): ``w_lr``, or DARTS' per-epoch cosine schedule."""
        if self.lr_schedule == "constant":
            return self.w_lr
        return cosine_lr(self.w_lr, epoch, self.epochs, self.w_lr_min)


@dataclass(frozen=True)
class SearchRecord:
    """One search epoch. Accuracies in percent; ``alphas`` = softmax(α) per cell kind, one row per edge."""

    epoch: int
    train_loss: float
    train_acc: float
    arch_loss: float
    valid_loss: float
    valid_acc: float
    lr: float
    seconds: float
    genotype: str
    alphas: dict[str, list[list[float]]]
    benchmark: dict[str, float] | None = None  # NB201: the derived arch's true benchmark numbers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchResult:
    config: SearchConfig
    records: tuple[SearchRecord, ...]
    arch: Any  # Genotype or NB201Arch
    device: str
    train_size: int
    valid_size: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "arch": str(self.arch),
            "device": self.device,
            "train_size": self.train_size,
            "valid_size": self.valid_size,
            "seconds": self.seconds,
            "records": [r.to_dict() for r in self.records],
        }


def search(
    config: SearchConfig,
    dataset: ImageDataset,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    lookup: Lookup | None = None,
    on_epoch: Callable[[SearchRecord], None] | None = None,
) -> SearchResult:
    """Run a DARTS search on the training split ``dataset`` (split into search-train / search-valid here)."""
    if dataset.name != config.dataset:
        raise ConfigError(f"config is for dataset {config.dataset!r} but {dataset.name!r} images were given")
    device = select_device(config.device)
    search_train, search_valid = search_split(dataset, config)
    model = build_supernet(
        config.space,
        dataset.spec or config.dataset,  # your own data's spec (classes, channels) travels with its images
        C=config.C,
        layers=config.layers,
        seed=config.seed,
        stem_multiplier=config.stem_multiplier,
    ).to(device)
    model.method = get_method(config.method, config.space)
    model.sample_gen = torch.Generator().manual_seed(config.seed + 2)  # the method's samples (GDAS, DrNAS)
    architect = Architect(
        model,
        order=config.order,
        lr=config.a_lr,
        betas=config.a_betas,
        weight_decay=config.a_weight_decay,
        regularizer=model.method.regularizer,
    )
    w_optimizer = torch.optim.SGD(
        model.weight_parameters(), lr=config.w_lr, momentum=config.w_momentum, weight_decay=config.w_weight_decay
    )
    # DARTS searches CIFAR-10 with crop + flip, as it trains
    augment = (dataset.spec or DATASET_SPECS[config.dataset]).augment
    train_gen = torch.Generator().manual_seed(config.seed)
    valid_gen = torch.Generator().manual_seed(config.seed + 1)
    train_loader = BatchLoader(
        search_train, config.batch_size, shuffle=True, augment=augment, generator=train_gen, drop_last=config.drop_last
    )
    valid_loader = BatchLoader(
        search_valid, config.batch_size, shuffle=True, augment=augment, generator=valid_gen, drop_last=True
    )
    if len(train_loader) == 0 or len(valid_loader) == 0:
        raise ConfigError(
            f"{len(dataset)} images give no full batch of {config.batch_size} per search half; "
            "use a smaller --batch-size or more data"
        )
    valid_batches = _RandomBatches(valid_loader) if config.valid_sampling == "random" else _BatchStream(valid_loader)
    run = _Run(
        config, model, architect, w_optimizer, train_loader, train_gen, valid_batches, search_valid, device,
        *(_selection_sets(search_train, search_valid, config) if model.method.selection else ((), None)),
    )  # fmt: skip
    out = Path(out_dir) if out_dir is not None else None
    records: list[SearchRecord] = []
    if resume and out is not None and (out / CHECKPOINT_NAME).is_file():
        records = _load_checkpoint(out / CHECKPOINT_NAME, run)
    elif out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / LOG_NAME, "")
        params = sum(p.numel() for p in model.weight_parameters())
        header = _sheet_line(f"args = {config}") + _sheet_line(f"param size = {params / 1e6:f}MB")
        atomic_write_text(out / SHEET_LOG_NAME, header)
    for epoch in range(len(records), config.epochs):
        record = _epoch(run, epoch, progress, lookup)
        records.append(record)
        if out is not None:
            _write_epoch(out, run, records)
        if on_epoch is not None:
            on_epoch(record)
    return SearchResult(config, tuple(records), model.derive(), str(device), len(search_train), len(search_valid))


@dataclass(frozen=True)
class _Run:
    """What every epoch of one search works on (built once by :func:`search`; the objects inside change)."""

    config: SearchConfig
    model: Supernet
    architect: Architect
    w_optimizer: torch.optim.Optimizer
    train_loader: BatchLoader
    train_gen: torch.Generator
    valid_batches: _RandomBatches | _BatchStream  # the α step's batches
    search_valid: ImageDataset  # evaluated after each epoch
    device: torch.device
    recalib: tuple[torch.Tensor, ...] = ()  # selecting methods: BatchNorm recalibration batches (CPU)
    score_set: ImageDataset | None = None  # selecting methods: the images every candidate is scored on


def _selection_sets(
    search_train: ImageDataset, search_valid: ImageDataset, config: SearchConfig
) -> tuple[tuple[torch.Tensor, ...], ImageDataset]:
    """The fixed recalibration batches (seeded draw of the search-train part, no augmentation) and scoring set
    (seeded draw of ``eval_batch_size`` search-valid images) of a selecting method: the same for every
    candidate and every epoch, so scores compare candidates, not batches."""
    gen = torch.Generator().manual_seed(config.seed + 3)
    n = min(len(search_train), config.recalib_batches * config.batch_size)
    images = search_train.subset(torch.randperm(len(search_train), generator=gen)[:n], "recalibration images")
    batches = tuple(x for x, _ in BatchLoader(images, config.batch_size, shuffle=False, augment=False))
    k = min(len(search_valid), config.eval_batch_size)
    score_set = search_valid.subset(torch.randperm(len(search_valid), generator=gen)[:k], f"{k} scoring images")
    return batches, score_set


def search_split(dataset: ImageDataset, config: SearchConfig) -> tuple[ImageDataset, ImageDataset]:
    """The (search-train, search-valid) parts of ``dataset``: by index ("halves") or class-balanced."""
    if config.split == "balanced":
        return train_valid_split(dataset, config.valid_fraction, config.seed)
    # The sheet's split: indices[:floor((1 - valid) * n)] for the weights, the rest for α.
    split = math.floor((1 - config.valid_fraction) * len(dataset))
    if not 0 < split < len(dataset):
        raise ConfigError(f"{len(dataset)} images leave a search half empty; use more data")
    order = torch.arange(len(dataset))
    pct = f"{config.valid_fraction:g}"
    return (
        dataset.subset(order[:split], f"first {split:,} images (valid fraction {pct})"),
        dataset.subset(order[split:], f"last {len(dataset) - split:,} images (valid fraction {pct})"),
    )


class _RandomBatches:
    """A fresh random batch of the search-valid part at each step, as the sheet's ``next(iter(valid_loader))``
    (a new shuffle's first batch: ``batch_size`` distinct images drawn uniformly, independently per step)."""

    def __init__(self, loader: BatchLoader) -> None:
        self.loader = loader
        self.normalize = Normalizer(loader.dataset.name, loader.dataset.image_shape[0])

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        ds, gen = self.loader.dataset, self.loader.generator
        index = torch.randperm(len(ds), generator=gen)[: self.loader.batch_size]
        images = ds.images[index]
        if self.loader.augment:
            from nasforge.data import random_crop_flip

            images = random_crop_flip(images, gen)
        return self.normalize(images), ds.labels[index]

    def state(self) -> dict[str, Any]:
        return {"generator": self.loader.generator.get_state()}

    def restore(self, state: dict[str, Any]) -> None:
        self.loader.generator.set_state(state["generator"])


class _BatchStream:
    """Endless batches of the search-valid half, pass after pass, with a position a checkpoint can restore.

    The two halves need not give the same number of batches, so an epoch can end in the middle of a
    valid pass; resuming there (not at a new pass) makes a resumed search repeat the uninterrupted one.
    """

    def __init__(self, loader: BatchLoader) -> None:
        self.loader = loader
        self.pass_state: torch.Tensor | None = None
        self.consumed = 0
        self._batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._batches is None:
            self._start()
        try:
            batch = next(self._batches)
        except StopIteration:
            self._start()
            batch = next(self._batches)
        self.consumed += 1
        return batch

    def _start(self) -> None:
        self.pass_state, self.consumed = self.loader.generator.get_state(), 0
        self._batches = iter(self.loader)

    def state(self) -> dict[str, Any]:
        return {"pass_state": self.pass_state, "consumed": self.consumed}

    def restore(self, state: dict[str, Any]) -> None:
        if state["pass_state"] is None:
            return
        self.loader.generator.set_state(state["pass_state"])
        self._start()
        for _ in range(state["consumed"]):
            next(self._batches)
        self.consumed = state["consumed"]


def _epoch(run: _Run, epoch: int, progress: bool, lookup: Lookup | None) -> SearchRecord:
    """Epoch ``epoch`` (from 0): one α step and one weight step per training batch, then the evaluation."""
    config, model, device = run.config, run.model, run.device
    start = time.perf_counter()
    lr = config.lr_at(epoch)
    for group in run.w_optimizer.param_groups:
        group["lr"] = lr
    model.tau = config.tau_at(epoch)
    if config.partial_channels:
        stage = config.stage_at(epoch)
        model.partial = config.partial_channels[stage]
        if epoch == 0 or stage != config.stage_at(epoch - 1):  # a stage's start: DrNAS prunes, then widens
            if config.keep_ops[stage] < len(model.ops):
                model.prune(config.keep_ops[stage])
            if stage and config.partial_channels[stage] < config.partial_channels[stage - 1]:
                widen_gen = torch.Generator().manual_seed(config.seed + 5 + 7919 * stage)  # resume-safe: per stage
                model.widen(config.partial_channels[stage - 1], config.partial_channels[stage], widen_gen,
                            run.w_optimizer)  # fmt: skip
    model.train()
    loss_sum = arch_sum = 0.0
    correct = seen = 0
    steps = 0
    # SPOS and RSPS train weights only, and no method steps α in a warm-up epoch (arch_loss stays 0)
    step_alpha = config.trains_alpha_at(epoch)
    for x, y in batch_bar(run.train_loader, progress, f"search {epoch + 1}/{config.epochs}"):
        x, y = x.to(device), y.to(device)
        if step_alpha:
            xv, yv = (t.to(device) for t in next(run.valid_batches))
            arch_sum += run.architect.step((xv, yv), (x, y), run.w_optimizer)
        value, logits = weight_step(model, run.w_optimizer, (x, y), config.grad_clip)
        if not math.isfinite(value):
            raise TrainingDivergedError(f"search loss became {value} at epoch {epoch + 1}; lower the weight lr")
        loss_sum += value * len(y)
        correct += int((logits.detach().argmax(1) == y).sum())
        seen += len(y)
        steps += 1
    if model.method.selection:
        valid_loss, valid_acc = _select(run, epoch)
    else:
        valid_loss, valid_acc = evaluate(model, run.search_valid, config.eval_batch_size, device)
    arch = model.derive()
    return SearchRecord(
        epoch=epoch + 1,
        train_loss=loss_sum / seen,
        train_acc=100.0 * correct / seen,
        arch_loss=arch_sum / steps,
        valid_loss=valid_loss,
        valid_acc=valid_acc,
        lr=lr,
        seconds=time.perf_counter() - start,
        genotype=arch.to_string() if isinstance(arch, NB201Arch) else str(arch),
        alphas=model.alpha_weights(),
        benchmark=lookup(arch) if lookup is not None and isinstance(arch, NB201Arch) else None,
    )


def _select(run: _Run, epoch: int) -> tuple[float, float]:
    """A selecting method's choice over the supernet as trained so far: ``candidates`` cells scored with
    inherited weights and recalibrated BatchNorm; sets ``model.selected`` and returns the winner's loss and
    accuracy on the whole search-valid part (its BatchNorm recalibrated last)."""
    model, config, device = run.model, run.config, run.device
    n_ops = len(model.ops)
    recalib = [x.to(device) for x in run.recalib]

    def score(candidate) -> float:
        model.fixed = one_hot(candidate, n_ops)
        recalibrate_bn(model, recalib)
        return evaluate(model, run.score_set, config.eval_batch_size, device)[1]

    gen = torch.Generator().manual_seed(config.seed + 4 + 7919 * epoch)  # per epoch: a resumed run repeats it
    probs = model.method.mean_weights(model.alpha.detach())
    try:
        winner, _ = best(candidates_for(model.method.selection, score, config.candidates, probs, gen))
        model.fixed = one_hot(winner, n_ops)
        recalibrate_bn(model, recalib)
        result = evaluate(model, run.search_valid, config.eval_batch_size, device)
    finally:
        model.fixed = None
    model.selected = NB201Arch(tuple(model.ops[i] for i in winner))
    return result


def weight_step(
    model: Supernet, optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, torch.Tensor], grad_clip: float
) -> tuple[float, torch.Tensor]:
    """One SGD step of the weights on a training batch (α untouched; gradient norm clipped at ``grad_clip``
    unless it is 0); returns the loss and the logits."""
    x, y = batch
    # The weight gradients never need α's graph: without it the forward and backward skip α's terms.
    model.weights_only = True
    try:
        logits = model(x)
    finally:
        model.weights_only = False
    loss = F.cross_entropy(logits, y)
    weights = model.weight_parameters()
    # Gradients for the weights only: α needs none here, and the optimizer never sees it. A one-path method
    # (GDAS) leaves the ops not taken without a gradient (None): SGD skips them, as in GDAS' own code.
    for p, g in zip(weights, torch.autograd.grad(loss, weights, allow_unused=True), strict=True):
        p.grad = g
    weights = [p for p in weights if p.grad is not None]
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(weights, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), logits.detach()


# --- the log directory ----------------------------------------------------------------------------------------


def genotype_document(config: SearchConfig, arch: Any, epoch: int) -> dict[str, Any]:
    """What ``genotype.json`` holds: the space, its macro options and the arch (DARTS dict or NB201 string)."""
    doc: dict[str, Any] = {
        "space": config.space,
        "dataset": config.dataset,
        "C": config.C,
        "layers": config.layers,
        "stem_multiplier": config.stem_multiplier,
        "epoch": epoch,
    }
    if isinstance(arch, NB201Arch):
        doc["arch"] = arch.to_string()
    else:
        doc["genotype"] = arch.to_dict()
        doc["printable"] = str(arch)
    return doc


def load_genotype(path: str | Path) -> tuple[dict[str, Any], Any]:
    """Read ``genotype.json`` (or a log directory holding one): the document and its Genotype / NB201Arch.

    Raises :class:`ArchError` naming the file for anything malformed, or ops foreign to the recorded space.
    """
    path = Path(path)
    if path.is_dir():
        path = path / GENOTYPE_NAME
    if not path.is_file():
        raise StudyError(f"{path} not found: give a log directory written by 'nasforge darts' or its {GENOTYPE_NAME}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ArchError(f"{path} is not valid JSON ({reason}); rerun 'nasforge darts' to rewrite it") from None
    spaces = list_spaces("oneshot")
    if not isinstance(doc, dict) or not isinstance(doc.get("space"), str) or doc["space"] not in spaces:
        raise ArchError(f"{path} names no known space (expected 'space': one of {', '.join(spaces)})")
    arch_key, arch_type, arch_what = ("arch", str, "a string") if doc["space"] == "nb201" else (
        "genotype", dict, "an object")  # fmt: skip
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        # your own data is recorded by its absolute path
        "dataset": (lambda v: isinstance(v, str) and (v in DATASET_SPECS or v.startswith("/")),
                    f"one of {', '.join(DATASET_SPECS)} or a path"),
        # null: the space's default, as 'nasforge darts' without --C records it
        "C": (lambda v: v is None or _is_count(v), "an integer >= 1 or null"),
        "layers": (lambda v: v is None or _is_count(v), "an integer >= 1 or null"),
        "stem_multiplier": (lambda v: v is None or _is_count(v, 0), "an integer >= 0 or null"),
        "epoch": (lambda v: _is_count(v, 0), "an integer >= 0"),
        arch_key: (lambda v: isinstance(v, arch_type), arch_what),
    }
    for key, (ok, what) in checks.items():
        if key in doc and not ok(doc[key]):
            raise ArchError(f"{path}: {key!r} is {str(doc[key])[:40]!r}, expected {what}; rerun 'nasforge darts'")
    try:
        if doc["space"] == "nb201":
            arch: Any = NB201Arch.parse(str(doc["arch"]))
        else:
            arch = Genotype.from_dict(doc["genotype"])
            arch.check_space(doc["space"])
            # Only the cells' inputs and nodes are compared, which no dataset changes: own data checks as MNIST.
            known = doc.get("dataset", "mnist") if doc.get("dataset", "mnist") in DATASET_SPECS else "mnist"
            macro = darts_macro(doc["space"], known, None, doc.get("layers"), doc.get("stem_multiplier"))
            if (arch.n_inputs, arch.steps) != (macro.n_inputs, macro.steps):
                raise ArchError(
                    f"its cells have {arch.n_inputs} input(s) and {arch.steps} nodes, but {doc['space']} "
                    f"cells have {macro.n_inputs} and {macro.steps}"
                )
    except KeyError as exc:
        raise ArchError(f"{path} lacks the field {exc}; rerun 'nasforge darts' to rewrite it") from None
    except NasforgeError as exc:
        raise ArchError(f"{path}: {exc}") from None
    return doc, arch


def _is_count(value: Any, least: int = 1) -> bool:
    return is_int(value) and value >= least


def _write_epoch(out: Path, run: _Run, records: list[SearchRecord]) -> None:
    """Append the epoch to the logs and rewrite the genotype, the records and the checkpoint (each atomically)."""
    config, r = run.config, records[-1]
    line = (
        f"epoch {r.epoch}/{config.epochs}  lr {r.lr:.5f}  train loss {r.train_loss:.4f} acc {r.train_acc:.2f}%  "
        f"valid loss {r.valid_loss:.4f} acc {r.valid_acc:.2f}%  ({r.seconds:.1f}s)\n  genotype {r.genotype}\n"
    )
    if r.benchmark:
        line += "  benchmark " + ", ".join(f"{k} {v:.2f}" for k, v in r.benchmark.items()) + "\n"
    with open(out / LOG_NAME, "a", encoding="utf-8") as f:
        f.write(line)
    with open(out / SHEET_LOG_NAME, "a", encoding="utf-8") as f:
        f.write(
            _sheet_line(f"Starting epoch {r.epoch}/{config.epochs}")
            + _sheet_line(f"train_acc {r.train_acc:f}")
            + _sheet_line(f"valid_acc {r.valid_acc:f}")
            + _sheet_line(f"genotype = {r.genotype}")
        )
    atomic_write_text(out / ARCHITECTURE_NAME, r.genotype)
    atomic_write_text(out / RECORDS_NAME, "".join(json.dumps(rec.to_dict()) + "\n" for rec in records))
    atomic_write_text(
        out / GENOTYPE_NAME, json.dumps(genotype_document(config, run.model.derive(), r.epoch), indent=2) + "\n"
    )
    state = {
        "config": config.to_dict(),
        "model": run.model.state_dict(),
        "w_optimizer": run.w_optimizer.state_dict(),
        "a_optimizer": run.architect.optimizer.state_dict(),
        "train_gen": run.train_gen.get_state(),
        "valid_stream": run.valid_batches.state(),
        "records": [rec.to_dict() for rec in records],
        "sample_gen": run.model.sample_gen.get_state(),
        "selected": None if run.model.selected is None else run.model.selected.to_string(),
        "op_mask": run.model.op_mask,
    }
    save_checkpoint_file(out / CHECKPOINT_NAME, state)


_CHECKPOINT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": dict, "model": dict, "w_optimizer": dict, "a_optimizer": dict, "train_gen": torch.Tensor,
    "valid_stream": dict, "records": list,
}  # fmt: skip


def _sheet_line(message: str) -> str:
    """One line of the sheet's ``log.txt`` (its logging format ``'%(asctime)s %(message)s'``, datefmt
    ``'%m/%d %I:%M:%S %p'``)."""
    return f"{time.strftime('%m/%d %I:%M:%S %p')} {message}\n"


def _load_checkpoint(path: Path, run: _Run) -> list[SearchRecord]:
    """Restore ``run`` from the checkpoint at ``path`` (written by :func:`_write_epoch`); its records so far."""
    state = load_checkpoint_file(path, _CHECKPOINT_FIELDS, StudyError)
    config = run.config
    try:
        saved = SearchConfig.from_dict(state["config"])
    except (NasforgeError, TypeError, ValueError, KeyError):
        raise StudyError(
            f"cannot resume from {path}: its 'config' is not a search configuration; "
            "start afresh without --resume or use another --out directory"
        ) from None
    if saved != config:
        diff = ", ".join(
            f"{k} {getattr(saved, k)!r} -> {getattr(config, k)!r}"
            for k in saved.to_dict()
            if getattr(saved, k) != getattr(config, k)
        )
        raise StudyError(
            f"cannot resume {path.parent}: it holds a search with another configuration ({diff}); "
            "repeat the original options or use another --out directory"
        )
    records = [record_from_dict(SearchRecord, rec, str(path), StudyError) for rec in state["records"]]
    try:
        run.model.load_state_dict(state["model"])
        run.w_optimizer.load_state_dict(state["w_optimizer"])
        run.architect.optimizer.load_state_dict(state["a_optimizer"])
        run.train_gen.set_state(state["train_gen"])
        run.valid_batches.restore(state["valid_stream"])
        if isinstance(state.get("sample_gen"), torch.Tensor):  # older checkpoints (DARTS only) lack it
            run.model.sample_gen.set_state(state["sample_gen"])
        if isinstance(state.get("op_mask"), torch.Tensor):
            run.model.op_mask = state["op_mask"].to(device=run.model.alpha.device, dtype=torch.bool)
        if state.get("selected") is not None:
            run.model.selected = NB201Arch.parse(str(state["selected"]))
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, StopIteration, ArchError) as exc:
        raise StudyError(
            f"cannot resume from {path}: damaged checkpoint, its weights, optimizer or random state cannot be "
            f"restored ({first_line(exc)}); start afresh without --resume or use another --out directory"
        ) from None
    return records
