"""The continuous relaxation: mixed ops, x_j = Σ_{i<j} Σ_o softmax(α^{(i,j)})_o · o(x_i).

The straightforward way (DARTS' ``sum(w * op(x) for w, op in zip(weights, self._ops))`` on every edge)
repeats work that is the same on every edge leaving a state. :class:`MixedEdges` evaluates all the
mixed edges that read one state together:

* parameter-free ops (pools with their affine-free BatchNorm, identity) are computed once per state
  and shared by all its outgoing edges: their outputs are identical on every edge, BatchNorm
  statistics included, so this is exact, not an approximation;
* ``none`` contributes exactly zero, so it is never computed (its α still gets its softmax gradient);
* the ReLU-Conv-BN ops of all outgoing edges run as one convolution with ``n_edges * C`` output
  channels (one ReLU, one conv, one BatchNorm call instead of one per edge; the sheet's Conv-ReLU alike);
* every node is one fused weighted sum (:func:`weighted_sum`): no product temporaries in the
  forward pass and no stacked copy of the candidates.

:class:`MixedOp` is the single-edge case, with the seed's ``forward(x, weights)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ArchError
from nasforge.spaces.darts_model import FactorizedReduce, make_op
from nasforge.spaces.nb201_model import AvgPool3x3

# --- the fused weighted sum -----------------------------------------------------------------------------------


class _WeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        coefficients = weights.tolist()
        out = torch.mul(tensors[0], coefficients[0])
        for w, t in zip(coefficients[1:], tensors[1:], strict=True):
            out.add_(t, alpha=w)
        ctx.save_for_backward(weights, *tensors)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        weights, *tensors = ctx.saved_tensors
        grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_weights = torch.stack([torch.mul(grad, t).sum() for t in tensors])
        # Tensor (not float) coefficients keep the backward itself differentiable (double backward).
        grads = [grad * weights[k] if need else None for k, need in enumerate(ctx.needs_input_grad[1:])]
        return (grad_weights, *grads)


def weighted_sum(weights: torch.Tensor, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ_k weights[k] · tensors[k] (same shapes), differentiable in both, in one output buffer."""
    if weights.shape != (len(tensors),):
        raise ValueError(f"need one weight per tensor, got weights of shape {tuple(weights.shape)} for {len(tensors)}")
    return _WeightedSum.apply(weights, *tensors)


class _OnePathSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights: torch.Tensor, rest: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        coefficients = weights.tolist()
        out = torch.mul(tensors[0], coefficients[0])
        for w, t in zip(coefficients[1:], tensors[1:], strict=True):
            out.add_(t, alpha=w)
        out.add_(float(rest))  # GDAS' unsampled weights: 0 in value, here for their gradient
        ctx.save_for_backward(weights, *tensors)
        ctx.coefficients = coefficients
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        weights, *tensors = ctx.saved_tensors
        grad_weights = torch.stack([_inner(grad, t) for t in tensors]) if ctx.needs_input_grad[0] else None
        grad_rest = grad.sum() if ctx.needs_input_grad[1] else None
        grads = []
        for k, need in enumerate(ctx.needs_input_grad[2:]):
            if not need:
                grads.append(None)
            elif ctx.coefficients[k] == 1.0 and not torch.is_grad_enabled():
                grads.append(grad)  # the sampled op's weight is exactly 1: no product to compute
            else:  # a tensor coefficient keeps a double backward (create_graph) exact
                grads.append(grad * weights[k])
        return (grad_weights, grad_rest, *grads)


def _inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """⟨a, b⟩ of two same-shape tensors: one dot product over their memory when both are dense in the same layout
    (no product temporary), else ``(a * b).sum()``."""
    dense = a.is_contiguous() or (a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last))
    if dense and a.stride() == b.stride() and not torch.is_grad_enabled():
        flat = (a.numel(),), (1,)
        return torch.dot(a.as_strided(*flat), b.as_strided(*flat))
    return (a * b).sum()


def one_path_sum(weights: torch.Tensor, rest: torch.Tensor, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """GDAS' node: Σ_k weights[k] · tensors[k] + rest, in one output buffer, differentiable in all three.

    ``weights``: the sampled op's weight of each computed edge (exactly 1 for a hard sample: its backward then
    passes the node's gradient on without a product); ``rest``: a scalar, the node's unsampled weights summed
    (exactly 0 for a hard sample; its gradient is the sum of the node's gradient, as GDAS' code gives it).
    Raises ``ValueError`` for a weight count other than ``len(tensors)`` or no tensors.
    """
    if not tensors or weights.shape != (len(tensors),):
        raise ValueError(f"need one weight per tensor, got weights of shape {tuple(weights.shape)} for {len(tensors)}")
    return _OnePathSum.apply(weights, rest, *tensors)


# --- how each op is computed in a supernet --------------------------------------------------------------------

OpKind = Literal["zero", "shared", "conv", "module"]


@dataclass(frozen=True)
class SearchOp:
    """How a supernet evaluates one op: skipped (zero), once per state (shared), fused conv, or per edge."""

    kind: OpKind
    build: Callable[[int], nn.Module] | None = None  # shared / module: C -> module
    kernel: int = 0  # conv: ReLU → Conv(kernel, 'same' padding) → BatchNorm(affine=False)
    conv_relu: bool = False  # conv: the DARTS-MNIST sheet's Conv → ReLU instead (no BatchNorm)


def darts_search_op(name: str, stride: int) -> SearchOp:
    """The search-time form of a DARTS op: affine-free BatchNorm, pools followed by BatchNorm (as DARTS)."""
    if name == "none":
        return SearchOp("zero")
    if name == "skip_connect":
        if stride == 1:
            return SearchOp("shared", lambda C: nn.Identity())
        return SearchOp("module", lambda C: FactorizedReduce(C, C, affine=False))
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return SearchOp("shared", lambda C: nn.Sequential(make_op(name, C, stride), nn.BatchNorm2d(C, affine=False)))
    if name == "conv_3x3":  # only the DARTS-MNIST sheet has it, in its Conv → ReLU form
        return SearchOp("conv", kernel=3, conv_relu=True)
    return SearchOp("module", lambda C: make_op(name, C, stride, affine=False))


def mnist_search_op(name: str, stride: int) -> SearchOp:
    """The DARTS-MNIST sheet's search ops: pools without BatchNorm, ``conv_3x3`` = Conv → ReLU, skip as DARTS."""
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return SearchOp("shared", lambda C: make_op(name, C, stride))
    if name == "conv_3x3":
        return SearchOp("conv", kernel=3, conv_relu=True)
    if name == "skip_connect":
        return darts_search_op(name, stride)
    raise ArchError(f"unknown darts-mnist op {name!r}; valid ops: avg_pool_3x3, max_pool_3x3, skip_connect, conv_3x3")


def nb201_search_op(name: str, stride: int) -> SearchOp:
    """The search-time form of an NB201 op (NB201's pooling has no BatchNorm; :class:`AvgPool3x3` is its fast
    CPU form)."""
    if stride != 1:
        raise ArchError("NB201 cell ops never change the resolution (stride 1)")
    kinds = {
        "none": SearchOp("zero"),
        "skip_connect": SearchOp("shared", lambda C: nn.Identity()),
        "avg_pool_3x3": SearchOp("shared", lambda C: AvgPool3x3()),
        "nor_conv_1x1": SearchOp("conv", kernel=1),
        "nor_conv_3x3": SearchOp("conv", kernel=3),
    }
    if name not in kinds:
        raise ArchError(f"unknown NB201 op {name!r}; valid ops: {', '.join(kinds)}")
    return kinds[name]


OpResolver = Callable[[str, int], SearchOp]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle (PC-DARTS, DrNAS): output channel ``a * groups + b`` is input channel
    ``b * (C // groups) + a``."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


# --- mixed edges ----------------------------------------------------------------------------------------------


class MixedEdges(nn.Module):
    """All ``n_edges`` mixed edges that read the same state ``x``.

    ``forward(x)`` returns, per edge, the candidate outputs of the live ops (every op but ``none``), in
    the order of :attr:`live_ops` (indices into ``ops``). Weighting is left to the node that sums them.
    """

    def __init__(
        self, C: int, stride: int, ops: Sequence[str], n_edges: int = 1, resolve: OpResolver = darts_search_op
    ) -> None:
        super().__init__()
        self.ops, self.n_edges, self.C = tuple(ops), n_edges, C
        kinds = {name: resolve(name, stride) for name in self.ops}
        self.conv_relu = frozenset(name for name, op in kinds.items() if op.kind == "conv" and op.conv_relu)
        self.live_ops = tuple(i for i, name in enumerate(self.ops) if kinds[name].kind != "zero")
        self.shared = nn.ModuleDict()
        self.convs = nn.ModuleDict()
        self.per_edge = nn.ModuleDict()
        for name, op in kinds.items():
            if op.kind == "shared":
                self.shared[name] = op.build(C)
            elif op.kind == "conv":
                conv = nn.Conv2d(C, n_edges * C, op.kernel, stride=stride, padding=op.kernel // 2, bias=False)
                after = nn.ReLU() if op.conv_relu else nn.BatchNorm2d(n_edges * C, affine=False)
                self.convs[name] = nn.Sequential(conv, after)
            elif op.kind == "module":
                self.per_edge[name] = nn.ModuleList(op.build(C) for _ in range(n_edges))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs: dict[str, list[torch.Tensor]] = {}
        for name, module in self.shared.items():
            y = x if isinstance(module, nn.Identity) else module(x)
            outputs[name] = [y] * self.n_edges
        if self.convs:
            relu = torch.relu(x) if len(self.conv_relu) < len(self.convs) else x  # one ReLU for all fused convs
            for name, module in self.convs.items():
                outputs[name] = list(module(x if name in self.conv_relu else relu).chunk(self.n_edges, dim=1))
        for name, modules in self.per_edge.items():
            outputs[name] = [m(x) for m in modules]
        return [[outputs[self.ops[i]][e] for i in self.live_ops] for e in range(self.n_edges)]

    def sampled(self, x: torch.Tensor, choice: Sequence[int]) -> list[torch.Tensor | None]:
        """Only op ``choice[e]`` (an index into ``ops``) of every edge ``e``: its output, ``None`` for ``none``.

        GDAS' single path: a fused conv runs on the chosen edges' own output channels only (its weight rows
        and their BatchNorm statistics), a shared op once if any edge chose it, nothing else.
        """
        outs: list[torch.Tensor | None] = [None] * self.n_edges
        relu: torch.Tensor | None = None
        for e, i in enumerate(choice):
            name = self.ops[i]
            if name in self.shared:
                module = self.shared[name]
                y = next((outs[k] for k in range(e) if self.ops[choice[k]] == name), None)
                outs[e] = y if y is not None else (x if isinstance(module, nn.Identity) else module(x))
            elif name in self.convs:
                conv, after = self.convs[name]
                if name in self.conv_relu:
                    inp = x
                else:
                    relu = torch.relu(x) if relu is None else relu
                    inp = relu
                rows = slice(e * self.C, (e + 1) * self.C)
                y = F.conv2d(inp, conv.weight[rows], None, conv.stride, conv.padding)
                if name in self.conv_relu:
                    outs[e] = torch.relu(y)
                else:  # the views of the running statistics are updated in place, as the fused BatchNorm would
                    outs[e] = F.batch_norm(
                        y, after.running_mean[rows], after.running_var[rows], None, None,
                        after.training, after.momentum, after.eps,
                    )  # fmt: skip
            elif name in self.per_edge:
                outs[e] = self.per_edge[name][e](x)
        return outs

    def partial(self, x: torch.Tensor, k: int) -> list[list[torch.Tensor]]:
        """PC-DARTS' partial channels (DrNAS' progressive schedule): like ``forward`` on the first ``C // k``
        channels of ``x`` only, with ``C // k``-channel ops. A fused conv uses the leading ``C // k`` × ``C // k``
        block of its edge's weight (and the leading ``C // k`` of its edge's BatchNorm statistics), so a
        smaller ``k`` later widens the same ops: the trained block is kept, and :meth:`widen` fills the new rows
        and columns with copies as DrNAS does. Shared ops must act per channel (NB201's identity and pooling do)."""
        c = self.C // k
        xs = x[:, :c]
        outputs: dict[str, list[torch.Tensor]] = {}
        for name, module in self.shared.items():
            y = xs if isinstance(module, nn.Identity) else module(xs)
            outputs[name] = [y] * self.n_edges
        relu = torch.relu(xs) if self.convs else None
        for name, (conv, after) in self.convs.items():
            outs = []
            for e in range(self.n_edges):
                rows = slice(e * self.C, e * self.C + c)
                y = F.conv2d(relu, conv.weight[rows, :c], None, conv.stride, conv.padding)
                outs.append(F.batch_norm(
                    y, after.running_mean[rows], after.running_var[rows], None, None,
                    after.training, after.momentum, after.eps,
                ))  # fmt: skip
            outputs[name] = outs
        if self.per_edge:
            raise ArchError("partial channels need ops that are shared or fused convs (the NB201 ops)")
        return [[outputs[self.ops[i]][e] for i in self.live_ops] for e in range(self.n_edges)]

    def widen(
        self, old: int, new: int, generator: torch.Generator, momentum: Callable[[torch.Tensor], torch.Tensor | None]
    ) -> None:
        """Net2Wider as DrNAS widens its partial-channel ops (``net2wider.py``, the ops' ``wider``): each edge's
        conv grows from its leading ``old`` × ``old`` block to ``new`` × ``new`` by copying, first input columns
        (new column ``old + m`` := column ``cols[m]``), then output rows of the column-widened block (new row
        ``old + m`` := row ``rows[m]``), ``cols`` and ``rows`` drawn uniformly from ``0..old-1`` (``generator``),
        the weights not rescaled; the BatchNorm statistics and the SGD momentum buffer (``momentum(weight)``,
        None if it has none yet) follow the same copies. So on an input whose channels ``old..new-1`` are zero
        the widened op outputs the old op's channels followed by copies of channels ``rows``."""
        if not 0 < old < new <= self.C:
            raise ArchError(f"widening goes from fewer to more of the {self.C} channels, got {old} -> {new}")
        for conv, bn in self.convs.values():
            buffer = momentum(conv.weight)
            tensors = [conv.weight] if buffer is None else [conv.weight, buffer]
            for e in range(self.n_edges):
                base = e * self.C
                cols = torch.randint(old, (new - old,), generator=generator)
                rows = base + torch.randint(old, (new - old,), generator=generator)
                with torch.no_grad():
                    for t in tensors:
                        t[base : base + old, old:new] = t[base : base + old, cols]
                        t[base + old : base + new, :new] = t[rows, :new]
                    for stat in (bn.running_mean, bn.running_var):
                        stat[base + old : base + new] = stat[rows]

    def edge_op_modules(self, edge: int, name: str) -> list[tuple[nn.Module, slice | None]]:
        """The modules holding op ``name``'s weights on outgoing edge ``edge``, in construction order.

        A fused conv is shared by all edges: its entry carries the slice of output channels that is this
        edge's own conv (``None``: the whole module). Parameter-free and shared ops give ``[]``.
        """
        if name in self.convs:
            return [(self.convs[name][0], slice(edge * self.C, (edge + 1) * self.C))]
        if name in self.per_edge:
            return [(m, None) for m in self.per_edge[name][edge].modules() if isinstance(m, nn.Conv2d)]
        return []


class MixedOp(nn.Module):
    """One mixed edge: ``forward(x, weights) = Σ_o weights[o] · o(x)`` (weights = softmax(α) of the edge).

    >>> import torch
    >>> op = MixedOp(4, 1, ("conv_3x3", "max_pool_3x3", "avg_pool_3x3", "skip_connect"))
    >>> op(torch.randn(2, 4, 8, 8), torch.softmax(torch.zeros(4), 0)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(self, C: int, stride: int, ops: Sequence[str], resolve: OpResolver = darts_search_op) -> None:
        super().__init__()
        self.edges = MixedEdges(C, stride, ops, 1, resolve)
        self.register_buffer("_live", torch.tensor(self.edges.live_ops, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        (candidates,) = self.edges(x)
        return weighted_sum(weights[self._live], candidates)
