"""Networks of the DARTS-style spaces: the op table, the macro layout and the discrete network of a Genotype.

The op table is DARTS' plain name-to-factory map (``OPS[name](C, stride, affine)``); the one-shot
supernet (:mod:`nasforge.oneshot`) builds its parametric ops from the same table with ``affine=False``.
:class:`Macro` fixes a space's stacking of cells; :func:`cell_layout` turns it into per-cell channel
counts, the one place the search network and the discrete network agree on shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ArchError, ConfigError
from nasforge.spaces.darts import Genotype

# --- ops ------------------------------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class ConvReLU(nn.Sequential):
    """The DARTS-MNIST sheet's ``conv_3x3``: Conv2d (no bias) → ReLU, no BatchNorm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False), nn.ReLU())


class DilConv(nn.Sequential):
    """ReLU → depthwise (dilated) conv → pointwise conv → BN."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int, affine: bool = True
    ):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """DARTS' separable conv: the depthwise-pointwise block twice, the first one strided."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine), DilConv(c_in, c_out, kernel, 1, padding, 1, affine)
        )


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 stride-2 convs, the second shifted by one pixel."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ConfigError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        # Pad odd sizes so both branches give ceil(H/2) (DARTS slices x[:, :, 1:, 1:], fine only for even H).
        shifted = F.pad(x, (0, x.shape[3] % 2, 0, x.shape[2] % 2))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


OpFactory = Callable[[int, int, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda C, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine),
    "conv_3x3": lambda C, stride, affine: ConvReLU(C, C, 3, stride, 1),  # only in darts-mnist: the sheet's form
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}
"""DARTS op name → factory ``(C, stride, affine) -> nn.Module`` keeping ``C`` channels (stride 2 halves H, W)."""


def make_op(name: str, C: int, stride: int, affine: bool = True) -> nn.Module:
    try:
        factory = OPS[name]
    except KeyError:
        raise ArchError(f"unknown op {name!r}; valid ops: {', '.join(OPS)}") from None
    return factory(C, stride, affine)


# --- macro layout ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Macro:
    """How cells stack: ``reductions[k]`` says whether cell ``k`` halves the resolution (and doubles C).

    ``stem_multiplier`` 0 means no stem: the image itself is the first cell's input (the DARTS-MNIST sheet).
    """

    reductions: tuple[bool, ...]
    n_inputs: int
    steps: int
    C: int = 16
    stem_multiplier: int = 1
    in_channels: int = 1
    num_classes: int = 10

    def __post_init__(self) -> None:
        if (
            not self.reductions
            or self.n_inputs < 1
            or self.steps < 1
            or self.C < 2
            or self.C % 2
            or self.stem_multiplier < 0
        ):
            raise ConfigError(
                f"invalid DARTS macro {self}: need cells, n_inputs >= 1, steps >= 1, an even C >= 2 "
                "and a stem multiplier >= 0"
            )

    def with_(self, **changes: int) -> Macro:
        return replace(self, **changes)


@dataclass(frozen=True)
class CellShape:
    inputs: tuple[tuple[int, bool], ...]  # per input state: (channels, comes from before a reduction)
    C: int
    reduction: bool


def cell_layout(macro: Macro) -> tuple[int, list[CellShape]]:
    """Stem channels (the image's without a stem) and each cell's inputs / width; a cell outputs ``steps * C``."""
    stem = macro.stem_multiplier * macro.C if macro.stem_multiplier else macro.in_channels
    # Each entry: (channels, index of the reduction "era" it was produced in).
    history: list[tuple[int, int]] = [(stem, 0)] * macro.n_inputs
    era, C, shapes = 0, macro.C, []
    for reduction in macro.reductions:
        if reduction:
            C *= 2
        inputs = tuple((ch, e < era) for ch, e in history[-macro.n_inputs :])
        shapes.append(CellShape(inputs, C, reduction))
        era += reduction
        history.append((macro.steps * C, era))
    return stem, shapes


def make_stem(macro: Macro, channels: int) -> nn.Module:
    """3x3 conv + BatchNorm to ``channels``, or the identity when the macro has no stem."""
    if not macro.stem_multiplier:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(macro.in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))


def preprocess(channels: int, C: int, from_before_reduction: bool, affine: bool) -> nn.Module:
    """Bring one cell input to ``C`` channels at the cell's input resolution."""
    if from_before_reduction:
        return FactorizedReduce(channels, C, affine)
    return ReLUConvBN(channels, C, 1, 1, 0, affine)


# --- the discrete network -------------------------------------------------------------------------------------


class Cell(nn.Module):
    """A discrete cell: node j = Σ over its kept edges of op(state); output = concat of the intermediate nodes."""

    def __init__(self, genotype: Genotype, shape: CellShape) -> None:
        super().__init__()
        kind = "reduce" if shape.reduction else "normal"
        self.n_inputs = genotype.n_inputs
        self.preprocess = nn.ModuleList(preprocess(ch, shape.C, before, True) for ch, before in shape.inputs)
        self.node_edges = genotype.node_edges(kind)
        self.ops = nn.ModuleList()
        for edges in self.node_edges:
            for op, src in edges:
                stride = 2 if shape.reduction and src < self.n_inputs else 1
                self.ops.append(make_op(op, shape.C, stride))

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        states = [pre(x) for pre, x in zip(self.preprocess, inputs, strict=True)]
        k = 0
        for edges in self.node_edges:
            total = None
            for _, src in edges:
                y = self.ops[k](states[src])
                total = y if total is None else total + y
                k += 1
            states.append(total)
        return torch.cat(states[self.n_inputs :], dim=1)


class DartsNetwork(nn.Module):
    """The network a Genotype describes: stem (if any), cells stacked as in ``macro``, global pooling, linear."""

    def __init__(self, genotype: Genotype, macro: Macro) -> None:
        super().__init__()
        if genotype.n_inputs != macro.n_inputs or genotype.steps != macro.steps:
            raise ArchError(
                f"genotype has {genotype.n_inputs} input(s) and {genotype.steps} nodes per cell, but the space "
                f"expects {macro.n_inputs} and {macro.steps}; use a genotype found in the same space"
            )
        self.genotype, self.macro = genotype, macro
        stem, shapes = cell_layout(macro)
        self.stem = make_stem(macro, stem)
        self.cells = nn.ModuleList(Cell(genotype, shape) for shape in shapes)
        self.classifier = nn.Linear(macro.steps * shapes[-1].C, macro.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NHWC: CPU pooling and BatchNorm are several times faster on it (see nasforge.oneshot.supernet).
        s = self.stem(x).contiguous(memory_format=torch.channels_last)
        states = [s] * self.macro.n_inputs
        for cell in self.cells:
            states.append(cell(states[-self.macro.n_inputs :]))
        return self.classifier(states[-1].mean(dim=(2, 3)))
