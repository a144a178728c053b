"""Black-box NAS optimizers behind one ask/tell interface, and a registry to list and build them by name.

>>> from nasforge.optimizers import create_optimizer, list_optimizers
>>> list_optimizers()  # doctest: +NORMALIZE_WHITESPACE
['bananas', 'hb', 'ls', 'mols', 'morea', 'nsga2', 'optuna-gp', 'optuna-nsga2', 'optuna-random', 'optuna-tpe',
 'parego', 'rea', 'rs', 'sh', 'tpe']
>>> opt = create_optimizer("rea", seed=0)
>>> request = opt.ask()
>>> type(request.arch).__name__
'NB201Arch'

Optimizers never import torch and never touch a benchmark: they see requests and results only.

``NAME+zc`` (``rea+zc``, ``bananas+zc``) is the zero-cost-aware variant of an optimizer that declares one
(its ``zc_preset`` settings); it is built with a proxy's scores,
``zc=``:class:`~nasforge.optimizers.zerocost.ProxyScores`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from nasforge.errors import ConfigError
from nasforge.optimizers._base import Optimizer, Seed
from nasforge.optimizers._optuna import OPTUNA_OPTIMIZERS, check_available
from nasforge.optimizers.bananas import BANANAS
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
        for cls in (RandomSearch, RegularizedEvolution, LocalSearch, Hyperband, SuccessiveHalving, TPE, BANANAS,
                    *MULTI_OBJECTIVE_OPTIMIZERS, *OPTUNA_OPTIMIZERS)  # fmt: skip
    }
)
"""Every registered optimizer by its short name (read-only); the ``optuna-*`` ones need the ``optuna`` extra."""


def list_optimizers() -> list[str]:
    """The registered optimizer names, sorted."""
    return sorted(OPTIMIZERS)


ZC_SUFFIX = "+zc"
"""``NAME+zc`` names an optimizer's zero-cost-aware variant (module docstring)."""


def is_zc_variant(name: str) -> bool:
    """Whether ``name`` is a ``NAME+zc`` variant (built with proxy scores)."""
    return name.endswith(ZC_SUFFIX)


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class ``name`` (of a ``NAME+zc`` variant: NAME's); :class:`ConfigError` if unknown, if it has
    no zero-cost variant, or if its optional extra is missing."""
    base = name.removesuffix(ZC_SUFFIX)
    try:
        cls = OPTIMIZERS[base]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; known optimizers: {', '.join(list_optimizers())}") from None
    if base != name and not cls.zc_preset:
        variants = ", ".join(n + ZC_SUFFIX for n in list_optimizers() if OPTIMIZERS[n].zc_preset)
        raise ConfigError(f"{base} has no zero-cost-aware variant; the ones that exist: {variants}")
    check_available(cls)
    return cls


def check_named_objectives(name: str) -> None:
    """:class:`ConfigError` when optimizer ``name`` cannot search named objectives (``test_acc:max,params:min``):
    a multi-fidelity one (hb, sh) compares results across fidelities, but named objectives are final values."""
    if optimizer_class(name).multi_fidelity:
        raise ConfigError(f"{name} compares results across fidelities, but named objectives are final values; use "
                          "rs, rea, ls, tpe or a multi-objective optimizer")  # fmt: skip


def get_space(name: str) -> BlackBoxView:
    """The optimizer view of the search space ``name`` (kept for callers of the old name; the registry is
    :mod:`nasforge.spaces.registry`)."""
    return blackbox_view(name)


def create_optimizer(name: str, seed: Seed, *, space: str = "nb201", **options: Any) -> Optimizer:
    """A new optimizer ``name`` with its own generator seeded by ``seed``; ``options`` go to its constructor (a
    ``NAME+zc`` variant: its ``zc_preset`` first, and it needs ``zc=``, the proxy's scores)."""
    cls = optimizer_class(name)
    if is_zc_variant(name):
        options = {**cls.zc_preset, **options}
    return cls(seed, space=space, **options)


__all__ = [
    "BANANAS",
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
    "check_named_objectives",
    "create_optimizer",
    "get_space",
    "is_zc_variant",
    "list_optimizers",
    "optimizer_class",
]
