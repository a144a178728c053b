"""The in-memory image dataset value and each dataset's standard normalization."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nasforge.data.specs import DATASETS, DatasetSpec
from nasforge.errors import DataError


def normalization(name: str | DatasetSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) per channel of dataset ``name`` (pixels scaled to [0, 1]), from :mod:`nasforge.data.specs`
    (or from the given spec: your own data's statistics of its training split)."""
    spec = name if isinstance(name, DatasetSpec) else DATASETS.get(name)
    if spec is None or spec.mean is None or spec.std is None:
        known = ", ".join(n for n, s in DATASETS.items() if s.mean is not None)
        raise DataError(f"no normalization known for dataset {name!r}; known: {known}")
    return spec.mean, spec.std


# eq=False: tensors have no boolean equality, and two datasets are the same only if they are the same object.
@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Images and labels held in memory.

    ``images`` is a ``torch.uint8`` tensor N×C×H×W, ``labels`` a ``torch.int64`` tensor N. ``source`` says in
    words where the images came from (a file path, or the embedded default) so every output can report it.
    ``full_size`` is the size of the complete split the images were drawn from when the files hold only part
    of it (the shared CIFAR-10 npz holds 10,000 of the 50,000 training images), so that a fraction such as the
    seed's 5% means 5% of the real split; ``None`` means the dataset is the complete split. ``spec``: the
    dataset's facts (classes, shape, normalisation); ``None`` looks ``name`` up in the built-in table.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    source: str
    full_size: int | None = None
    spec: DatasetSpec | None = None

    def __post_init__(self) -> None:
        if self.spec is None:
            object.__setattr__(self, "spec", DATASETS.get(self.name))
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"{self.source}: images must be a uint8 N×C×H×W tensor, got {self.images.dtype} "
                f"of shape {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise DataError(
                f"{self.source}: labels must be an int64 tensor of length {self.images.shape[0]}, "
                f"got {self.labels.dtype} of shape {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        if self.spec is not None:
            return self.spec.num_classes
        return int(self.labels.max()) + 1 if len(self) else 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width)."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def subset(self, indices: torch.Tensor, note: str) -> ImageDataset:
        """The images at ``indices`` (in that order); ``note`` is appended to ``source``."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return ImageDataset(
            self.images[indices], self.labels[indices], self.name, f"{self.source}; {note}", spec=self.spec
        )

    def __repr__(self) -> str:
        return f"ImageDataset(name={self.name!r}, n={len(self)}, shape={self.image_shape}, source={self.source!r})"
