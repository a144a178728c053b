"""A trained network out of nasforge: TorchScript with the dataset's normalisation built in.

The exported module takes float32 images N×C×H×W with pixels in [0, 1] (uint8 / 255) and returns N×classes
logits; it standardises with the training split's mean and std itself, so ``torch.jit.load(path)(x)`` is all a
user needs (no nasforge).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from nasforge._io import atomic_write_bytes
from nasforge.data.specs import DatasetSpec


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


def export_torchscript(model: nn.Module, spec: DatasetSpec, path: str | Path) -> nn.Module:
    """Trace ``model`` (eval mode, CPU) behind :class:`Standardized` and write it to ``path`` atomically."""
    wrapped = Standardized(model.cpu().eval(), spec).eval()
    example = torch.rand(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    # The network's input check is plain Python; tracing fixes it for this shape, which is the one the file takes.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(wrapped, example)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return wrapped
