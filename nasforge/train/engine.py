"""The training engine: one function that trains any ``nn.Module`` classifier on an :class:`ImageDataset`.

>>> import torch
>>> from torch import nn
>>> from nasforge.data import ImageDataset
>>> images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
>>> ds = ImageDataset(images, torch.arange(40) % 10, "mnist", "random pixels")
>>> with seeded(0):
...     model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
>>> result = train(model, ds, ds, TrainConfig(epochs=2, batch_size=16), progress=False)
>>> [r.epoch for r in result.records]
[1, 2]

Same seed, same model initialization and same data give the same numbers on CPU: every random draw
(batch order, crops, flips, dropout) comes from generators seeded by ``config.seed``, and the caller's
global torch RNG is left untouched. With ``checkpoint_dir`` the full state (weights, optimizer, step, RNG
states, records) is written atomically after every epoch; ``resume=True`` continues from it and gives
the same records as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasforge._io import atomic_write_bytes
from nasforge.data import BatchLoader, ImageDataset
from nasforge.errors import ConfigError, NasforgeError, TrainingDivergedError, first_line
from nasforge.train.config import EpochRecord, TrainConfig, TrainResult

CHECKPOINT_NAME = "checkpoint.pt"
EVAL_BATCH_SIZE = 500


def select_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; any other name must be one of :func:`available_devices`
    (``cuda`` alone, ``cpu:0`` and ``mps:0`` are accepted as the same devices).

    Raises :class:`ConfigError` for a name torch does not know (``foo``), a kind nasforge cannot train on
    (``meta``) and a device this torch build or machine lacks (``mps`` on Linux, ``cuda:7`` with one GPU, ``xpu``).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = available_devices()
    choices = f"use auto or one of: {', '.join(available)}"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; {choices}") from None
    if device.type not in ("cpu", "cuda", "mps", "xpu"):
        raise ConfigError(f"nasforge does not train on {name!r} devices; {choices}")
    single = device.type in ("cpu", "mps")  # one device of the kind, addressed without an index
    key = device.type if single else f"{device.type}:{device.index or 0}"
    if (single and device.index not in (None, 0)) or key not in available:
        raise ConfigError(f"device {name!r} is not available with torch {torch.__version__} on this machine; {choices}")
    return device


def available_devices() -> list[str]:
    """The devices this torch build can use on this machine: ``cpu``, then ``cuda:N``, ``xpu:N``, ``mps``."""
    names = ["cpu"]
    for kind in ("cuda", "xpu"):
        backend = getattr(torch, kind, None)
        if backend is not None and backend.is_available():
            names += [f"{kind}:{i}" for i in range(backend.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block (e.g. building a model) with torch's global RNG seeded, then restore the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def evaluate(
    model: nn.Module, dataset: ImageDataset, batch_size: int = EVAL_BATCH_SIZE, device: torch.device | str = "cpu"
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (percent) of ``model`` on ``dataset``, in eval mode, no augmentation."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        # inference_mode, not no_grad: nothing evaluated here is ever differentiated, and it skips autograd's
        # version counters (the DARTS search evaluates its supernet with this function every epoch).
        with torch.inference_mode():
            for x, y in BatchLoader(dataset, batch_size, shuffle=False, augment=False):
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss_sum += float(nn.functional.cross_entropy(logits.float(), y, reduction="sum"))
                correct += int((logits.argmax(1) == y).sum())
    finally:
        model.train(was_training)
    n = max(len(dataset), 1)
    return loss_sum / n, 100.0 * correct / n


def train(
    model: nn.Module,
    train_set: ImageDataset,
    valid_set: ImageDataset | None,
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train_set`` and evaluate on ``valid_set`` (if given) after each epoch.

    Raises :class:`TrainingDivergedError` as soon as a batch loss is NaN or infinite.
    """
    device = select_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    model.to(device)
    loader_gen = torch.Generator().manual_seed(config.seed)
    loader = BatchLoader(
        train_set, config.batch_size, shuffle=True, augment=config.augment_for(train_set.name), generator=loader_gen
    )
    optimizer = _make_optimizer(model, config)
    # Compiled for full batches only: a partial last batch runs eagerly, as compiling a second graph for
    # one batch an epoch would cost more than it saves. Checkpoints hold the eager module's state.
    forward = _compiled(model) if config.compile else model
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    total_steps = config.epochs * len(loader)
    records: list[EpochRecord] = []
    step = 0
    # Model-internal randomness (dropout, drop-path) draws from the global RNG: fork it so the caller's state
    # is untouched and the run is reproducible from config.seed alone.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
        if resume and ckpt_path is not None and ckpt_path.is_file():
            records, step = _load_checkpoint(ckpt_path, model, optimizer, scaler, loader_gen, config, device)
        for epoch in range(len(records) + 1, config.epochs + 1):
            start = time.perf_counter()
            first_lr = _lr_at(config, step, total_steps)
            model.train()
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            seen = 0
            for x, y in batch_bar(loader, progress, f"epoch {epoch}/{config.epochs}"):
                lr = _lr_at(config, step, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with torch.autocast(device.type, enabled=use_amp):
                    logits = (forward if x.shape[0] == config.batch_size else model)(x)
                    loss = criterion(logits, y)
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise TrainingDivergedError(
                        f"training loss became {loss_value} at epoch {epoch}, step {step + 1} (lr {lr:g}); "
                        "lower the learning rate or set grad_clip"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                loss_sum += loss_value * y.shape[0]
                correct += (logits.detach().argmax(1) == y).sum().cpu()
                seen += y.shape[0]
            valid_loss = valid_acc = None
            if valid_set is not None:
                valid_loss, valid_acc = evaluate(model, valid_set, EVAL_BATCH_SIZE, device)
            record = EpochRecord(
                epoch=epoch,
                train_loss=float(loss_sum) / seen,
                train_acc=100.0 * int(correct) / seen,
                valid_loss=valid_loss,
                valid_acc=valid_acc,
                seconds=time.perf_counter() - start,
                lr=first_lr,
            )
            records.append(record)
            if ckpt_path is not None:
                _save_checkpoint(ckpt_path, model, optimizer, scaler, loader_gen, config, records, step)
            if on_epoch is not None:
                on_epoch(record)
    return TrainResult(tuple(records), config, str(device), len(train_set), len(valid_set) if valid_set else 0)


def _compiled(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` through ``torch.compile``; a failed compilation (e.g. no C++ compiler) is a user error."""
    from torch._dynamo.exc import BackendCompilerFailed  # importing dynamo costs ~1 s: only when compiling

    compiled = torch.compile(model, dynamic=False)

    def forward(x: torch.Tensor) -> torch.Tensor:
        try:
            return compiled(x)
        except BackendCompilerFailed as exc:
            reason = first_line(exc) or type(exc).__name__
            raise ConfigError(f"torch.compile failed ({reason}); train without compile") from None

    return forward


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
    )


def _lr_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """Cosine annealing from ``lr`` to 0 over all steps (per step, so short runs still anneal smoothly)."""
    if config.schedule == "constant":
        return config.lr
    return cosine_lr(config.lr, step, total_steps)


def cosine_lr(base: float, t: int, total: int, minimum: float = 0.0) -> float:
    """Cosine annealing (Loshchilov & Hutter, 2017) from ``base`` at ``t = 0`` to ``minimum`` at ``t = total``.

    The training engine anneals per step to 0; the DARTS search per epoch to its ``w_lr_min``.
    """
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * t / total))


def batch_bar(loader: BatchLoader, enabled: bool, desc: str) -> Any:
    """``loader`` wrapped in a per-batch progress bar when ``enabled`` and stderr is a terminal."""
    if not enabled:
        return loader
    from tqdm import tqdm

    # disable=None: draw only when stderr is a terminal, so logs and pipes stay clean.
    return tqdm(loader, total=len(loader), desc=desc, disable=None, leave=False)


# --- checkpoints ----------------------------------------------------------------------------------------------


def _save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loader_gen: torch.Generator,
    config: TrainConfig,
    records: list[EpochRecord],
    step: int,
) -> None:
    state = {
        "format": 1,
        "config": config.to_dict(),
        "records": [r.to_dict() for r in records],
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "loader_rng": loader_gen.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    save_checkpoint_file(path, state)


def save_checkpoint_file(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` to ``path`` atomically: a kill leaves the previous checkpoint or this one."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


# What a training checkpoint holds (written by _save_checkpoint): key -> type.
_CHECKPOINT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": int, "config": dict, "records": list, "step": int, "model": dict, "optimizer": dict,
    "scaler": dict, "loader_rng": torch.Tensor, "torch_rng": torch.Tensor,
}  # fmt: skip


def load_checkpoint_file(
    path: Path, fields: dict[str, type | tuple[type, ...]], error: type[NasforgeError], device: Any = "cpu"
) -> dict[str, Any]:
    """``torch.load`` a checkpoint (weights only: no code runs) and check it holds ``fields`` with their types.

    Raises ``error`` with one line naming the file and the first missing or mistyped field.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle; all mean the same to the user
        raise error(f"{path}: unreadable checkpoint ({type(exc).__name__}); delete it to start over") from None
    if not isinstance(state, dict):
        raise error(
            f"{path}: not a nasforge checkpoint (it holds type {type(state).__name__}); delete it to start over"
        )
    for key, kind in fields.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            shown = "missing" if key not in state else f"of type {type(value).__name__}"
            raise error(f"{path}: damaged checkpoint: {key!r} is {shown}; delete it to start over")
    return state


def record_from_dict(cls: type, data: Any, where: str, error: type[NasforgeError]) -> Any:
    """A per-epoch record dataclass from its stored dict, each field checked against its annotation."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    required = {n for n, f in names.items() if f.default is dataclasses.MISSING}
    if not isinstance(data, dict) or not required <= set(data) <= set(names):
        raise error(f"{where}: damaged checkpoint: a record is not a {cls.__name__}; delete it to start over")
    for name, value in data.items():
        kinds = str(names[name].type).split(" | ")
        ok = (value is None and "None" in kinds) or any(_matches(value, k) for k in kinds)
        if not ok:
            raise error(
                f"{where}: damaged checkpoint: a record's {name} is {str(value)[:30]!r}; delete it to start over"
            )
    return cls(**data)


def _matches(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, (int, float))
    if kind == "str":
        return isinstance(value, str)
    return kind.startswith("dict") and isinstance(value, dict)


def _load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loader_gen: torch.Generator,
    config: TrainConfig,
    device: torch.device,
) -> tuple[list[EpochRecord], int]:
    state = load_checkpoint_file(path, _CHECKPOINT_FIELDS, ConfigError, device)
    try:
        saved = TrainConfig.from_dict(state["config"])
    except (NasforgeError, TypeError, ValueError, KeyError):
        raise ConfigError(f"{path}: damaged checkpoint: its 'config' is not a training config; delete it") from None
    if saved != config:
        diff = [k for k, v in config.to_dict().items() if state["config"].get(k) != v]
        raise ConfigError(
            f"{path} was written with a different training config ({', '.join(diff)} differ); "
            "resume with the same settings or use a new checkpoint directory"
        )
    records = [record_from_dict(EpochRecord, r, str(path), ConfigError) for r in state["records"]]
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:  # missing, unexpected or misshapen weights: another architecture's checkpoint
        raise ConfigError(
            f"{path} holds the weights of a different model ({first_line(exc)}); resume with the model that "
            "wrote it or use a new checkpoint directory"
        ) from None
    try:
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        loader_gen.set_state(state["loader_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ConfigError(
            f"{path}: damaged checkpoint: its optimizer or random state cannot be restored ({first_line(exc)}); "
            "delete it to start over"
        ) from None
    if state["step"] < 0:
        raise ConfigError(f"{path}: damaged checkpoint: 'step' is {state['step']}; delete it to start over")
    return records, state["step"]
