"""The one list of search spaces, each with the views the two roads need (no torch).

* the **black-box view** (``SearchSpace.blackbox()``): what ask/tell optimizers see: ``sample``, ``mutate``,
  ``neighbors`` and an integer encoding (:class:`BlackBoxView`); NB201's is
  :class:`nasforge.spaces.nb201.NB201SpaceView`;
* the **one-shot view** (``SearchSpace.oneshot``): what DARTS needs beyond the op names: the default macro
  (``default_C``, ``default_layers``) and the space's search protocol (the defaults of
  :class:`nasforge.oneshot.SearchConfig`'s ``None`` fields). The supernets themselves are built from it in
  :func:`nasforge.oneshot.supernet.build_supernet`.

>>> list_spaces()
['darts-mnist', 'darts', 'nb201', 'nats-sss']
>>> list_spaces("blackbox")
['nb201', 'nats-sss']
>>> get_space("darts-mnist", "oneshot").oneshot.default_C
8
>>> blackbox_view("nb201").size
15625
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol

import numpy as np

from nasforge.errors import ConfigError
from nasforge.spaces.darts import DARTS_OPS, MNIST_OPS
from nasforge.spaces.nats_sss import CHANNELS as SSS_CHANNELS
from nasforge.spaces.nats_sss import SSSArch, SSSSpaceView
from nasforge.spaces.nb201 import OPS as NB201_OPS
from nasforge.spaces.nb201 import NB201Arch, NB201SpaceView

ViewKind = Literal["blackbox", "oneshot"]


class BlackBoxView(Protocol):
    """A space as a product of categorical variables: ``choices[i]`` values for variable ``i``."""

    name: str
    size: int  # number of architectures
    choices: tuple[int, ...]

    def sample(self, rng: np.random.Generator) -> Any: ...
    def encode(self, arch: Any) -> tuple[int, ...]: ...
    def decode(self, codes: Sequence[int]) -> Any: ...
    def mutate(self, arch: Any, rng: np.random.Generator) -> Any: ...
    def neighbors(self, arch: Any) -> list[Any]: ...


@dataclass(frozen=True)
class OneShotView:
    """A space's one-shot defaults: the macro's initial channels ``default_C`` and cells (per stage, for
    NB201) ``default_layers``, and ``protocol``, the :class:`~nasforge.oneshot.SearchConfig` defaults."""

    default_C: int
    default_layers: int
    protocol: Mapping[str, Any]


@dataclass(frozen=True)
class SearchSpace:
    """A registered search space: its op names (α's column order), a description, and its views."""

    name: str
    ops: tuple[str, ...]
    description: str
    blackbox: Callable[[], BlackBoxView] | None = None
    oneshot: OneShotView | None = None
    # How a black-box arch is read back from its ``to_string()`` (a study's database): raises ArchError.
    parse: Callable[[str], Any] | None = None

    @property
    def kinds(self) -> tuple[ViewKind, ...]:
        """The views this space has."""
        return tuple(k for k in ("blackbox", "oneshot") if getattr(self, k) is not None)  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ops": list(self.ops), "description": self.description, "kinds": list(self.kinds)}


# DARTS' refinements (cosine lr to 0.001, clipping at 5, a class-balanced seeded split, validation batches in
# passes, full batches only), shared by the darts and nb201 spaces.
_DARTS_PROTOCOL = dict(lr_schedule="cosine", grad_clip=5.0, seed=0, split="balanced", valid_sampling="stream")

SPACES: MappingProxyType[str, SearchSpace] = MappingProxyType(
    {
        s.name: s
        for s in (
            SearchSpace(
                "darts-mnist",
                MNIST_OPS,
                "the DARTS-MNIST sheet's network: 1 input, 2 nodes, no stem, cells reduce-normal-reduce 16-16-32 wide",
                # The sheet's protocol: constant lr, no clipping, seed 2, first/second half of the training set,
                # a fresh random validation batch per step, the last partial training batch kept.
                oneshot=OneShotView(
                    8,
                    3,
                    MappingProxyType(
                        dict(
                            lr_schedule="constant",
                            grad_clip=0.0,
                            seed=2,
                            stem_multiplier=0,
                            split="halves",
                            valid_sampling="random",
                            drop_last=False,
                        )
                    ),
                ),
            ),
            SearchSpace(
                "darts",
                DARTS_OPS,
                "original DARTS CNN space: 2 inputs, 4 nodes, 8 cells",
                oneshot=OneShotView(16, 8, MappingProxyType(dict(_DARTS_PROTOCOL, stem_multiplier=3, drop_last=True))),
            ),
            SearchSpace(
                "nb201",
                NB201_OPS,
                "NAS-Bench-201 cell (6 edges, 5 ops) in NB201's macro; N cells per stage",
                blackbox=NB201SpaceView,
                parse=NB201Arch.parse,
                oneshot=OneShotView(8, 1, MappingProxyType(dict(_DARTS_PROTOCOL, stem_multiplier=1, drop_last=True))),
            ),
            SearchSpace(
                "nats-sss",
                tuple(str(c) for c in SSS_CHANNELS),  # the values each of the 5 layers chooses from (channels)
                "NATS-Bench size space: NB201's best cell, 5 channel counts of 8..64 (32,768 archs)",
                blackbox=SSSSpaceView,
                parse=SSSArch.parse,
            ),
        )
    }
)
"""Every registered search space by name, in registration order (read-only)."""

# How an unknown name is reported for each kind: black-box spaces are what `nasforge search` searches.
_LABELS = {None: "search", "blackbox": "search", "oneshot": "one-shot"}


def list_spaces(kind: ViewKind | None = None) -> list[str]:
    """The registered space names (registration order); with ``kind``, only those having that view."""
    return [n for n, s in SPACES.items() if kind is None or kind in s.kinds]


def get_space(name: str, kind: ViewKind | None = None) -> SearchSpace:
    """The space ``name``; with ``kind``, it must have that view.

    Raises :class:`ConfigError` naming the spaces that qualify, for an unknown name or a missing view.
    """
    if kind is not None and kind not in ("blackbox", "oneshot"):
        raise ConfigError(f"unknown view kind {kind!r}; kinds: blackbox, oneshot")
    space = SPACES.get(name)
    if space is not None and (kind is None or kind in space.kinds):
        return space  # every optimizer asks for its view: the error text below is built only when needed
    label, valid = _LABELS[kind], ", ".join(list_spaces(kind))
    if space is None:
        raise ConfigError(f"unknown {label} space {name!r}; valid spaces: {valid}")
    raise ConfigError(f"space {name!r} has no {kind} view (it is {' and '.join(space.kinds)} only); {label} "
                      f"spaces: {valid}")  # fmt: skip


def blackbox_view(name: str) -> BlackBoxView:
    """A fresh optimizer view of space ``name`` (:class:`ConfigError` if it has none)."""
    return get_space(name, "blackbox").blackbox()  # type: ignore[misc]


def arch_parser(name: str) -> Callable[[str], Any]:
    """How space ``name``'s archs are read back from their strings (:class:`ConfigError` if it has no black-box
    view); the parser raises :class:`~nasforge.errors.ArchError` for a string that is not one of its archs."""
    return get_space(name, "blackbox").parse  # type: ignore[return-value]


def oneshot_view(name: str) -> OneShotView:
    """The one-shot defaults of space ``name`` (:class:`ConfigError` if it has none)."""
    return get_space(name, "oneshot").oneshot  # type: ignore[return-value]
