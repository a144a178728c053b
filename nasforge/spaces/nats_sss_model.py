"""The NATS-Bench size-space networks as PyTorch modules, built from an :class:`~nasforge.spaces.nats_sss.SSSArch`.

NATS's ``DynamicShapeTinyNet`` (xautodl ``models/shape_infers``) with 5 channel counts ``c0..c4``: a stem
(3x3 conv to ``c0`` + BN), a cell ``c0 → c0``, a residual reduction block ``c0 → c1`` (stride 2), a cell
``c1 → c2``, a reduction ``c2 → c3``, a cell ``c3 → c4``, then BN-ReLU, global pooling and a linear
classifier. Every cell is the fixed :data:`~nasforge.spaces.nats_sss.GENOTYPE`; an edge out of the cell's
input maps ``C_in → C_out`` (its ``skip_connect`` becomes NATS's stride-1 ``FactorizedReduce``, a 1x1 conv +
BN, when the two differ), every other edge ``C_out → C_out``. Module layout and ``state_dict`` keys follow
NATS (``cells.2.layers.3.conv.weight``), so parameter counts and FLOPs equal NATS's recorded ones
(the tests check the official files' ``params`` and ``flop`` of archs 0, 11 and 284 on all four datasets).

>>> import torch
>>> net = SSSNetwork(SSSArch.parse("8:16:24:32:40"), num_classes=10)
>>> net(torch.zeros(2, 3, 32, 32)).shape
torch.Size([2, 10])
>>> network_costs(SSSArch.from_index(0), ("cifar10",))["cifar10"].params  # NATS stores 0.011714 M
11714
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from nasforge.data.specs import dataset_spec
from nasforge.errors import ArchError
from nasforge.spaces import nats_sss
from nasforge.spaces.nats_sss import SSSArch
from nasforge.spaces.nb201 import EDGES, NUM_NODES, NB201Arch
from nasforge.spaces.nb201_model import (
    NetworkCost,
    ResNetBasicblock,
    _check_input,
    _conv_macs,
    relu_conv_bn,
    stage_sizes,
)

__all__ = [
    "SSS_DATASETS",
    "FactorizedReduce",
    "SSSCell",
    "SSSNetwork",
    "cost_table",
    "network_costs",
]

SSS_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
"""The datasets NATS records sss costs for (the two CIFAR-10 variants share one network)."""

_CELL_OPS: tuple[str, ...] = NB201Arch.parse(nats_sss.GENOTYPE).ops


class FactorizedReduce(nn.Module):
    """NATS's stride-1 ``FactorizedReduce``: a 1x1 conv ``C_in → C_out`` (no bias) + BN, with no ReLU.

    It is what NATS's ``skip_connect`` becomes when an edge changes the channel count.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=True, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def _edge_op(op: str, c_in: int, c_out: int) -> nn.Module:
    if op == "nor_conv_3x3":
        return _Wrapped(relu_conv_bn(c_in, c_out, 3))
    if op == "skip_connect":
        return nn.Identity() if c_in == c_out else FactorizedReduce(c_in, c_out)
    raise ArchError(f"the sss cell has no op {op!r}")  # the fixed genotype uses only these two


class _Wrapped(nn.Module):
    # Only so that state_dict keys read ``layers.0.op.1.weight`` as NATS's ReLUConvBN does.
    def __init__(self, op: nn.Module) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SSSCell(nn.Module):
    """The fixed NATS cell from ``c_in`` to ``c_out`` channels: node ``j = sum_{i<j} op_ij(node i)``, output node 3."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.layers = nn.ModuleList(
            _edge_op(op, c_in if source == 0 else c_out, c_out) for (source, _), op in zip(EDGES, _CELL_OPS)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.c_in, "sss cell")
        nodes = [x]
        for target in range(1, NUM_NODES):
            terms = [self.layers[k](nodes[i]) for k, (i, j) in enumerate(EDGES) if j == target]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[-1]

    def flops(self, size: int) -> int:
        """Multiply-accumulates per image at spatial size ``size`` (every conv; NATS's counting)."""
        return sum(_conv_macs(m, size) for m in self.modules() if isinstance(m, nn.Conv2d))

    def extra_repr(self) -> str:
        return f"c_in={self.c_in}, c_out={self.c_out}"


class SSSNetwork(nn.Module):
    """NATS's sss network for ``arch``: stem, cell, reduction, cell, reduction, cell, classifier."""

    def __init__(self, arch: SSSArch, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if not isinstance(arch, SSSArch):
            raise ArchError(f"SSSNetwork needs an SSSArch, got {type(arch).__name__}; use SSSArch.from_any(text)")
        if num_classes <= 0 or in_channels <= 0:
            raise ArchError(f"need num_classes > 0 and in_channels > 0; got {num_classes}, {in_channels}")
        self.arch, self.num_classes, self.in_channels = arch, num_classes, in_channels
        c = arch.channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c[0], kernel_size=3, padding=1, bias=False),
                                  nn.BatchNorm2d(c[0]))  # fmt: skip
        self.cells = nn.ModuleList(
            [SSSCell(c[0], c[0]), ResNetBasicblock(c[0], c[1]), SSSCell(c[1], c[2]),
             ResNetBasicblock(c[2], c[3]), SSSCell(c[3], c[4])]
        )  # fmt: skip
        self.lastact = nn.Sequential(nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c[4], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, "SSSNetwork")
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))

    def flops(self, image_size: int) -> int:
        """Multiply-accumulates of one image's forward pass as NATS counts them: every conv, and the
        classifier's multiply-adds plus its bias; pooling, BatchNorm, ReLU and sums count zero."""
        sizes = stage_sizes(image_size)
        total = _conv_macs(self.stem[0], image_size)
        for k, cell in enumerate(self.cells):
            size = sizes[(k + 1) // 2]  # cells 0 | 1, 2 | 3, 4: a reduction outputs its stage's size
            total += sum(_conv_macs(m, size) for m in cell.modules() if isinstance(m, nn.Conv2d))
        return total + self.classifier.in_features * self.classifier.out_features + self.classifier.out_features


# --- counting -------------------------------------------------------------------------------------------------
#
# A network is the sum of its parts: stem(c0), cell(c0, c0), reduction(c0, c1), cell(c1, c2), reduction(c2, c3),
# cell(c3, c4) and the head (BN on c4 + classifier). Each part is built once per channel pair on the meta
# device (no memory) and its parameters and per-pixel conv MACs counted from the modules; a network's count
# is then a few table reads, so all 32,768 x 4 datasets take milliseconds (the tests compare the sums with
# whole networks built on the meta device).


@functools.cache
def _part_tables() -> dict[str, np.ndarray]:
    n = len(nats_sss.CHANNELS)
    tables = {k: np.zeros((n, n), np.int64) for k in ("cell_p", "cell_m", "red_p", "red_m")}
    stem_p, stem_m, bn_p = (np.zeros(n, np.int64) for _ in range(3))
    with torch.device("meta"):
        for a, c_in in enumerate(nats_sss.CHANNELS):
            stem = nn.Sequential(nn.Conv2d(3, c_in, 3, padding=1, bias=False), nn.BatchNorm2d(c_in))
            stem_p[a], stem_m[a] = _params(stem), _conv_macs(stem[0], 1)
            bn_p[a] = _params(nn.BatchNorm2d(c_in))
            for b, c_out in enumerate(nats_sss.CHANNELS):
                cell, red = SSSCell(c_in, c_out), ResNetBasicblock(c_in, c_out)
                tables["cell_p"][a, b], tables["cell_m"][a, b] = _params(cell), cell.flops(1)
                tables["red_p"][a, b] = _params(red)
                tables["red_m"][a, b] = sum(_conv_macs(m, 1) for m in red.modules() if isinstance(m, nn.Conv2d))
    for table in (*tables.values(), stem_p, stem_m, bn_p):
        table.setflags(write=False)
    return {**tables, "stem_p": stem_p, "stem_m": stem_m, "bn_p": bn_p}


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _costs(digits: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and MACs of the networks whose channel digits are the rows of ``digits`` ``(n, 5)``."""
    spec = dataset_spec(dataset)
    s0, s1, s2 = stage_sizes(spec.image_size)
    t = _part_tables()
    d0, d1, d2, d3, d4 = digits.T
    c4 = np.asarray(nats_sss.CHANNELS, np.int64)[d4]
    head = c4 * spec.num_classes + spec.num_classes
    params = (t["stem_p"][d0] + t["cell_p"][d0, d0] + t["red_p"][d0, d1] + t["cell_p"][d1, d2]
              + t["red_p"][d2, d3] + t["cell_p"][d3, d4] + t["bn_p"][d4] + head)  # fmt: skip
    macs = ((t["stem_m"][d0] + t["cell_m"][d0, d0]) * s0 * s0 + (t["red_m"][d0, d1] + t["cell_m"][d1, d2]) * s1 * s1
            + (t["red_m"][d2, d3] + t["cell_m"][d3, d4]) * s2 * s2 + head)  # fmt: skip
    return params, macs


def network_costs(arch: SSSArch, datasets: tuple[str, ...] = SSS_DATASETS) -> dict[str, NetworkCost]:
    """Parameters and NATS-style multiply-accumulates of ``arch``'s network on each of ``datasets``.

    NATS stores these / 1e6 as ``params`` (M) and ``flop`` (MFLOPs). Raises :class:`ConfigError` for an
    unknown dataset.
    """
    digits = np.asarray([arch.digits])
    out = {}
    for name in datasets:
        params, macs = _costs(digits, name)
        out[name] = NetworkCost(params=int(params[0]), flops=int(macs[0]))
    return out


def cost_table(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """int64 arrays ``(32768,)`` by official index: parameters and MACs of every sss network on ``dataset``."""
    return _costs(nats_sss.digit_table(), dataset)
