"""The passes zero-cost proxies share: one forward/backward on a batch, read by several proxies at once.

A :class:`Probe` runs, on first need, the passes its proxies ask for and keeps their results:

* ``"loss"``: one forward in train mode and the cross-entropy backward; keeps each conv/linear weight and its
  gradient (grad_norm, snip, plain) and each conv/linear output's ``sum over space (activation x gradient)``
  per sample (fisher);
* ``"jacobian"``: the gradient of the summed logits with respect to the input images (jacob_cov, epe_nas);
* ``"codes"``: the kernel ``K = C C^T + (1-C)(1-C)^T`` of the binary ReLU codes ``C`` of every rectified
  activation (nwot).

When "loss" and "jacobian" are both needed they share the forward pass (two backwards on one graph).
Everything is computed in float32 on the batch's device; results are plain numpy / Python values.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from nasforge.errors import ConfigError

PASSES = ("loss", "jacobian", "codes")


@dataclass(frozen=True, eq=False)
class Batch:
    """A minibatch for the proxies: ``images`` float N×C×H×W (normalised as for training), ``labels`` int64 N.

    Data-free proxies read only the shape of ``images``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or not self.images.is_floating_point():
            shape = tuple(self.images.shape)
            raise ConfigError(f"a proxy batch needs float images N×C×H×W, got {self.images.dtype} {shape}")
        if self.labels.shape != (self.images.shape[0],) or self.labels.dtype != torch.int64:
            raise ConfigError(f"a proxy batch needs int64 labels of length {self.images.shape[0]}")
        if self.images.shape[0] < 2:
            raise ConfigError("a proxy batch needs at least 2 images (correlation proxies compare images)")

    def __len__(self) -> int:
        return int(self.images.shape[0])


def weighted_layers(network: nn.Module) -> list[nn.Module]:
    """The conv and linear layers, in module order: the layers every reference implementation scores."""
    return [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class _ReluCodes(TorchFunctionMode):
    """Records ``relu(x) > 0`` of every ReLU, whether an ``nn.ReLU`` module or a functional ``relu``/``relu_``
    (NB201 cells rectify a node once for all its convs, functionally)."""

    _RELUS = frozenset({F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_})

    def __init__(self, n: int, device: torch.device) -> None:
        super().__init__()
        self.kernel = torch.zeros(n, n, dtype=torch.float64, device=device)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's protocol)
        out = func(*args, **(kwargs or {}))
        if func in self._RELUS and isinstance(out, torch.Tensor) and out.dim() > 1:
            codes = (out.detach() > 0).flatten(1).to(torch.float64)
            self.kernel += codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
        return out


@dataclass
class Probe:
    """The shared passes of one network on one batch (see the module docstring); run lazily by :meth:`need`."""

    network: nn.Module
    batch: Batch
    weights: list[torch.Tensor] = field(default_factory=list)
    grads: list[torch.Tensor] = field(default_factory=list)
    fisher_terms: list[torch.Tensor] = field(default_factory=list)  # per layer: (N, channels) act·grad sums
    jacobian: np.ndarray | None = None  # (N, C·H·W) float64
    relu_kernel: np.ndarray | None = None  # (N, N) float64
    num_classes: int = 0  # width of the network's output
    done: set[str] = field(default_factory=set)
    _fisher_on: bool = False  # only the loss backward feeds fisher, not the Jacobian's

    def need(self, passes: set[str]) -> None:
        missing = set(passes) - self.done
        if missing:
            self._run(missing)
            self.done |= missing

    def _run(self, passes: set[str]) -> None:
        net, batch = self.network, self.batch
        net.train()
        net.zero_grad(set_to_none=True)
        layers = weighted_layers(net)
        x = batch.images.detach().clone().requires_grad_("jacobian" in passes)
        fisher: list[torch.Tensor] = []
        handles = []
        if "loss" in passes:
            # The gradient of each conv/linear output is reduced to fisher's (N, channels) term as it arrives,
            # instead of keeping every activation gradient alive (about 4x the memory and time).
            def keep(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
                if out.requires_grad:
                    slot = len(fisher)
                    fisher.append(torch.zeros(out.shape[:2], dtype=torch.float64))
                    out.register_hook(functools.partial(self._fisher_grad, fisher, slot, out.detach()))

            handles = [m.register_forward_hook(keep) for m in layers]
        codes = _ReluCodes(len(batch), x.device) if "codes" in passes else None
        try:
            if codes is not None:
                with codes:
                    logits = net(x)
            else:
                logits = net(x)
        finally:
            for h in handles:
                h.remove()
        self.num_classes = int(logits.shape[1])
        if codes is not None:
            self.relu_kernel = codes.kernel.cpu().numpy()
        if "loss" in passes:
            loss = F.cross_entropy(logits, batch.labels)
            self._fisher_on = True
            loss.backward(retain_graph="jacobian" in passes)
            self._fisher_on = False
            self.weights = [m.weight.detach() for m in layers]
            self.grads = [_grad_or_zero(m.weight) for m in layers]
            self.fisher_terms = fisher
        if "jacobian" in passes:
            grad = torch.autograd.grad(logits.sum(), x, allow_unused=True)[0] if logits.requires_grad else None
            grad = torch.zeros_like(x) if grad is None else grad
            self.jacobian = grad.detach().flatten(1).to(torch.float64).cpu().numpy()
        net.zero_grad(set_to_none=True)

    def _fisher_grad(self, fisher: list[torch.Tensor], slot: int, act: torch.Tensor, grad: torch.Tensor) -> None:
        if self._fisher_on:
            fisher[slot] = _act_grad_sum(act, grad)


def _grad_or_zero(weight: torch.Tensor) -> torch.Tensor:
    # A weight the forward never used (an edge that cannot reach the output) has no gradient: it is zero.
    return torch.zeros_like(weight) if weight.grad is None else weight.grad.detach().clone()


def _act_grad_sum(act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Per sample and channel, sum over space of activation × its gradient (fisher's ``g_nk``)."""
    prod = (act * grad).to(torch.float64)
    return prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
