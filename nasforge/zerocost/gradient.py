"""Proxies from the gradient of the training loss at initialisation (one shared forward/backward).

All follow the layer-wise definitions of Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (the ``zero-cost-nas`` code that NASLib reuses): each sums a per-weight saliency over the weights
of every conv and linear layer, after one cross-entropy backward on the batch, network in train mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.zerocost._probe import Batch, Probe, weighted_layers


def grad_norm_from(probe: Probe) -> float:
    probe.need({"loss"})
    return float(sum(g.double().norm() for g in probe.grads))


def snip_from(probe: Probe) -> float:
    probe.need({"loss"})
    return float(sum((w.double() * g.double()).abs().sum() for w, g in zip(probe.weights, probe.grads)))


def plain_from(probe: Probe) -> float:
    probe.need({"loss"})
    return float(sum((w.double() * g.double()).sum() for w, g in zip(probe.weights, probe.grads)))


def fisher_from(probe: Probe) -> float:
    probe.need({"loss"})
    return float(sum((0.5 * t.pow(2).mean(dim=0)).sum() for t in probe.fisher_terms))


def grad_norm(network: nn.Module, batch: Batch) -> float:
    """Sum over conv/linear layers of ``||dL/dW||_2`` (Abdelfattah et al. 2021). 0 when no gradient reaches a
    weight (the all-``none`` NB201 cell)."""
    return grad_norm_from(Probe(network, batch))


def snip(network: nn.Module, batch: Batch) -> float:
    """SNIP saliency ``sum |W ⊙ dL/dW|`` (Lee et al., "SNIP: Single-shot Network Pruning", ICLR 2019), summed over
    conv/linear weights; 0 for the all-``none`` cell."""
    return snip_from(Probe(network, batch))


def plain(network: nn.Module, batch: Batch) -> float:
    """``sum W ⊙ dL/dW`` without the absolute value (Abdelfattah et al. 2021's baseline); 0 for all-``none``."""
    return plain_from(Probe(network, batch))


def fisher(network: nn.Module, batch: Batch) -> float:
    """Fisher channel saliency (Turner et al., "BlockSwap", ICLR 2020; Theis et al. 2018): for every conv/linear
    output ``a`` (N×K×H×W) with loss gradient ``g``, ``sum_k 0.5 * mean_n (sum_hw a·g)^2``, summed over
    layers. For the all-``none`` cell only the classifier's term is left (its output is the bias for every image).
    """
    return fisher_from(Probe(network, batch))


def grasp(network: nn.Module, batch: Batch) -> float:
    """GraSP (Wang et al., "Picking Winning Tickets Before Training by Preserving Gradient Flow", ICLR 2020):
    ``sum -W ⊙ (H g)`` over conv/linear weights, ``g = dL/dW``, ``H`` the Hessian of the loss, both on the whole
    batch in train mode (a Hessian-vector product, so two forwards and a double backward). 0 for all-``none``.
    """
    network.train()
    network.zero_grad(set_to_none=True)
    weights = [m.weight for m in weighted_layers(network)]
    images, labels = batch.images, batch.labels
    first = torch.autograd.grad(F.cross_entropy(network(images), labels), weights, allow_unused=True)
    loss = F.cross_entropy(network(images), labels)
    second = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = sum((g1.detach() * g2).sum() for g1, g2 in zip(first, second) if g1 is not None and g2 is not None)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return 0.0
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    network.zero_grad(set_to_none=True)
    return float(sum((-w.detach().double() * h.double()).sum() for w, h in zip(weights, hg) if h is not None))
