"""The network to train for an architecture on a dataset: one place shared by ``nasforge train``, the
faithfulness check and training-based evaluators."""

from __future__ import annotations

from torch import nn

from nasforge.data.specs import DatasetSpec, dataset_spec
from nasforge.errors import ConfigError
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
