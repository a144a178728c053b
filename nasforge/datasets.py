"""What nasforge knows about each dataset's shape: one table shared by models, loaders and benchmarks.

NB201's split semantics (which images each NB201 "dataset" trains and evaluates on) are documented
with the benchmark store, in :mod:`nasforge.benchmarks`; this table only says what a network needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasforge.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """Input and output shape of a classification dataset."""

    name: str
    num_classes: int
    image_size: int
    channels: int


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("cifar10", 10, 32, 3),
        DatasetSpec("cifar10-valid", 10, 32, 3),
        DatasetSpec("cifar100", 100, 32, 3),
        DatasetSpec("ImageNet16-120", 120, 16, 3),
        DatasetSpec("mnist", 10, 28, 1),
    )
}


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; a :class:`ConfigError` naming the known datasets otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None
