"""Random search: every request is a uniformly random arch (the seed's ``RandomSearchOptimizer``)."""

from __future__ import annotations

from types import MappingProxyType

from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.trial import Request


class RandomSearch(Optimizer):
    """Uniform sampling. Without ``allow_repeats`` (default) an arch is never asked twice.

    >>> opt = RandomSearch(seed=0)
    >>> request = opt.ask()
    >>> request.fidelity is None, len(opt.pending)
    (True, 1)
    """

    name = "rs"
    settings = MappingProxyType({"allow_repeats": OptionSpec(bool)})

    def __init__(self, seed: Seed, *, space: str = "nb201", allow_repeats: bool = False) -> None:
        super().__init__(seed, space=space)
        self.allow_repeats = allow_repeats

    def _ask(self) -> Request:
        arch = self.space.sample(self.rng) if self.allow_repeats else self._sample_unseen()
        return Request(arch)

    def config(self) -> dict:
        return {**super().config(), "allow_repeats": self.allow_repeats}


RandomSearchOptimizer = RandomSearch
"""The seed exercise's name for :class:`RandomSearch` (alias, ask/tell signature). The sheet's class with the
sheet's signature, ``RandomSearchOptimizer(search_config_space, init_model_fn)``, is
:class:`nasforge.exercises.nb201.RandomSearchOptimizer`."""
