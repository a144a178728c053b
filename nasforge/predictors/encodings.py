"""Feature vectors of NB201 archs for performance predictors (numpy only, no torch).

* ``onehot``: the 6 edges × 5 ops one-hot of the cell (30 features; NASLib's adjacency one-hot for NB201).
* ``path``: the BANANAS path encoding (White et al., AAAI 2021): one feature per op sequence along each of the
  cell's 4 input→output paths (0→3, 0→1→3, 0→2→3, 0→1→2→3), 5 + 25 + 125 = 155 features; a path through a
  ``none`` edge carries nothing and sets no feature.
* ``zc``: the arch's zero-cost proxy scores from a :class:`ZCTable` (one feature per proxy).
* ``onehot+zc``, ``path+zc``: concatenations.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nasforge.errors import ConfigError, ProxyError
from nasforge.spaces.nb201 import EDGES, OPS, NB201Arch

ENCODINGS = ("onehot", "path", "zc", "onehot+zc", "path+zc")
_PATHS = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))
_EDGE = {edge: k for k, edge in enumerate(EDGES)}
_PATH_OFFSET = {1: 0, 2: len(OPS), 3: len(OPS) + len(OPS) ** 2}
PATH_FEATURES = sum(len(OPS) ** k for k in (1, 2, 3))


def _arch(a: NB201Arch | int | str) -> NB201Arch:
    if isinstance(a, NB201Arch):
        return a
    if isinstance(a, (int, np.integer)):
        return NB201Arch.from_index(int(a))
    return NB201Arch.from_any(a)


def onehot(archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
    """(n, 30) float: edge k's op j at column 5k + j."""
    codes = np.array([_arch(a).op_indices for a in archs], dtype=np.int64).reshape(len(archs), len(EDGES))
    out = np.zeros((len(archs), len(EDGES) * len(OPS)))
    out[np.arange(len(archs))[:, None], np.arange(len(EDGES)) * len(OPS) + codes] = 1.0
    return out


def path(archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
    """(n, 155) float BANANAS path encoding (see the module docstring)."""
    none = OPS.index("none")
    out = np.zeros((len(archs), PATH_FEATURES))
    for row, a in enumerate(archs):
        ops = _arch(a).op_indices
        for nodes in _PATHS:
            seq = [ops[_EDGE[(i, j)]] for i, j in itertools.pairwise(nodes)]
            if none in seq:
                continue
            col = _PATH_OFFSET[len(seq)] + int(np.ravel_multi_index(seq, (len(OPS),) * len(seq)))
            out[row, col] = 1.0
    return out


@dataclass(frozen=True, eq=False)
class ZCTable:
    """Zero-cost scores by official arch index: ``scores[proxy]`` is a float array over all 15,625 archs (NaN where
    the arch was not scored)."""

    scores: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        if not self.scores:
            raise ConfigError("a ZC table needs at least one proxy")

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(self.scores)

    def covered(self) -> np.ndarray:
        """Indices of the archs that have every proxy's score."""
        have = np.ones(len(next(iter(self.scores.values()))), bool)
        for values in self.scores.values():
            have &= np.isfinite(values)
        return np.flatnonzero(have)

    def features(self, archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
        idx = np.array([_arch(a).index for a in archs], dtype=np.int64)
        out = np.stack([np.asarray(v)[idx] for v in self.scores.values()], axis=1)
        if not np.isfinite(out).all():
            row = int(np.argmax(~np.isfinite(out).all(axis=1)))
            raise ProxyError(f"no finite zero-cost scores for arch {int(idx[row])}; score it first (nasforge zc score)")
        return out


def check_encoding(encoding: str, zc: ZCTable | None = None) -> None:
    """Raise :class:`ConfigError` for an unknown encoding, or a ``zc`` one without a ZC table."""
    if encoding not in ENCODINGS:
        raise ConfigError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    if "zc" in encoding.split("+") and zc is None:
        raise ConfigError(f"encoding {encoding!r} needs zero-cost scores (--zc naslib or --zc STORE)")


def encode(archs: Sequence[NB201Arch | int | str], encoding: str, zc: ZCTable | None = None) -> np.ndarray:
    """Features of ``archs`` under ``encoding`` (one of :data:`ENCODINGS`)."""
    check_encoding(encoding, zc)
    blocks = []
    for part in encoding.split("+"):
        if part == "zc":
            blocks.append(zc.features(archs))
        else:
            blocks.append(onehot(archs) if part == "onehot" else path(archs))
    return np.concatenate(blocks, axis=1)
