"""Black-box NAS optimizers behind one ask/tell interface, and a registry to list and build them by name.

>>> from nasforge.optimizers import create_optimizer, list_optimizers
>>> list_optimizers()  # doctest: +NORMALIZE_WHITESPACE
['hb', 'ls', 'mols', 'morea', 'nsga2', 'optuna-gp', 'optuna-nsga2', 'optuna-random', 'optuna-tpe', 'parego',
 'rea', 'rs', 'sh', 'tpe']
>>> opt = create_optimizer("rea", seed=0)
>>> request = opt.ask()
>>> type(request.arch).__name__
'NB201Arch'

Optimizers never import torch and never touch a benchmark: they see requests and results only.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from nasforge.errors import ConfigError
from nasforge.optimizers._base import Optimizer, Seed
from nasforge.optimizers._optuna import OPTUNA_OPTIMIZERS, check_available
from nasforge.optimizers.hyperband import Hyperband, SuccessiveHalving
from nasforge.optimizers.local_search import LocalSearch
from nasforge.optimizers.multiobjective import MOREA, MULTI_OBJECTIVE_OPTIMIZERS, NSGA2, MOLocalSearch, ParEGO
from nasforge.optimizers.random_search import RandomSearch, RandomSearchOptimizer
from nasforge.optimizers.regularized_evolution import RegularizedEvolution
from nasforge.optimizers.tpe import TPE
from nasforge.spaces.nb201 import NB201SpaceView
from nasforge.spaces.registry import BlackBoxView, blackbox_view

OPTIMIZERS: MappingProxyType[str, type[Optimizer]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (RandomSearch, RegularizedEvolution, LocalSearch, Hyperband, SuccessiveHalving, TPE,
                    *MULTI_OBJECTIVE_OPTIMIZERS, *OPTUNA_OPTIMIZERS)  # fmt: skip
    }
)
"""Every registered optimizer by its short name (read-only); the ``optuna-*`` ones need the ``optuna`` extra."""


def list_optimizers() -> list[str]:
    """The registered optimizer names, sorted."""
    return sorted(OPTIMIZERS)


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class ``name``; :class:`ConfigError` if unknown or if its optional extra is missing."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; known optimizers: {', '.join(list_optimizers())}") from None
    check_available(cls)
    return cls


def get_space(name: str) -> BlackBoxView:
    """The optimizer view of the search space ``name`` (kept for callers of the old name; the registry is
    :mod:`nasforge.spaces.registry`)."""
    return blackbox_view(name)


def create_optimizer(name: str, seed: Seed, *, space: str = "nb201", **options: Any) -> Optimizer:
    """A new optimizer ``name`` with its own generator seeded by ``seed``; ``options`` go to its constructor."""
    return optimizer_class(name)(seed, space=space, **options)


__all__ = [
    "OPTIMIZERS",
    "TPE",
    "Hyperband",
    "LocalSearch",
    "MOLocalSearch",
    "MOREA",
    "NSGA2",
    "ParEGO",
    "NB201SpaceView",
    "Optimizer",
    "RandomSearch",
    "RandomSearchOptimizer",
    "RegularizedEvolution",
    "Seed",
    "SuccessiveHalving",
    "create_optimizer",
    "get_space",
    "list_optimizers",
    "optimizer_class",
]
