"""The one table of dataset facts: image shape, classes, normalisation, split sizes, augmentation.

Models, loaders, the training engine, DARTS and the CLI read these facts here and nowhere else. The
module imports neither torch nor numpy, so torch-free code (the CLI's argument parsing, benchmarks) can
use it.

>>> dataset_spec("mnist").input_shape
(1, 28, 28)
>>> list_datasets(loadable=True)
['cifar10', 'mnist']

Sources: MNIST and CIFAR-10 sizes and MNIST's mean/std are those of the files themselves (checked in
``shared/data/README.md``: 60,000/10,000 digits, pixels/255 mean 0.1307, std 0.3081); CIFAR-10's mean/std
are the reference values of its 50,000 training images. The NB201 datasets' split sizes are NB201's
(Dong & Yang, ICLR 2020, Sec. 3.2); what each NB201 split means for a metric is documented with the
benchmark store (:mod:`nasforge.benchmarks.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from nasforge.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """What nasforge knows about one classification dataset.

    ``image_size``: height = width in pixels; ``channels``: 1 (grey) or 3 (RGB). ``mean``/``std``: per-channel
    statistics of pixels/255 on the training split, ``None`` where nasforge reads no files of the dataset.
    ``width``: set only for non-square images (your own data; ``image_size`` is then the height).
    ``classes``: the class names by label, for your own data (folder names).
    ``splits``: images per split, named as the dataset's files (``train``, ``test``) or NB201 (``x-valid``,
    ``x-test``, ``ori-test``) name them. ``augment``: whether its standard training pipeline uses random crop
    + horizontal flip (never for digits, which must not be mirrored). ``loadable``: whether
    :func:`nasforge.data.load_dataset` reads it.
    """

    name: str
    num_classes: int
    image_size: int
    channels: int
    splits: tuple[tuple[str, int], ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    augment: bool = False
    loadable: bool = False
    width: int | None = None  # None: square images (width = image_size, which is then the height)
    classes: tuple[str, ...] | None = None  # class names by label, where the data names them (your own data)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return (self.channels, self.image_size, self.image_size if self.width is None else self.width)

    def split_size(self, split: str) -> int:
        """Images in ``split``; :class:`ConfigError` naming the dataset's splits otherwise."""
        sizes = dict(self.splits)
        if split not in sizes:
            raise ConfigError(f"dataset {self.name!r} has no split {split!r}; its splits: {', '.join(sizes)}")
        return sizes[split]


DATASETS: MappingProxyType[str, DatasetSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            DatasetSpec(
                "cifar10",
                10,
                32,
                3,
                (("train", 50_000), ("test", 10_000)),
                mean=(0.4914, 0.4822, 0.4465),
                std=(0.2470, 0.2435, 0.2616),
                augment=True,
                loadable=True,
            ),
            # NB201's CIFAR-10 protocol for search: trained on half the training images, validated on the other.
            DatasetSpec("cifar10-valid", 10, 32, 3, (("train", 25_000), ("x-valid", 25_000), ("ori-test", 10_000))),
            DatasetSpec(
                "cifar100", 100, 32, 3, (("train", 50_000), ("x-valid", 5_000), ("x-test", 5_000), ("ori-test", 10_000))
            ),
            DatasetSpec(
                "ImageNet16-120",
                120,
                16,
                3,
                (("train", 151_700), ("x-valid", 3_000), ("x-test", 3_000), ("ori-test", 6_000)),
            ),
            DatasetSpec(
                "mnist",
                10,
                28,
                1,
                (("train", 60_000), ("test", 10_000)),
                mean=(0.1307,),
                std=(0.3081,),
                loadable=True,
            ),
        )
    }
)
"""Every known dataset by name (read-only)."""


def list_datasets(*, loadable: bool | None = None) -> list[str]:
    """The known dataset names, sorted; ``loadable=True``: only those :func:`nasforge.data.load_dataset` reads."""
    return sorted(n for n, s in DATASETS.items() if loadable is None or s.loadable == loadable)


def dataset_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a :class:`ConfigError` naming the known datasets otherwise.

    A :class:`DatasetSpec` is returned as it is: your own data's spec (``ImageDataset.spec``) travels as a
    value where a built-in dataset travels by name.
    """
    if isinstance(name, DatasetSpec):
        return name
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None
