"""The network to train for an architecture on a dataset: one place shared by ``nasforge train``, the
faithfulness check and training-based evaluators."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.datasets import dataset_spec
from nasforge.spaces.nb201 import NB201Arch
from nasforge.train.engine import seeded


class RepeatChannels(nn.Module):
    """Feed 1-channel images (MNIST) to a network whose stem expects 3: the gray plane repeated, no new weights."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x


def build_nb201(arch: NB201Arch, dataset: str, *, C: int = 16, N: int = 5, seed: int = 0) -> nn.Module:
    """NB201's network for ``arch`` sized for ``dataset``, its weights initialized from ``seed``."""
    from nasforge.spaces.nb201_model import NB201Network

    spec = dataset_spec(dataset)
    with seeded(seed):
        net = NB201Network(arch, num_classes=spec.num_classes, C=C, N=N)
    # NB201Network's stem takes 3 channels; repeating MNIST's gray plane is the standard way to feed it.
    return net if spec.channels == 3 else nn.Sequential(RepeatChannels(3), net)
