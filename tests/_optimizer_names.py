"""The optimizer names that tests parametrize over: every registered optimizer, with two exceptions.

The ``optuna-*`` optimizers skip when the ``optuna`` extra is absent; ``optuna-gp`` (Optuna's GP sampler,
0.2 s or more per ask on 2 cores: a minute per parametrized test) is left out and has its own short contract
test in ``test_optuna.py``.
"""

from __future__ import annotations

import importlib.util

import pytest

from nasforge.optimizers import list_optimizers

NEEDS_OPTUNA = pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="the optuna extra is absent")
SLOW_OPTIMIZERS = ("optuna-gp",)


def optimizer_params() -> list:
    """``pytest.param`` per optimizer name, for ``@pytest.mark.parametrize("name", optimizer_params())``."""
    return [
        pytest.param(name, marks=[NEEDS_OPTUNA] if name.startswith("optuna-") else [])
        for name in list_optimizers()
        if name not in SLOW_OPTIMIZERS
    ]
