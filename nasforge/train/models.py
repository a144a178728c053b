"""The network to train for an architecture on a dataset: one place shared by ``nasforge train``, the
faithfulness check and training-based evaluators."""

from __future__ import annotations

from torch import nn

from nasforge.data.specs import DatasetSpec, dataset_spec
from nasforge.errors import ArchError, ConfigError
from nasforge.spaces.darts import Genotype
from nasforge.spaces.nats_sss import SSSArch
from nasforge.spaces.nb201 import NB201Arch
from nasforge.train.engine import seeded

REDUCTION_MULTIPLE = 4
"""NB201's and DARTS' networks halve the image twice, each time on two paths (a stride-2 conv and a 2×2 pool
or offset stride-2 conv) that agree in size only on even sides: height and width must be multiples of 4."""


def check_input_size(dataset: str | DatasetSpec, network: str) -> None:
    """Raise :class:`ConfigError` naming the nearest valid size unless ``dataset``'s images fit ``network``."""
    _, h, w = dataset_spec(dataset).input_shape
    m = REDUCTION_MULTIPLE
    if h % m or w % m:
        fit = max(m, round(max(h, w) / m) * m)
        raise ConfigError(
            f"{network} networks halve images twice and need height and width that are multiples of {m} (at least "
            f"{m}); the images are {h}×{w}: pass --image-size {fit}"
        )


def build_nb201(arch: NB201Arch, dataset: str | DatasetSpec, *, C: int = 16, N: int = 5, seed: int = 0) -> nn.Module:
    """NB201's network for ``arch`` sized for ``dataset`` (a name or your own data's spec), its weights
    initialized from ``seed``; :class:`ConfigError` when the images do not fit (:func:`check_input_size`)."""
    from nasforge.spaces.nb201_model import NB201Network

    spec = dataset_spec(dataset)
    check_input_size(spec, "NB201")
    with seeded(seed):
        return NB201Network(arch, num_classes=spec.num_classes, C=C, N=N, in_channels=spec.channels)


def build_darts(
    genotype: Genotype,
    dataset: str | DatasetSpec,
    space: str,
    *,
    C: int = 16,
    layers: int | None = None,
    stem_multiplier: int | None = None,
    seed: int = 0,
) -> nn.Module:
    """The discrete network of a DARTS ``genotype`` found in the one-shot ``space`` (darts-mnist, darts), sized
    for ``dataset``; ``layers`` / ``stem_multiplier`` ``None`` are the space's defaults. Raises
    :class:`ConfigError` when the images do not fit, :class:`ArchError` for ops or cells foreign to ``space``."""
    from nasforge.oneshot.supernet import darts_macro
    from nasforge.spaces.darts_model import DartsNetwork

    spec = dataset_spec(dataset)
    check_input_size(spec, "DARTS")
    genotype.check_space(space)
    macro = darts_macro(space, spec, C, layers, stem_multiplier)
    with seeded(seed):
        return DartsNetwork(genotype, macro)


def genotype_space(genotype: Genotype) -> str:
    """The one-shot DARTS cell space whose cells have ``genotype``'s inputs and nodes (darts-mnist: 1 and 2,
    darts: 2 and 4); :class:`ArchError` for any other shape."""
    from nasforge.oneshot.supernet import darts_macro

    shapes = {}
    for space in ("darts-mnist", "darts"):
        macro = darts_macro(space, "mnist")
        shapes[(macro.n_inputs, macro.steps)] = space
    space = shapes.get((genotype.n_inputs, genotype.steps))
    if space is None:
        raise ArchError(
            f"a genotype with {genotype.n_inputs} input(s) and {genotype.steps} nodes per cell fits no DARTS space "
            "(darts-mnist: 1 and 2, darts: 2 and 4)"
        )
    return space


def build_sss(arch: SSSArch, dataset: str | DatasetSpec, *, seed: int = 0) -> nn.Module:
    """NATS-Bench's size-space network for ``arch`` sized for ``dataset``, weights initialized from ``seed``."""
    from nasforge.spaces.nats_sss_model import SSSNetwork

    spec = dataset_spec(dataset)
    check_input_size(spec, "NATS-sss")
    with seeded(seed):
        return SSSNetwork(arch, num_classes=spec.num_classes, in_channels=spec.channels)
