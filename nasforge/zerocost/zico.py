"""ZiCo (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients", ICLR 2023)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.zerocost._probe import Batch, weighted_layers

SPLITS = 2  # the reference scores the gradients of two minibatches: here the batch's two halves


def zico(network: nn.Module, batch: Batch, splits: int = SPLITS) -> float:
    """ZiCo: the batch is cut into ``splits`` equal parts; each gives one cross-entropy gradient ``g_b`` per weight
    (train mode). Per conv/linear layer, ``s = sum over weights with std_b(g) > 0 of mean_b|g| / std_b(g)``
    (population std), and the score is ``sum over layers with s > 0 of log s``. 0 when no gradient varies
    (the all-``none`` cell)."""
    layers = weighted_layers(network)
    n = len(batch)
    per_split: list[list[torch.Tensor]] = []
    network.train()
    for k in range(splits):
        lo, hi = k * n // splits, (k + 1) * n // splits
        network.zero_grad(set_to_none=True)
        F.cross_entropy(network(batch.images[lo:hi]), batch.labels[lo:hi]).backward()
        per_split.append([torch.zeros_like(m.weight) if m.weight.grad is None else m.weight.grad.detach().clone()
                          for m in layers])  # fmt: skip
    network.zero_grad(set_to_none=True)
    total = 0.0
    for j in range(len(layers)):
        g = torch.stack([grads[j].flatten() for grads in per_split]).double()
        std = g.std(dim=0, correction=0)
        varying = std > 0
        s = float((g.abs().mean(dim=0)[varying] / std[varying]).sum())
        if s > 0:
            total += math.log(s)
    return total
