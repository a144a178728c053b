"""Proxies that need no data: they read the weights, the architecture, or the response to synthetic input.

``batch`` is only used for its shape (and device). None of them changes the caller's network: synflow and zen
work on a copy.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from nasforge.zerocost._probe import Batch, weighted_layers

ZEN_MIXUP = 1e-2  # Zen-NAS's perturbation size gamma


def params(network: nn.Module, batch: Batch | None = None) -> float:
    """Trainable parameters in millions (every module's, also edges that cannot reach the output, as NB201
    counts them); the all-``none`` NB201 network keeps its stem, reduction blocks and classifier."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad) / 1e6


def flops(network: nn.Module, batch: Batch) -> float:
    """Millions of multiply-accumulates per image. NB201 networks count as NB201 does (every conv edge, classifier
    with bias: :meth:`NB201Network.flops`, the benchmark's ``flops`` metric); any other network counts the conv and
    linear layers that run in one forward of a single image of ``batch``'s shape."""
    size = int(batch.images.shape[-1])
    if hasattr(network, "flops") and callable(network.flops):
        return network.flops(size) / 1e6
    total = 0

    def count(module: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += out[0].numel() * module.in_channels // module.groups * kh * kw
        else:
            total += module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)

    handles = [m.register_forward_hook(count) for m in weighted_layers(network)]
    try:
        with torch.no_grad():
            was = network.training
            network.eval()
            network(batch.images[:1])
            network.train(was)
    finally:
        for h in handles:
            h.remove()
    return total / 1e6


def l2_norm(network: nn.Module, batch: Batch | None = None) -> float:
    """Sum over conv/linear layers of the Frobenius norm of the weight at initialisation (Abdelfattah et al.
    2021 / NASLib's ``l2_norm``)."""
    return float(sum(m.weight.detach().double().norm() for m in weighted_layers(network)))


def _batchnorms(network: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def synflow(network: nn.Module, batch: Batch) -> float:
    """SynFlow (Tanaka et al., "Pruning neural networks without any data by iteratively conserving synaptic
    flow", NeurIPS 2020): on a float64 copy with every weight replaced by its absolute value and BatchNorm
    reduced to the identity (fresh running statistics, eval mode: the references' ``bn=False``), ``R = sum of the
    logits`` for one all-ones image; score ``sum |W ⊙ dR/dW|`` over conv/linear weights. For a chain of L positive
    linear layers every layer contributes R, so the score is L·R. 0 for the all-``none`` cell (no path)."""
    net = copy.deepcopy(network).double()
    for bn in _batchnorms(net):
        bn.reset_running_stats()
    net.eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    ones = torch.ones((1, *batch.images.shape[1:]), dtype=torch.float64, device=batch.images.device)
    net.zero_grad(set_to_none=True)
    out = net(ones)
    if not out.requires_grad:
        return 0.0
    out.sum().backward()
    total = 0.0
    for m in weighted_layers(net):
        if m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    return total


def features(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The feature map before global average pooling: NB201's ``global_pooling`` input, a DARTS network's last
    cell output, else the network's output."""
    seen: list[torch.Tensor] = []
    pool, cells = getattr(network, "global_pooling", None), getattr(network, "cells", None)
    if isinstance(pool, nn.Module):
        hook = pool.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0]))
    elif isinstance(cells, nn.ModuleList) and len(cells):
        hook = cells[-1].register_forward_hook(lambda _m, _i, out: seen.append(out))
    else:
        return network(x)
    try:
        network(x)
    finally:
        hook.remove()
    return seen[0]


def zen(network: nn.Module, batch: Batch, generator: torch.Generator) -> float:
    """Zen-score (Lin et al., "Zen-NAS", ICCV 2021). On a copy with every conv/linear weight drawn from N(0, 1)
    (biases 0, BatchNorm affine 1/0, fresh statistics, train mode): ``x, e ~ N(0, 1)`` of the batch's shape,
    ``Δ = mean_n sum_chw |f(x) - f(x + 0.01 e)|`` on the pre-pooling features ``f``, score
    ``log Δ + sum over BatchNorms of log sqrt(mean running_var)``. Draws come from ``generator`` in this order:
    weights (module order), x, e. All-``none`` networks have Δ = 0; log Δ is then taken at the smallest
    positive float64 (about -708), a finite floor below every real architecture."""
    net = copy.deepcopy(network)
    device = batch.images.device
    dtype = next(net.parameters()).dtype
    with torch.no_grad():
        for m in weighted_layers(net):
            w = torch.randn(m.weight.shape, generator=generator, device=device)
            m.weight.copy_(w)
            if m.bias is not None:
                m.bias.zero_()
        for bn in _batchnorms(net):
            bn.reset_parameters()
        net.train()
        shape = batch.images.shape
        x = torch.randn(shape, generator=generator, device=device).to(dtype)
        e = torch.randn(shape, generator=generator, device=device).to(dtype)
        delta = (features(net, x) - features(net, x + ZEN_MIXUP * e)).abs()
        delta = float(delta.flatten(1).double().sum(dim=1).mean())
        log_bn = sum(math.log(math.sqrt(float(bn.running_var.mean()))) for bn in _batchnorms(net)
                     if bn.running_var is not None)  # fmt: skip
    return math.log(max(delta, torch.finfo(torch.float64).tiny)) + log_bn
