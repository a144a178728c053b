"""One-shot methods: how a supernet turns its architecture variables α into per-edge mixing weights.

All methods share the supernet, the architect and the search loop; a method is only its relaxation
(the mixing weights of a training forward pass, those of an evaluation pass) and an optional regulariser
of α. One more method is one more :class:`Method` in :data:`METHODS`.

* ``darts`` (Liu et al. 2019): softmax(α) of every edge.
* ``gdas`` (Dong & Yang 2019): a hard one-hot sample of the Gumbel-softmax ``softmax((α + g) / τ)`` with
  the straight-through gradient: the forward pass sees exactly one op per edge (weight exactly 1, all
  others exactly 0) while the backward pass takes the soft sample's gradient, which reaches every α of
  the edge. τ is annealed linearly from ``tau_max`` (10) to ``tau_min`` (0.1) over the epochs.
* ``drnas`` (Chen et al. 2021): α are the Dirichlet concentrations ``β = elu(α) + 1``; a training pass
  mixes with a reparameterised sample ``w ~ Dir(β)`` (pathwise gradients), the architect adds the KL
  anchor ``1e-3 · KL(Dir(β) ‖ Dir(1))``, evaluation mixes with the Dirichlet mean ``β / Σβ``.

* ``spos`` (Guo et al. 2020) and ``rsps`` (Li & Talwalkar 2019): no α is trained; every weight step runs one
  op per edge drawn uniformly (only that path is computed); the arch is then selected over the trained
  supernet by scoring candidates with inherited weights (:mod:`nasforge.oneshot.selection`): evolution for
  SPOS, random search for RSPS.
* ``setn`` (Dong & Yang 2019): the template network (the weights) is trained on uniformly sampled single
  paths; the evaluator (α) on the validation half with the full softmax mixture, as SETN's code does
  (``'joint'`` mode); the arch is selected by sampling candidates from the evaluator, ∏_edges softmax(α), and
  scoring each with the template's weights.

Evaluation passes (the supernet's valid accuracy) are deterministic: softmax for DARTS, the argmax op
for GDAS (the arch it would derive), the Dirichlet mean for DrNAS, the selected arch for the selecting methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nasforge.errors import ConfigError

DRNAS_KL_SCALE = 1e-3  # DrNAS' reg_scale for the KL anchor (its NB201 search script)


class _StraightThrough(torch.autograd.Function):
    """Forward: ``hard`` exactly (no ``1 - s + s`` rounding); backward: the gradient goes to ``soft``."""

    @staticmethod
    def forward(ctx, soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return hard.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


def gumbel_hard(alpha: torch.Tensor, tau: float, generator: torch.Generator | None) -> torch.Tensor:
    """GDAS' sample of every row of ``alpha`` (edges × ops): one-hot of argmax ``softmax((α + g) / τ)``,
    g ~ Gumbel(0, 1) drawn from ``generator`` (CPU), straight-through gradient of the soft sample.

    Raises :class:`ConfigError` for ``tau <= 0``.
    """
    if not tau > 0:
        raise ConfigError(f"the Gumbel-softmax temperature must be > 0, got {tau!r}")
    u = torch.rand(alpha.shape, generator=generator).to(alpha.device)
    exponential = -torch.log(u.clamp_min(1e-20))  # Exp(1); the clamps keep u = 0 finite
    gumbel = -torch.log(exponential.clamp_min(1e-20))
    soft = F.softmax((alpha + gumbel) / tau, dim=-1)
    hard = F.one_hot(soft.detach().argmax(dim=-1), alpha.shape[-1]).to(soft.dtype)
    return _StraightThrough.apply(soft, hard)


def uniform_one_hot(alpha: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """One op per row of ``alpha`` (edges × ops) drawn uniformly from ``generator`` (CPU), as one-hot rows
    without any gradient to α: the single-path sampling of SPOS, RSPS and SETN's template training."""
    picks = torch.randint(alpha.shape[-1], alpha.shape[:-1], generator=generator)
    return F.one_hot(picks, alpha.shape[-1]).to(device=alpha.device, dtype=alpha.dtype)


def _uniform_mean(alpha: torch.Tensor) -> torch.Tensor:
    return torch.full_like(alpha, 1.0 / alpha.shape[-1])


def dirichlet_concentration(alpha: torch.Tensor) -> torch.Tensor:
    """DrNAS' concentrations ``elu(α) + 1`` (> 0 for every real α)."""
    return F.elu(alpha) + 1


def dirichlet_sample(alpha: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A reparameterised sample ``w ~ Dir(elu(α) + 1)`` per row (rows on the simplex, differentiable in α).

    torch's Gamma sampler takes no generator: it runs on a forked global RNG seeded from ``generator``, so the
    draw is reproducible and the caller's global RNG is left as it was.
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    devices = [alpha.device] if alpha.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return torch.distributions.Dirichlet(dirichlet_concentration(alpha)).rsample()


def drnas_kl(alpha: torch.Tensor) -> torch.Tensor:
    """``DRNAS_KL_SCALE · Σ_rows KL(Dir(elu(α) + 1) ‖ Dir(1))``: DrNAS' anchor keeping β near the uniform prior."""
    beta = dirichlet_concentration(alpha)
    anchor = torch.distributions.Dirichlet(torch.ones_like(beta))
    return DRNAS_KL_SCALE * torch.distributions.kl_divergence(torch.distributions.Dirichlet(beta), anchor).sum()


def _argmax_one_hot(alpha: torch.Tensor) -> torch.Tensor:
    return F.one_hot(alpha.detach().argmax(dim=-1), alpha.shape[-1]).to(alpha.dtype)


def _dirichlet_mean(alpha: torch.Tensor) -> torch.Tensor:
    beta = dirichlet_concentration(alpha)
    return beta / beta.sum(dim=-1, keepdim=True)


Sampler = Callable[[torch.Tensor, float, "torch.Generator | None"], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """A one-shot method: ``train_weights(α, τ, generator)`` and ``eval_weights(α)`` (edges × ops each),
    ``mean_weights(α)`` (what logs and drawings show), an optional α ``regularizer``, the spaces it applies
    to, and whether it anneals a temperature.

    ``trains_alpha``: whether the architect runs at all (SPOS and RSPS train weights only);
    ``arch_weights``: the α step's mixing when it differs from the weight step's (SETN: the full softmax);
    ``selection``: how the arch is chosen over the trained supernet (``"evolution"``, ``"random"``,
    ``"template"``; :mod:`nasforge.oneshot.selection`) instead of the argmax of α.
    """

    name: str
    train_weights: Sampler
    eval_weights: Callable[[torch.Tensor], torch.Tensor]
    mean_weights: Callable[[torch.Tensor], torch.Tensor]
    regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None
    spaces: tuple[str, ...] = ("darts-mnist", "darts", "nb201")
    uses_temperature: bool = False
    one_path: bool = False  # weights are one-hot rows: the supernet computes only each edge's chosen op
    trains_alpha: bool = True
    arch_weights: Sampler | None = None
    selection: str | None = None


def _softmax(alpha: torch.Tensor, tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    return F.softmax(alpha, dim=-1)


METHODS: dict[str, Method] = {
    "darts": Method("darts", _softmax, _softmax, _softmax),
    "gdas": Method("gdas", gumbel_hard, _argmax_one_hot, _softmax, uses_temperature=True, one_path=True),
    "drnas": Method(
        "drnas", lambda a, tau, gen: dirichlet_sample(a, gen), _dirichlet_mean, _dirichlet_mean, drnas_kl
    ),
    # The selecting methods' candidates are NB201 cells (one op per edge); a DARTS cell keeps two inputs per
    # node out of all its edges, which a single-path candidate of every edge is not: NB201 only.
    "spos": Method(
        "spos", uniform_one_hot, _argmax_one_hot, _uniform_mean, spaces=("nb201",), one_path=True,
        trains_alpha=False, selection="evolution",
    ),
    "rsps": Method(
        "rsps", uniform_one_hot, _argmax_one_hot, _uniform_mean, spaces=("nb201",), one_path=True,
        trains_alpha=False, selection="random",
    ),
    "setn": Method(
        "setn", uniform_one_hot, _argmax_one_hot, _softmax, spaces=("nb201",), one_path=True,
        arch_weights=_softmax, selection="template",
    ),
}  # fmt: skip


def get_method(name: str, space: str | None = None) -> Method:
    """The method ``name``; raises :class:`ConfigError` naming the valid ones, or the methods for ``space``."""
    if name not in METHODS:
        raise ConfigError(f"unknown one-shot method {name!r}; valid methods: {', '.join(METHODS)}")
    method = METHODS[name]
    if space is not None and space not in method.spaces:
        apply = [m for m, spec in METHODS.items() if space in spec.spaces]
        raise ConfigError(
            f"method {name!r} does not apply to space {space!r} (it applies to {', '.join(method.spaces)}); "
            f"methods for {space}: {', '.join(apply) or 'none'}"
        )
    return method


def temperature(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """GDAS' linear schedule: ``tau_max`` at epoch 0 down to ``tau_min`` at the last epoch (from 0)."""
    if epochs <= 1:
        return tau_max
    return tau_max - (tau_max - tau_min) * epoch / (epochs - 1)
