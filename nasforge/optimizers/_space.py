"""The view of a search space that optimizers need: sample, mutate, neighbours and an integer encoding.

Optimizers see an architecture as a point in a product of categorical variables (on NB201: six edges,
five ops each). This view is built from :mod:`nasforge.spaces.nb201` and adds nothing to it but speed:
mutation and encoding work on op indices directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.spaces import nb201
from nasforge.spaces.nb201 import NB201Arch

_OP_INDEX = {op: i for i, op in enumerate(nb201.OPS)}


class NB201SpaceView:
    """NB201 as six categorical variables with five values each (``encode`` = op indices)."""

    name = "nb201"
    size = nb201.NUM_ARCHS
    choices: tuple[int, ...] = (len(nb201.OPS),) * len(nb201.EDGES)

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return nb201.sample(rng)

    def encode(self, arch: NB201Arch) -> tuple[int, ...]:
        return tuple(_OP_INDEX[op] for op in arch.ops)  # arch.op_indices, without the linear search

    def decode(self, codes: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(nb201.OPS[int(c)] for c in codes))

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        """Change the op of one uniformly chosen edge to a uniformly chosen *different* op (NB201's REA)."""
        edge = int(rng.integers(len(self.choices)))
        current = _OP_INDEX[arch.ops[edge]]
        new = int(rng.integers(self.choices[edge] - 1))
        new += new >= current
        return NB201Arch(arch.ops[:edge] + (nb201.OPS[new],) + arch.ops[edge + 1 :])

    def neighbors(self, arch: NB201Arch) -> list[NB201Arch]:
        return arch.neighbors()


SPACES = ("nb201", "nats-sss")


def get_space(name: str) -> NB201SpaceView:
    """The optimizer view of the search space ``name``."""
    if name == "nats-sss":  # NATS-Bench's size space; same protocol (nasforge.spaces.nats_sss.SSSSpaceView)
        from nasforge.spaces.nats_sss import SSSSpaceView

        return SSSSpaceView()  # type: ignore[return-value]
    if name != "nb201":
        raise ConfigError(f"unknown search space {name!r}; known spaces: {', '.join(SPACES)}")
    return NB201SpaceView()
