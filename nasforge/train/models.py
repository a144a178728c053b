"""The network to train for an architecture on a dataset: one place shared by ``nasforge train``, the
faithfulness check and training-based evaluators."""

from __future__ import annotations

from torch import nn

from nasforge.data.specs import dataset_spec
from nasforge.spaces.nb201 import NB201Arch
from nasforge.train.engine import seeded


def build_nb201(arch: NB201Arch, dataset: str, *, C: int = 16, N: int = 5, seed: int = 0) -> nn.Module:
    """NB201's network for ``arch`` sized for ``dataset``, its weights initialized from ``seed``."""
    from nasforge.spaces.nb201_model import NB201Network

    spec = dataset_spec(dataset)
    with seeded(seed):
        return NB201Network(arch, num_classes=spec.num_classes, C=C, N=N, in_channels=spec.channels)
