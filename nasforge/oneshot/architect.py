"""The DARTS architect: the α update of the bilevel problem, first or second order.

First order (the seed): α ← Adam step on ∇_α L_valid(w, α).
Second order (DARTS, eq. 7-8): with the one-step unrolled weights w' = w − ξ ∇_w L_train(w, α)
(the weight optimizer's own step: momentum buffer and weight decay included, ξ its current lr),

    ∇_α L_valid(w', α) − ξ ∇²_{α,w} L_train(w, α) · ∇_{w'} L_valid(w', α),

where the Hessian-vector product is the central finite difference
(∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)) / 2ε,  w± = w ± ε v,  ε = 0.01 / ‖v‖.

The model is never copied: weights are moved in place and restored (BatchNorm statistics too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError

Loss = Callable[[], torch.Tensor]

ARCH_LR = 3e-4
ARCH_BETAS = (0.5, 0.999)
ARCH_WEIGHT_DECAY = 1e-3
FD_RADIUS = 0.01  # DARTS' ε numerator: ε = 0.01 / ‖v‖


def finite_difference_hvp(
    loss: Loss, weights: Sequence[torch.Tensor], alphas: Sequence[torch.Tensor], v: Sequence[torch.Tensor]
) -> list[torch.Tensor | None]:
    """≈ ∇²_{α,w} L · v by central differences of ∇_α L at w ± ε v (weights restored afterwards); None for an
    α the loss does not use."""
    norm = torch.sqrt(sum((t.detach() ** 2).sum() for t in v))
    eps = FD_RADIUS / max(float(norm), 1e-12)
    with torch.no_grad():
        for w, d in zip(weights, v, strict=True):
            w.add_(d, alpha=eps)
    grads_plus = _grads(loss(), alphas)
    with torch.no_grad():
        for w, d in zip(weights, v, strict=True):
            w.sub_(d, alpha=2 * eps)
    grads_minus = _grads(loss(), alphas)
    with torch.no_grad():
        for w, d in zip(weights, v, strict=True):
            w.add_(d, alpha=eps)
    return [None if p is None else (p - m) / (2 * eps) for p, m in zip(grads_plus, grads_minus, strict=True)]


def _grads(loss: torch.Tensor, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """∇ loss for each input; None for an input the loss does not use. A network too shallow for a normal cell
    (DARTS with 1 or 2 cells: both are reduction cells) never uses α_normal, which then gets no gradient and
    stays as it is, as in DARTS' own code (its Adam skips a parameter without a gradient)."""
    return list(torch.autograd.grad(loss, inputs, allow_unused=True))


def _zeros_for_none(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, like, strict=True)]


class Architect:
    """Updates a supernet's α on validation batches; ``order`` 1 (first-order) or 2 (unrolled).

    ``regularizer(α)`` (per α tensor, e.g. DrNAS' KL anchor) is added to the validation loss it minimises.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        order: int = 1,
        lr: float = ARCH_LR,
        betas: tuple[float, float] = ARCH_BETAS,
        weight_decay: float = ARCH_WEIGHT_DECAY,
        regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if order not in (1, 2):
            raise ConfigError(f"architect order must be 1 (first-order) or 2 (second-order), got {order!r}")
        self.model, self.order, self.regularizer = model, order, regularizer
        self.alphas = list(model.arch_parameters())
        self.weights = list(model.weight_parameters())
        self.optimizer = torch.optim.Adam(self.alphas, lr=lr, betas=betas, weight_decay=weight_decay)

    def step(
        self,
        valid_batch: tuple[torch.Tensor, torch.Tensor],
        train_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
        w_optimizer: torch.optim.SGD | None = None,
    ) -> float:
        """One α update; returns the validation loss. Second order needs the train batch and weight optimizer."""
        if hasattr(self.model, "arch_phase"):  # a supernet whose method mixes otherwise in the α step (SETN)
            self.model.arch_phase = True
            try:
                return self._step(valid_batch, train_batch, w_optimizer)
            finally:
                self.model.arch_phase = False
        return self._step(valid_batch, train_batch, w_optimizer)

    def _step(self, valid_batch, train_batch, w_optimizer) -> float:
        if self.order == 1:
            loss = self._loss(valid_batch)
            grads = _grads(loss, self.alphas)  # no weight gradients are computed at all
        else:
            if train_batch is None or w_optimizer is None:
                raise ConfigError("the second-order architect needs the training batch and the weight optimizer")
            loss, grads = self._unrolled_grads(valid_batch, train_batch, w_optimizer)
        if self.regularizer is not None:  # DrNAS' anchor: a term of the α objective that needs no weights
            reg = _grads(sum(self.regularizer(a) for a in self.alphas), self.alphas)
            grads = [r if g is None else g + r for g, r in zip(grads, reg, strict=True)]
        for a, g in zip(self.alphas, grads, strict=True):
            a.grad = g  # replaces the previous step's; left in place after the step, as DARTS' architect leaves it
        self.optimizer.step()
        return float(loss.detach())

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def _unrolled_grads(self, valid_batch, train_batch, w_optimizer: torch.optim.SGD):
        group = w_optimizer.param_groups[0]
        xi, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        saved_w = [w.detach().clone() for w in self.weights]
        saved_buffers = [b.clone() for b in self.model.buffers()]
        try:
            # w' = w − ξ (momentum · buf + ∇_w L_train + decay · w), SGD's next step without applying it.
            # A one-path method (GDAS) leaves the ops not taken without a gradient: zero for them.
            grads_w = _zeros_for_none(_grads(self._loss(train_batch), self.weights), self.weights)
            with torch.no_grad():
                for w, g in zip(self.weights, grads_w, strict=True):
                    buf = w_optimizer.state.get(w, {}).get("momentum_buffer")
                    step = g + decay * w
                    if buf is not None:
                        step = step + momentum * buf
                    w.sub_(xi * step)
            loss = self._loss(valid_batch)
            grads = _grads(loss, [*self.weights, *self.alphas])
            v, d_alpha = _zeros_for_none(grads[: len(self.weights)], self.weights), grads[len(self.weights) :]
            with torch.no_grad():
                for w, s in zip(self.weights, saved_w, strict=True):
                    w.copy_(s)
            hvp = finite_difference_hvp(lambda: self._loss(train_batch), self.weights, self.alphas, v)
            return loss.detach(), [None if d is None else d - xi * h for d, h in zip(d_alpha, hvp, strict=True)]
        finally:
            with torch.no_grad():
                for w, s in zip(self.weights, saved_w, strict=True):
                    w.copy_(s)
                for b, s in zip(self.model.buffers(), saved_buffers, strict=True):
                    b.copy_(s)
