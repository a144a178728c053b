"""The NATS-Bench size search space ("sss") as plain values (no torch).

NATS-Bench's second space keeps one cell fixed (:data:`GENOTYPE`, the best NB201 cell) and searches the
number of channels of the network's 5 layers (stem+cell, reduction, cell, reduction, cell), each one of
:data:`CHANNELS` = 8, 16, ..., 64: 8**5 = 32,768 networks. :class:`SSSArch` is the arch value; its string
is NATS's ``64:64:64:64:64`` and its official index is the 5 digits ``channels / 8 - 1`` read as a
base-8 number, most significant first (checked against NATS's ``meta_archs`` for all 32,768 by the
tests). :class:`SSSSpaceView` is the view the black-box optimizers search (numpy only).

>>> arch = SSSArch.parse("8:8:40:32:40")
>>> arch.index, SSSArch.from_index(32767).to_string()
(284, '64:64:64:64:64')
>>> len(arch.neighbors())
35
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nasforge.errors import ArchError

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

SPACE_NAME = "nats-sss"
CHANNELS: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
"""The channel choices of every layer, in NATS's order (the digit of a choice is its position)."""
NUM_LAYERS = 5
NUM_ARCHS = len(CHANNELS) ** NUM_LAYERS  # 32,768
GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
"""The fixed cell of every sss network, as NATS's files record it (``arch_config['genotype']``)."""
EXAMPLE_STRING = "64:64:64:64:64"

_DIGIT = {c: d for d, c in enumerate(CHANNELS)}
_BASE = len(CHANNELS)


def layer_name(layer: int) -> str:
    """The config-space name of a layer, e.g. ``channels_0``."""
    return f"channels_{layer}"


def _choices() -> str:
    return ", ".join(map(str, CHANNELS))


@dataclass(frozen=True, order=True)
class SSSArch:
    """One sss network: the channel count of each of the 5 layers. Frozen, hashable, ordered like the index."""

    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        channels = tuple(self.channels)
        if len(channels) != NUM_LAYERS:
            raise ArchError(
                f"an sss arch has {NUM_LAYERS} layers, got {len(channels)} channel counts {channels}; "
                f"example: {EXAMPLE_STRING}"
            )
        for c in channels:
            # bool is an int; a float 8.0 is not a channel count
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or int(c) not in _DIGIT:
                raise ArchError(f"channel count {c!r} is not an sss choice; each layer has one of {_choices()}")
        object.__setattr__(self, "channels", tuple(int(c) for c in channels))

    # --- NATS's string ---------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> SSSArch:
        """Parse NATS's ``C:C:C:C:C`` (5 channel counts joined by ``:``)."""
        parts = text.strip().split(":")
        if len(parts) != NUM_LAYERS or not all(p.strip().isdigit() for p in parts):
            raise ArchError(
                f"malformed sss arch string {text!r}: expected {NUM_LAYERS} channel counts joined by ':', "
                f"each one of {_choices()} (e.g. {EXAMPLE_STRING})"
            )
        return cls(tuple(int(p) for p in parts))

    def to_string(self) -> str:
        return ":".join(map(str, self.channels))

    __str__ = to_string

    @classmethod
    def from_any(cls, text: str) -> SSSArch:
        """An arch from NATS's string or an official index (``"284"``)."""
        text = text.strip()
        if ":" not in text and text.lstrip("-").isdigit():
            return cls.from_index(int(text))
        return cls.parse(text)

    # --- the official index ------------------------------------------------------------------------------------

    @property
    def digits(self) -> tuple[int, ...]:
        """The position of each layer's channel count in :data:`CHANNELS` (``channels / 8 - 1``)."""
        return tuple(_DIGIT[c] for c in self.channels)

    @property
    def index(self) -> int:
        """The official NATS-Bench sss index: :attr:`digits` as a base-8 number, first layer most significant."""
        index = 0
        for d in self.digits:
            index = index * _BASE + d
        return index

    @classmethod
    def from_index(cls, index: int) -> SSSArch:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < NUM_ARCHS:
            raise ArchError(f"sss index {index!r} out of range: valid indices are 0..{NUM_ARCHS - 1}")
        return cls(tuple(CHANNELS[d] for d in _index_digits(int(index))))

    # --- other views -------------------------------------------------------------------------------------------

    def to_config(self) -> dict[str, int]:
        """The configuration (layer name → channels) in :func:`config_space`."""
        return {layer_name(k): c for k, c in enumerate(self.channels)}

    @classmethod
    def from_config(cls, config: Mapping[str, int]) -> SSSArch:
        """The arch of a configuration of :func:`config_space` (a ConfigSpace ``Configuration`` or a dict)."""
        names = [layer_name(k) for k in range(NUM_LAYERS)]
        missing = [n for n in names if n not in config]
        if missing:
            raise ArchError(f"configuration lacks {', '.join(missing)}; it needs one channel count per layer: "
                            f"{', '.join(names)}")  # fmt: skip
        return cls(tuple(_as_int(config[n]) for n in names))

    def neighbors(self) -> list[SSSArch]:
        """The 35 archs that differ from this one in exactly one layer's channel count."""
        return [
            SSSArch(self.channels[:k] + (c,) + self.channels[k + 1 :])
            for k in range(NUM_LAYERS)
            for c in CHANNELS
            if c != self.channels[k]
        ]

    def net_config(self, num_classes: int) -> dict[str, object]:
        """NATS's ``get_net_config`` answer for this arch (what xautodl's ``get_cell_based_tiny_net`` builds from)."""
        return {"name": "infer.shape.tiny", "channels": str(self), "genotype": GENOTYPE, "num_classes": num_classes}

    def to_dict(self) -> dict[str, object]:
        return {"arch": self.to_string(), "index": self.index, "channels": list(self.channels)}


def _as_int(value: object) -> int:
    # ConfigSpace hands back numpy ints or strings for ordinal/categorical choices.
    try:
        return int(str(value)) if not isinstance(value, (int, np.integer)) else int(value)
    except ValueError:
        raise ArchError(f"channel count {value!r} is not an sss choice; each layer has one of {_choices()}") from None


def _index_digits(index: int) -> tuple[int, ...]:
    digits = []
    for _ in range(NUM_LAYERS):
        index, d = divmod(index, _BASE)
        digits.append(d)
    return tuple(reversed(digits))


# --- the whole space ----------------------------------------------------------------------------------------------


def all_archs() -> Iterator[SSSArch]:
    """All 32,768 archs in official-index order."""
    for index in range(NUM_ARCHS):
        yield SSSArch.from_index(index)


def digit_table() -> np.ndarray:
    """int64 ``(32768, 5)``: every arch's :attr:`SSSArch.digits`, row = official index (read-only)."""
    digits = (np.arange(NUM_ARCHS)[:, None] // _BASE ** np.arange(NUM_LAYERS - 1, -1, -1)) % _BASE
    digits.setflags(write=False)
    return digits


def channel_table() -> np.ndarray:
    """int64 ``(32768, 5)``: every arch's channels, row = official index (read-only)."""
    table = np.asarray(CHANNELS, dtype=np.int64)[digit_table()]
    table.setflags(write=False)
    return table


def sample(rng: np.random.Generator) -> SSSArch:
    """A uniformly random arch."""
    return SSSArch.from_index(int(rng.integers(NUM_ARCHS)))


def config_space(seed: int | None = None) -> ConfigurationSpace:
    """A ConfigSpace space with one ordinal hyperparameter per layer (``channels_0`` ... ``channels_4``).

    Ordinal, since channel counts are ordered (a model-based optimizer may use the order); every layer's
    default is 64, NATS's largest network.
    """
    from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter

    space = {
        layer_name(k): OrdinalHyperparameter(layer_name(k), list(CHANNELS), default_value=CHANNELS[-1])
        for k in range(NUM_LAYERS)
    }
    return ConfigurationSpace(name=SPACE_NAME, seed=seed, space=space)


# --- the view the black-box optimizers search ----------------------------------------------------------------------


class SSSSpaceView:
    """sss as five categorical variables with eight values each (``encode`` = channel digits).

    Same protocol as :class:`nasforge.optimizers.NB201SpaceView`: ``name``, ``size``, ``choices``,
    ``sample``, ``encode``/``decode``, ``mutate`` (one layer to a different count) and ``neighbors``.
    """

    name = SPACE_NAME
    size = NUM_ARCHS
    choices: tuple[int, ...] = (len(CHANNELS),) * NUM_LAYERS

    def sample(self, rng: np.random.Generator) -> SSSArch:
        return sample(rng)

    def encode(self, arch: SSSArch) -> tuple[int, ...]:
        return arch.digits

    def decode(self, codes: Sequence[int]) -> SSSArch:
        return SSSArch(tuple(CHANNELS[int(c)] for c in codes))

    def mutate(self, arch: SSSArch, rng: np.random.Generator) -> SSSArch:
        """Change one uniformly chosen layer to a uniformly chosen *different* channel count."""
        layer = int(rng.integers(NUM_LAYERS))
        current = arch.digits[layer]
        new = int(rng.integers(len(CHANNELS) - 1))
        new += new >= current
        return SSSArch(arch.channels[:layer] + (CHANNELS[new],) + arch.channels[layer + 1 :])

    def neighbors(self, arch: SSSArch) -> list[SSSArch]:
        return arch.neighbors()
