"""A trained network out of nasforge: TorchScript or ONNX with the dataset's normalisation built in, and its
size and speed (:func:`summarize`).

The exported model takes float32 images N×C×H×W with pixels in [0, 1] (uint8 / 255) and returns N×classes
logits; it standardises with the training split's mean and std itself, so ``torch.jit.load(path)(x)`` (or an
``onnxruntime.InferenceSession(path)``) is all a user needs (no nasforge).

ONNX goes through torch's default exporter, the ``torch.export``-based one (``dynamo=True``), which needs
``onnxscript``; the older TorchScript-based exporter also works here but torch deprecates it ("will be
removed"), so nasforge does not build on it. Both run offline.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
import os
import statistics
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nasforge.data.specs import DatasetSpec
from nasforge.errors import ConfigError

FORMATS: tuple[str, ...] = ("torchscript", "onnx")
ONNX_INSTALL = "pip install 'nasforge[onnx]'"
WARMUP_RUNS = 10
"""Untimed calls before the timed ones: the first calls allocate buffers and pick kernels."""


class Standardized(nn.Module):
    """``model`` after standardising [0, 1] pixels with ``spec``'s per-channel mean and std."""

    def __init__(self, model: nn.Module, spec: DatasetSpec) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model((x - self.mean) / self.std)
        # NB201Network returns (features, logits) as NB201 does; the exported model returns the logits only.
        return out[1] if isinstance(out, tuple) else out


def check_format(fmt: str, *, run: bool = False) -> None:
    """:class:`ConfigError` for an unknown format, or for ONNX without the ``onnx`` extra (``run``: also
    onnxruntime, which runs the file to time it)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt == "onnx":
        needed = ("onnx", "onnxscript", *(("onnxruntime",) if run else ()))
        missing = [name for name in needed if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(f"ONNX export needs {', '.join(missing)} (the onnx extra): {ONNX_INSTALL}")


def serialize(model: nn.Module, spec: DatasetSpec, fmt: str = "torchscript") -> bytes:
    """The bytes of ``model`` (eval mode, CPU) behind :class:`Standardized` as a ``fmt`` file.

    Both formats take any batch size; the image shape is ``spec.input_shape``. Raises :class:`ConfigError`
    for an unknown format or ONNX without its extra (:func:`check_format`).
    """
    check_format(fmt)
    wrapped = Standardized(model.cpu().eval(), spec).eval()
    return _onnx_bytes(wrapped, spec) if fmt == "onnx" else _torchscript_bytes(wrapped, spec)


def _torchscript_bytes(wrapped: nn.Module, spec: DatasetSpec) -> bytes:
    example = torch.rand(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    # The network's input check is plain Python; tracing fixes it for this shape, which is the one the file takes.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapped, example)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _onnx_bytes(wrapped: nn.Module, spec: DatasetSpec) -> bytes:
    # torch.export specialises a dimension of size 1 to a constant, so the example has 2 images for the batch
    # dimension to stay free (named "batch" in the file).
    example = torch.rand(2, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad(), warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")  # the exporter's own deprecation notes are not the user's business
        program = torch.onnx.export(
            wrapped, (example,), dynamo=True, input_names=["images"], output_names=["logits"],
            dynamic_shapes=({0: batch},), verbose=False,
        )  # fmt: skip
    return program.model_proto.SerializeToString()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The ONNX exporter prints its steps on stdout, which is the CLI's ``--json`` channel, and logs warnings
    about optional libraries it does not need here (torchvision's ops) on stderr."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            yield
    finally:
        logger.setLevel(level)


# --- summary: size, operations, latency ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    """What an exported network costs.

    ``macs``: multiply-accumulates of one image's forward pass (what NB201 and NATS call FLOPs), from the
    space's own counter where it has one (``macs_source``), else counted by ``torch.utils.flop_counter``
    (its FLOPs / 2) as the network runs. ``latency_ms``: median wall time of ``runs`` calls of the *exported
    file* on one image on the CPU, after :data:`WARMUP_RUNS` untimed calls, with ``threads`` threads.
    """

    format: str
    input_shape: tuple[int, int, int]
    params: int
    macs: int
    macs_source: str
    latency_ms: float
    latency_iqr_ms: tuple[float, float]
    runs: int
    warmup: int
    threads: int
    file_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counted_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of ``model`` on one image as it runs: ``torch.utils.flop_counter`` FLOPs / 2.

    Counts convolutions and matrix products (bias additions, pooling, BatchNorm and activations count zero,
    as in NB201's counter, except that NB201 adds the classifier's bias); ops skipped by the forward pass
    (an NB201 edge into a node that cannot reach the output) are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    # Counted on the meta device (shapes only, on a copy): there, NB201's 3x3 pool is torch's pool, which the
    # counter counts as none, while on CPU nasforge runs it as a depthwise conv that it would count.
    shadow = copy.deepcopy(model).to("meta").eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        shadow(torch.zeros(1, *input_shape, device="meta"))
    return counter.get_total_flops() // 2


def space_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int | None:
    """The space's own count for square images (NB201's and NATS-sss' networks have one), else ``None``."""
    _, h, w = input_shape
    flops = getattr(model, "flops", None)
    return int(flops(h)) if callable(flops) and h == w else None


def summarize(
    model: nn.Module, spec: DatasetSpec, data: bytes, fmt: str, *, runs: int = 50, threads: int = 1
) -> ExportSummary:
    """Parameters and MACs of ``model`` and the measured CPU latency of ``data``, its exported ``fmt`` file.

    Raises :class:`ConfigError` for ``runs`` < 1 or ``threads`` < 1, and for ONNX without onnxruntime.
    """
    if runs < 1 or threads < 1:
        raise ConfigError(f"need runs >= 1 and threads >= 1; got runs={runs}, threads={threads}")
    check_format(fmt, run=True)
    shape = tuple(spec.input_shape)
    own = space_macs(model, shape)
    name = type(model).__name__
    macs, source = (
        (own, f"{name}.flops") if own is not None else (counted_macs(model, shape), "torch.utils.flop_counter")
    )
    times = _latencies(data, fmt, shape, runs, threads)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return ExportSummary(
        format=fmt, input_shape=shape, params=sum(p.numel() for p in model.parameters()), macs=macs,
        macs_source=source, latency_ms=statistics.median(times), latency_iqr_ms=(q[0], q[2]), runs=runs,
        warmup=WARMUP_RUNS, threads=threads, file_bytes=len(data),
    )  # fmt: skip


def _latencies(data: bytes, fmt: str, shape: tuple[int, ...], runs: int, threads: int) -> list[float]:
    """Milliseconds of each timed call of the exported file on one random image."""
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0))
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        return _timed(lambda: session.run(None, feed), runs)
    module = torch.jit.load(io.BytesIO(data)).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # process-wide in torch: restored below
    try:
        with torch.no_grad():
            return _timed(lambda: module(x), runs)
    finally:
        torch.set_num_threads(previous)


def _timed(call: Any, runs: int) -> list[float]:
    for _ in range(WARMUP_RUNS):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return times
