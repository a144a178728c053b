"""The NAS-Bench-201 networks as PyTorch modules, built from an :class:`~nasforge.spaces.nb201.NB201Arch`.

The modules reproduce NB201's ``TinyNetwork`` (``models/cell_infers``) op for op, so parameter counts,
FLOPs and even ``state_dict`` key names equal NB201's (``cells.3.layers.2.op.1.weight``,
``cells.5.conv_a.op.1.weight``, ``lastact.0.weight`` ...). What differs is the cell's forward pass:
NB201 runs every edge, we run only what can change the output (see :class:`NB201Cell`).

>>> import torch
>>> net = NB201Network(NB201Arch.from_index(9930), num_classes=10)
>>> net(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
>>> count_params(NB201Arch.from_index(0), "cifar10")  # NB201 stores 0.129306 M
129306
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.data.specs import dataset_spec
from nasforge.errors import ArchError
from nasforge.spaces.nb201 import EDGES, NUM_NODES, NB201Arch
from nasforge.spaces.nb201 import OPS as OP_NAMES

__all__ = [
    "OPS",
    "AvgPool3x3",
    "CategoricalOp",
    "NB201Cell",
    "NB201Network",
    "ResNetBasicblock",
    "Zero",
    "NB201_DATASETS",
    "NetworkCost",
    "count_flops",
    "count_params",
    "network_costs",
    "stage_sizes",
]

OUTPUT_NODE = NUM_NODES - 1


# --- ops ------------------------------------------------------------------------------------------------------


class Zero(nn.Module):
    """NB201's ``none``: zeros shaped like the input (kept in the autograd graph, as NB201 does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """NB201's ``avg_pool_3x3``: the mean of each 3x3 window, stride 1, padding not counted
    (``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)``); ``x``: (batch, C, H, W), output the same shape.

    On CPU it is computed as a depthwise 3x3 convolution of ones (the window sums, in the pool's order, so
    the same floats) divided by each position's window size (9 inside, 6 on a border, 4 in a corner): PyTorch's
    CPU pooling kernels are 3-4x slower than the convolution, forward and backward (NCHW and channels-last
    alike, batch 64 at 8-32 channels). The forward pass equals ``F.avg_pool2d`` exactly on the machines
    measured; its gradient equals the pool's up to float rounding. Other devices use ``F.avg_pool2d``.
    """
    if x.device.type != "cpu" or x.dim() != 4:
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    channels, (height, width) = x.shape[1], x.shape[-2:]
    sums = F.conv2d(x, x.new_ones(channels, 1, 3, 3), padding=1, groups=channels)
    return sums.div_(_window_sizes(height, x)[:, None] * _window_sizes(width, x)[None, :])


def _window_sizes(n: int, like: torch.Tensor) -> torch.Tensor:
    """How many of positions ``i - 1, i, i + 1`` lie in ``0..n-1``, for each ``i`` (a 3-wide window's size)."""
    sizes = like.new_full((n,), 3.0)
    sizes[0] -= 1
    sizes[-1] -= 1
    return sizes


class AvgPool3x3(nn.Module):
    """:func:`avg_pool_3x3` as a module (no parameters): NB201's pooling op in the supernets."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool_3x3(x)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """ReLU → Conv (no bias, 'same' padding) → BatchNorm, indexed ``0, 1, 2`` as in NB201's ``ReLUConvBN.op``."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
    )


OPS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda C: Zero(),
    "skip_connect": lambda C: nn.Identity(),
    "nor_conv_1x1": lambda C: relu_conv_bn(C, C, 1),
    "nor_conv_3x3": lambda C: relu_conv_bn(C, C, 3),
    "avg_pool_3x3": lambda C: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
}
"""NB201 op name → factory of a module on ``C`` channels that keeps channels and spatial size."""

assert tuple(OPS) == OP_NAMES  # one op order everywhere


def _unknown_op(name: str) -> ArchError:
    return ArchError(f"unknown NB201 op {name!r}; valid ops: {', '.join(OPS)}")


class CategoricalOp(nn.Module):
    """One edge of a cell: holds exactly one op, chosen by name (the exercise sheet's signature is
    :class:`nasforge.exercises.nb201.CategoricalOp`).

    The op is stored as ``.op`` so parameter names match NB201's (``op.1.weight`` is the conv).
    ``ops`` is the factory table (a subclass may give the same modules other wrappers).
    """

    ops: ClassVar[Mapping[str, Callable[[int], nn.Module]]] = OPS

    def __init__(self, op_name: str, C: int) -> None:
        super().__init__()
        if op_name not in OPS:
            raise _unknown_op(op_name)
        if C <= 0:
            raise ArchError(f"an op needs a positive channel count, got C={C}")
        self.op_name = op_name
        self.op = self.ops[op_name](C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)

    def extra_repr(self) -> str:
        return self.op_name


# --- the cell -------------------------------------------------------------------------------------------------


def live_nodes(arch: NB201Arch) -> frozenset[int]:
    """The nodes whose value can reach the output through non-``none`` edges (the output node included)."""
    live = {OUTPUT_NODE}
    for node in range(OUTPUT_NODE - 1, -1, -1):
        if any(arch.op(node, t) != "none" and t in live for t in range(node + 1, NUM_NODES)):
            live.add(node)
    return frozenset(live)


class NB201Cell(nn.Module):
    """An NB201 cell on ``C`` channels: node ``j = sum_{i<j} op_ij(node i)``, output node 3.

    Every edge holds a :class:`CategoricalOp` in ``layers`` (in arch-string order, NB201's layout), so
    the parameters are exactly NB201's. The forward pass computes less, with the same result:

    * ``none`` edges and edges out of nodes that cannot reach the output are skipped (those ops'
      BatchNorm running statistics are therefore not updated; they never influence the output);
    * each node's ReLU is computed once and shared by all convs reading that node (in place, when
      the node is a fresh sum that nothing else reads), and its 3x3 average pool once for all pools
      reading it; node sums accumulate in place.

    A node whose inputs are all ``none`` is zero, but a conv op on it still yields its BatchNorm shift
    (nonzero once trained), so such convs still run, on zeros, as in NB201.
    """

    def __init__(self, arch: NB201Arch, C: int) -> None:
        super().__init__()
        if not isinstance(arch, NB201Arch):
            raise ArchError(f"NB201Cell needs an NB201Arch, got {type(arch).__name__}; use NB201Arch.from_any(text)")
        self.arch = arch
        self.C = C
        self.layers = nn.ModuleList(self._make_op(op, C) for op in arch.ops)
        self._plan = _forward_plan(arch)

    def _make_op(self, op_name: str, C: int) -> CategoricalOp:
        """One edge's module (a hook for the exercise sheet's cell, whose ops have the sheet's signature)."""
        return CategoricalOp(op_name, C)

    @property
    def graph(self) -> nx.DiGraph:
        """A ``networkx.DiGraph`` view: nodes 0..3, every edge with its ``op`` name."""
        return self.arch.to_graph()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.C, "NB201 cell")
        outputs: dict[int, torch.Tensor] = {}  # edge position -> that edge's output
        node: torch.Tensor | None = x  # None stands for an exact zero
        for step in self._plan:
            fresh = False  # is `node` a new tensor that only this step reads?
            if step.node > 0:
                # skips and pools out of a zero node produced nothing: they add zero
                terms = [outputs[k] for k in step.inputs if k in outputs]
                node, fresh = _sum(terms), len(terms) > 1 and not (step.skips or step.pools)
            if node is not None:
                for k in step.skips:
                    outputs[k] = node
                if step.pools:
                    pooled = avg_pool_3x3(node)
                    outputs.update(dict.fromkeys(step.pools, pooled))
            if step.convs:
                if node is None:
                    act = torch.zeros_like(x)
                else:
                    # In place saves a fresh write of the node's memory (sums' backward keeps no output).
                    act = node.relu_() if fresh else F.relu(node)
                for k in step.convs:
                    _, conv, bn = self.layers[k].op  # the op's own ReLU is the shared `act`
                    outputs[k] = bn(conv(act))
        return x.mul(0.0) if node is None else node  # as NB201's Zero: stays in the autograd graph

    def flops(self, size: int) -> int:
        """Multiply-accumulates per image at spatial size ``size`` as NB201 counts them (every conv edge)."""
        return sum(_conv_macs(m, size) for m in self.modules() if isinstance(m, nn.Conv2d))

    def extra_repr(self) -> str:
        return f"C={self.C}, arch={self.arch.to_string()}"


def _check_input(x: torch.Tensor, channels: int, what: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ArchError(
            f"{what} expects input of shape (batch, {channels}, height, width), got {tuple(x.shape)}: "
            f"pass a {channels}-channel image batch"
        )


def _sum(terms: list[torch.Tensor]) -> torch.Tensor | None:
    """The sum of ``terms`` (None if there are none); two or more terms give a new tensor."""
    if not terms:
        return None
    if len(terms) == 1:
        return terms[0]
    total = terms[0] + terms[1]
    for term in terms[2:]:
        total += term  # in place: one allocation per node, not one per term
    return total


@dataclass(frozen=True)
class _Step:
    """What the forward pass does at one node: sum its inputs, then feed its out-edges."""

    node: int
    inputs: tuple[int, ...]  # computed edge positions into this node
    skips: tuple[int, ...]  # out-edges by op kind (edge positions)
    pools: tuple[int, ...]
    convs: tuple[int, ...]


def _forward_plan(arch: NB201Arch) -> tuple[_Step, ...]:
    """The steps for nodes 0..3; out-edges into nodes that cannot reach the output are left out."""
    live = live_nodes(arch)
    computed = [k for k, (i, j) in enumerate(EDGES) if arch.ops[k] != "none" and j in live]
    steps = []
    for node in range(NUM_NODES):
        out = [k for k in computed if EDGES[k][0] == node]
        steps.append(
            _Step(
                node=node,
                inputs=tuple(k for k in computed if EDGES[k][1] == node),
                skips=tuple(k for k in out if arch.ops[k] == "skip_connect"),
                pools=tuple(k for k in out if arch.ops[k] == "avg_pool_3x3"),
                convs=tuple(k for k in out if arch.ops[k] in ("nor_conv_1x1", "nor_conv_3x3")),
            )
        )
    return tuple(steps)


# --- the macro network ----------------------------------------------------------------------------------------


class ResNetBasicblock(nn.Module):
    """NB201's residual reduction block: two ReLU-Conv-BN 3x3 (the first with stride 2), shortcut avgpool + 1x1."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class _ReLUConvBN(nn.Module):
    # A wrapper only so that state_dict keys read ``conv_a.op.1.weight`` as in NB201.
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.op = relu_conv_bn(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class NB201Network(nn.Module):
    """NB201's ``TinyNetwork``: stem, N cells at C, reduction to 2C, N cells, reduction to 4C, N cells, classifier."""

    def __init__(
        self,
        arch: NB201Arch,
        num_classes: int = 10,
        C: int = 16,
        N: int = 5,
        memory_format: torch.memory_format = torch.channels_last,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if num_classes <= 0 or C <= 0 or N < 0 or in_channels <= 0:
            raise ArchError(
                "need num_classes > 0, C > 0, N >= 0, in_channels > 0; got "
                f"num_classes={num_classes}, C={C}, N={N}, in_channels={in_channels}"
            )
        self.arch, self.C, self.N, self.num_classes = arch, C, N, num_classes
        # Kept by name: a torch.memory_format does not pickle under protocol 2, torch.save's default.
        self._memory_format, self.in_channels = str(memory_format).removeprefix("torch."), in_channels
        # NB201 has only RGB datasets (in_channels=3); 1 serves MNIST with the same layout and no extra weights.
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage:
                cells.append(ResNetBasicblock(width // 2, width))
            cells.extend(self._make_cell(arch, width) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * C, num_classes)

    def _make_cell(self, arch: NB201Arch, C: int) -> nn.Module:
        """One cell (a hook for the exercise sheet's macro graph, whose cells are the sheet's class)."""
        return NB201Cell(arch, C)

    @property
    def memory_format(self) -> torch.memory_format:
        return getattr(torch, self._memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, "NB201Network")
        # channels_last lets oneDNN convolve without reordering every activation (about 1.3-2x on CPU).
        x = self.stem(x.contiguous(memory_format=self.memory_format))
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.flatten(1))

    def flops(self, image_size: int) -> int:
        """Multiply-accumulates of one image's forward pass as NB201 counts them: every conv (every edge,
        since NB201 runs them all) and the classifier's multiply-adds plus its bias; pooling, BatchNorm,
        ReLU and sums count zero."""
        sizes = iter(stage_sizes(image_size))
        size = next(sizes)
        total = _conv_macs(self.stem[0], size)
        for cell in self.cells:
            if isinstance(cell, ResNetBasicblock):
                size = next(sizes)  # its convs and its shortcut (2x2 avgpool, even sizes) output this size
                total += sum(_conv_macs(m, size) for m in cell.modules() if isinstance(m, nn.Conv2d))
            else:
                total += cell.flops(size)
        return total + self.classifier.in_features * self.classifier.out_features + self.classifier.out_features


def _conv_macs(conv: nn.Conv2d, out_size: int) -> int:
    kh, kw = conv.kernel_size
    return conv.in_channels * conv.out_channels * kh * kw // conv.groups * out_size * out_size


# --- counting -------------------------------------------------------------------------------------------------

NB201_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
"""The datasets NB201 reports costs for (their shapes and classes: :mod:`nasforge.data.specs`)."""


@dataclass(frozen=True)
class NetworkCost:
    """Size of one NB201 network: trainable parameters and NB201-style multiply-accumulates per image."""

    params: int
    flops: int

    @property
    def params_M(self) -> float:
        return self.params / 1e6

    @property
    def flops_M(self) -> float:
        return self.flops / 1e6

    def to_dict(self) -> dict[str, float]:
        return {"params": self.params, "params_M": self.params_M, "flops_M": self.flops_M}


def network_costs(
    arch: NB201Arch, datasets: tuple[str, ...] = NB201_DATASETS, C: int = 16, N: int = 5
) -> dict[str, NetworkCost]:
    """Parameters and FLOPs of ``arch``'s network on each of ``datasets``, built on the ``meta`` device.

    Building a whole network costs ~15 ms of Python (about 300 modules), too slow for the 46,875 of
    the space, so this builds the macro skeleton (the network with ``N=0``, once per dataset) and one
    real cell per width, and adds ``N`` times the cells. The cells of a stage are identical, so the
    sum equals the whole network's count (the tests compare the two on full builds).
    """
    widths = (C, 2 * C, 4 * C)
    with torch.device("meta"):
        cells = [NB201Cell(arch, width) for width in widths]
    cell_params = sum(p.numel() for cell in cells for p in cell.parameters())
    costs = {}
    for name in datasets:
        spec = dataset_spec(name)
        params, flops = _skeleton_cost(spec.num_classes, spec.image_size, C)
        sizes = stage_sizes(spec.image_size)
        costs[name] = NetworkCost(
            params=params + N * cell_params,
            flops=flops + N * sum(cell.flops(size) for cell, size in zip(cells, sizes)),
        )
    return costs


def count_params(arch: NB201Arch, dataset: str = "cifar10", C: int = 16, N: int = 5) -> int:
    """Trainable parameters of ``arch``'s network on ``dataset`` (NB201 stores this / 1e6 as ``params``)."""
    return network_costs(arch, (dataset,), C, N)[dataset].params


def count_flops(arch: NB201Arch, dataset: str = "cifar10", C: int = 16, N: int = 5) -> float:
    """NB201's ``flops`` of ``arch`` on ``dataset``: millions of multiply-accumulates per image."""
    return network_costs(arch, (dataset,), C, N)[dataset].flops_M


def stage_sizes(image_size: int) -> tuple[int, int, int]:
    """The spatial size of the cells in each of the three stages."""
    half = (image_size - 1) // 2 + 1  # a stride-2 3x3 conv with padding 1
    return image_size, half, (half - 1) // 2 + 1


@functools.cache
def _skeleton_cost(num_classes: int, image_size: int, C: int) -> tuple[int, int]:
    with torch.device("meta"):
        net = NB201Network(NB201Arch(("none",) * len(EDGES)), num_classes=num_classes, C=C, N=0)
    return sum(p.numel() for p in net.parameters()), net.flops(image_size)
