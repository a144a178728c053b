"""The DARTS-MNIST exercise sheet's API (``model_search.py``, ``train_search.py``) over nasforge's one-shot code.

A student's or a TA's code written against the sheet runs by changing its imports to this module:

>>> import torch
>>> from nasforge.exercises.darts_mnist import PRIMITIVES, Architect, MixedOp, Network
>>> PRIMITIVES
['avg_pool_3x3', 'max_pool_3x3', 'skip_connect', 'conv_3x3']
>>> model = Network("cpu", nodes=2)            # draws from torch's global RNG, as the sheet's does
>>> sum(p.numel() for p in model.parameters())
46234
>>> [tuple(a.shape) for a in model.arch_parameters]
[(3, 4), (3, 4)]
>>> Architect(model).step(torch.randn(8, 1, 28, 28), torch.arange(8))  # doctest: +ELLIPSIS
2.3...

Nothing here is a second implementation: :class:`Network` IS the ``darts-mnist`` supernet that
``nasforge darts --space darts-mnist`` searches (:class:`nasforge.oneshot.DartsSupernet`), :class:`MixedOp`
nasforge's mixed edge and :class:`Architect` nasforge's first-order architect, each with the sheet's
signatures. The network is the sheet's: no stem; cells reduction (1 → 16 channels), normal (32 → 16),
reduction (32 → 32), each with a 1x1 ReLU-Conv-BN (affine-free) preprocess and the concatenation of its
intermediate nodes as output; global average pooling; ``Linear(64, 10)``. Ops: avg pool 3x3 (padding 1,
padding not counted), max pool 3x3 (padding 1), skip (identity; at stride 2 DARTS' factorized reduce:
ReLU, two 1x1 stride-2 convs on x and on x shifted by one pixel, concatenated, affine-free BatchNorm),
``conv_3x3`` (Conv2d 3x3 without bias, then ReLU; no BatchNorm).

Documented differences from the sheet's code:

* the sheet's ``Genotype`` is a namedtuple; here it is nasforge's frozen :class:`~nasforge.spaces.darts.Genotype`
  with the same fields and the same printed form (``str(genotype)``), but ``normal_concat`` is the tuple
  ``(1, 2)``, not ``range(1, 3)``;
* ``Architect.step`` returns the validation loss (the sheet's returns ``None``) and computes gradients for α
  only: the weights' ``.grad`` is left as it was (the sheet's ``loss.backward()`` also fills it, which its
  training loop then zeroes before the weight step);
* mixed edges run nasforge's fused form (all convs leaving one state as one convolution; pools shared
  between edges), which computes the same values; the weights are drawn in the sheet's module order, so
  ``torch.manual_seed(s); Network(device)`` gives the sheet's initial weights and α.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.oneshot.architect import Architect as _Architect
from nasforge.oneshot.mixed import MixedEdges, mnist_search_op
from nasforge.oneshot.mixed import MixedOp as _MixedOp
from nasforge.oneshot.supernet import DartsSupernet, darts_macro
from nasforge.spaces.darts import MNIST_OPS, Genotype
from nasforge.spaces.darts_model import make_op
from nasforge.train import select_device

__all__ = ["OPS", "PRIMITIVES", "Architect", "ArchParameters", "Genotype", "MixedOp", "Network"]

PRIMITIVES: list[str] = list(MNIST_OPS)
"""The sheet's op names in its order (the columns of α): avg_pool_3x3, max_pool_3x3, skip_connect, conv_3x3."""

OPS: dict[str, Callable[[int, int], nn.Module]] = {
    name: (lambda C, stride, name=name: make_op(name, C, stride, affine=False)) for name in PRIMITIVES
}
"""The sheet's op table: ``OPS[name](C, stride)`` → the op as a stand-alone module."""


class _EdgeOp:
    """One op of a mixed edge, callable alone: ``op(x)`` (what the sheet's ``MixedOp._ops[k](x)`` gives)."""

    def __init__(self, edges: MixedEdges, name: str) -> None:
        self.edges, self.name = edges, name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.name in self.edges.shared:
            module = self.edges.shared[self.name]
            return x if isinstance(module, nn.Identity) else module(x)
        if self.name in self.edges.convs:
            return self.edges.convs[self.name](x)
        return self.edges.per_edge[self.name][0](x)

    def __repr__(self) -> str:
        return f"_EdgeOp({self.name!r})"


class MixedOp(_MixedOp):
    """The sheet's mixed edge: ``forward(x, alphas) = Σ_k softmax(alphas)_k · op_k(x)`` over :data:`PRIMITIVES`.

    ``alphas``: the edge's α, shape (4,) or (1, 4) (not yet softmaxed). ``x``: N×C×H×W; the output has
    the same shape at stride 1 and half the height and width at stride 2.
    """

    def __init__(self, C: int, stride: int) -> None:
        super().__init__(C, stride, PRIMITIVES, resolve=mnist_search_op)

    @property
    def _ops(self) -> list[_EdgeOp]:
        """The candidate ops in :data:`PRIMITIVES` order, each callable on its own."""
        return [_EdgeOp(self.edges, name) for name in PRIMITIVES]

    def forward(self, x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, F.softmax(alphas.reshape(-1), dim=-1))


class ArchParameters(list):
    """``[alphas_normal, alphas_reduce]``: a list (the sheet's ``model.arch_parameters`` attribute) that can
    also be called (nasforge's ``model.arch_parameters()``), so both kinds of code work on one network."""

    def __call__(self) -> list[torch.Tensor]:
        return list(self)


class Network(DartsSupernet):
    """The sheet's one-shot network (see the module docstring); 46,234 weights with ``nodes=2``.

    As in the sheet, α (``alphas_normal``, ``alphas_reduce``: 1e-3 · N(0, 1), one row per edge, one column
    per op) are plain tensors requiring grad, created on ``device`` and not among ``parameters()`` (so an
    optimizer over ``model.parameters()`` trains the weights only), and everything is drawn from torch's
    **global** RNG, after all modules are built, in the sheet's order: seed it with ``torch.manual_seed``
    first for a reproducible network. ``forward(x)``: N×1×28×28 MNIST images → N×10 logits.
    """

    def __init__(self, device: str | torch.device, nodes: int = 2) -> None:
        device = select_device(str(device))  # a device this machine lacks is a ConfigError, not torch's RuntimeError
        macro = darts_macro("darts-mnist", "mnist").with_(steps=nodes)
        # generator=None: the sheet's Network draws its weights and α from the global RNG, and so does this one.
        super().__init__("darts-mnist", PRIMITIVES, macro, generator=None, alpha_device=device)
        self._nodes = nodes
        for name in self.alpha_names:  # plain leaf tensors, outside parameters(), as the sheet's Variables
            alpha = getattr(self, name).detach().requires_grad_()
            delattr(self, name)
            setattr(self, name, alpha)

    @property
    def alphas_normal(self) -> torch.Tensor:
        return self.alpha_normal

    @alphas_normal.setter
    def alphas_normal(self, value: torch.Tensor) -> None:
        self.alpha_normal = value

    @property
    def alphas_reduce(self) -> torch.Tensor:
        return self.alpha_reduce

    @alphas_reduce.setter
    def alphas_reduce(self, value: torch.Tensor) -> None:
        self.alpha_reduce = value

    @property
    def arch_parameters(self) -> ArchParameters:  # type: ignore[override]
        return ArchParameters([self.alpha_normal, self.alpha_reduce])

    def genotype(self) -> Genotype:
        """The sheet's derivation: per node its two strongest incoming edges (strength: the largest softmax
        weight of any op), each with its strongest op (first in :data:`PRIMITIVES` order on ties)."""
        return self.derive()


class Architect(_Architect):
    """The sheet's first-order architect: ``step(x_valid, y_valid)`` is one Adam step (lr 3e-4, betas
    (0.5, 0.999), weight decay 1e-3) on α only, on the cross-entropy of the validation batch."""

    def __init__(self, model: Network) -> None:
        super().__init__(model, order=1)
        self.criterion = nn.CrossEntropyLoss()

    @property
    def arch_optimizer(self) -> torch.optim.Adam:
        """The sheet's name for the α optimizer."""
        return self.optimizer

    def step(self, input_valid: torch.Tensor, target_valid: torch.Tensor) -> float:  # type: ignore[override]
        """Returns the batch's validation loss before the step."""
        return super().step((input_valid, target_valid))
