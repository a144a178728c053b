"""Batches of normalized float32 images from an in-memory :class:`ImageDataset`, with CIFAR augmentation.

The whole dataset already sits in memory as uint8, so a batch is one index, one (optional) vectorized
augmentation and one normalization: no worker processes, no per-image Python loop, no torchvision.
All randomness (shuffle order, crop offsets, flips) comes from one ``torch.Generator`` the caller seeds;
its state is what a checkpoint saves to resume the exact same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from nasforge.data._dataset import ImageDataset, normalization
from nasforge.data.specs import DatasetSpec

CROP_PADDING = 4


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Standard CIFAR augmentation for a whole batch (B×C×H×W, any dtype).

    Each image is zero-padded by ``padding`` pixels on every side, an H×W window at a random offset in
    [0, 2·padding]² is cut out, and the result is mirrored left-right with probability 1/2.
    """
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    rows = dy[:, None] + torch.arange(h)  # B×H
    cols = dx[:, None] + torch.arange(w)  # B×W
    # A flipped image reads its window's columns right to left.
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(b)[:, None, None]
    # Advanced indexing on dims (0, 2, 3) puts the channel dim last: B×H×W×C.
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


class Normalizer:
    """uint8 images → float32, scaled to [0, 1] and standardized with the dataset's mean and std."""

    def __init__(self, name: str | DatasetSpec, channels: int) -> None:
        mean, std = normalization(name)
        if len(mean) != channels:
            raise ValueError(f"{name} normalization has {len(mean)} channels, images have {channels}")
        # Fold /255 and the standardization into one multiply-add.
        self.scale = (1.0 / (255.0 * torch.tensor(std))).view(1, -1, 1, 1)
        self.shift = (-torch.tensor(mean) / torch.tensor(std)).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images.to(torch.float32), self.scale)


class BatchLoader:
    """Iterate over ``ds`` in batches of normalized float32 images and int64 labels.

    Each ``iter()`` is one epoch: shuffled (if ``shuffle``) and augmented (if ``augment``) with draws from the
    loader's generator, seeded by ``seed`` unless a ``generator`` is passed.

    >>> import torch
    >>> from nasforge.data import ImageDataset
    >>> ds = ImageDataset(torch.zeros(5, 1, 28, 28, dtype=torch.uint8), torch.arange(5), "mnist", "zeros")
    >>> [tuple(x.shape) for x, y in BatchLoader(ds, 2, shuffle=True, augment=False, seed=0)]
    [(2, 1, 28, 28), (2, 1, 28, 28), (1, 1, 28, 28)]
    """

    def __init__(
        self,
        ds: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool,
        augment: bool,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if generator is None:
            generator = torch.Generator()
            generator.manual_seed(0 if seed is None else seed)
        self.dataset = ds
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = generator
        self.drop_last = drop_last
        self.normalize = Normalizer(ds.spec or ds.name, ds.image_shape[0])

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]
            images = self.dataset.images[index]
            if self.augment:
                images = random_crop_flip(images, self.generator)
            yield self.normalize(images), self.dataset.labels[index]
