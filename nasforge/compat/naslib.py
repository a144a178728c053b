"""NASLib's NB201 encodings and its zero-cost JSON, as nasforge values.

NASLib numbers an NB201 cell differently from the arch string on both axes (see the data README,
``nb201/README.md``, "Architecture encoding"):

* edge order: NASLib's ``op_indices`` list the edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) with nodes from 1,
  i.e. 0→1, 0→2, 0→3, 1→2, 1→3, 2→3; the arch string lists 0→1, 0→2, 1→2, 0→3, 1→3, 2→3.
* op numbering: NASLib's ``0=skip_connect, 1=none, 2=nor_conv_3x3, 3=nor_conv_1x1, 4=avg_pool_3x3``;
  NB201's op code is ``0=none, 1=skip_connect, 2=nor_conv_1x1, 3=nor_conv_3x3, 4=avg_pool_3x3``.

>>> arch = NB201Arch.from_op_code("333133")   # the best CIFAR-10 cell
>>> to_naslib(arch)
(2, 2, 0, 2, 2, 2)
>>> from_naslib((2, 2, 0, 2, 2, 2)) == arch
True
>>> convert_op_indices_to_str((2, 2, 0, 2, 2, 2)) == arch.to_string()   # NASLib's own function names
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from nasforge._io import is_int, read_capped
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import EDGES, NB201Arch

NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
"""NASLib's op names by op index (its ``OP_NAMES``)."""

NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
"""The edges (from, to) in NASLib's ``op_indices`` order, with nodes numbered from 0 as in :data:`EDGES`."""

# position in NASLib's tuple -> position in NB201Arch.ops
_TO_ARCH = tuple(EDGES.index(edge) for edge in NASLIB_EDGES)

# NASLib's zc_nasbench201.json holds about 725 archs x 3 datasets in 2 MB; the full file is about 20 MB.
ZC_FILE_LIMIT = 1 << 28
ZC_ACCURACY = "val_accuracy"
"""The key under which :func:`read_naslib_zc` returns NASLib's own accuracy (not a proxy)."""


def from_naslib(op_indices: Sequence[int]) -> NB201Arch:
    """The arch of NASLib's ``op_indices`` (6 ints 0-4 in NASLib's edge order and op numbering).

    Raises :class:`ArchError` for anything else (wrong length, an index outside 0-4, a non-integer).
    """
    indices = tuple(op_indices)
    if len(indices) != len(NASLIB_EDGES) or not all(is_int(i) and 0 <= int(i) < len(NASLIB_OPS) for i in indices):
        raise ArchError(
            f"invalid NASLib op_indices {indices!r}: expected 6 integers 0-4 "
            f"({', '.join(f'{i}={op}' for i, op in enumerate(NASLIB_OPS))})"
        )
    ops = [""] * len(EDGES)
    for position, index in enumerate(indices):
        ops[_TO_ARCH[position]] = NASLIB_OPS[int(index)]
    return NB201Arch(tuple(ops))


def to_naslib(arch: NB201Arch) -> tuple[int, ...]:
    """NASLib's ``op_indices`` tuple of ``arch`` (the inverse of :func:`from_naslib`)."""
    return tuple(NASLIB_OPS.index(arch.ops[_TO_ARCH[position]]) for position in range(len(NASLIB_EDGES)))


def convert_op_indices_to_str(op_indices: Sequence[int]) -> str:
    """NASLib's function of this name (``naslib.search_spaces.nasbench201.conversions``): the NB201 arch string
    of an ``op_indices`` tuple, so a NASLib script switches by its import alone."""
    return from_naslib(op_indices).to_string()


def convert_str_to_op_indices(str_encoding: str) -> tuple[int, ...]:
    """NASLib's function of this name: the ``op_indices`` tuple of an NB201 arch string."""
    return to_naslib(NB201Arch.parse(str_encoding))


def parse_naslib_key(text: str) -> NB201Arch:
    """The arch of a key of NASLib's zero-cost JSON, e.g. ``"(2, 2, 0, 2, 2, 2)"``."""
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ArchError(f"NASLib arch key {text!r} is not a tuple like '(2, 2, 0, 2, 2, 2)'")
    parts = [p.strip() for p in body[1:-1].split(",")]
    if not all(p.isdigit() for p in parts):
        raise ArchError(f"NASLib arch key {text!r} is not a tuple of integers like '(2, 2, 0, 2, 2, 2)'")
    return from_naslib(tuple(int(p) for p in parts))


def read_naslib_zc(path: str | os.PathLike) -> dict[str, dict[NB201Arch, dict[str, float]]]:
    """NASLib's zero-cost JSON (``zc_nasbench201.json``, optionally gzipped) as
    ``{dataset: {arch: {proxy: score}}}``.

    Datasets keep NASLib's names (``cifar10``, ``cifar100``, ``ImageNet16-120``). Proxies are every entry
    with a ``score`` (``synflow``, ``nwot``, ``jacov``, ..., and NASLib's own ``flops``/``params`` counts,
    in millions; its flops counter differs from NB201's); the computing times are left out. NASLib's accuracy
    for the arch is under :data:`ZC_ACCURACY` (``'val_accuracy'``, %, one number from NASLib's training
    data; it is not the NB201 seed mean, so compare ranks, not values). Scores are kept as NASLib recorded
    them, NaN and infinities included (``nwot`` is ``-inf`` for cells whose output ignores the input).
    Raises :class:`BenchmarkError` naming the file and the entry for a file not in this format, including
    a key that is not an NB201 arch or disagrees with the entry's ``arch`` field.
    """
    path = Path(path)
    raw = read_capped(path, ZC_FILE_LIMIT, what="NASLib zero-cost JSON", error=BenchmarkError)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BenchmarkError(f"{path}: not a JSON file ({exc}); expected NASLib's zc_nasbench201.json") from None
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) for v in data.values()):
        raise BenchmarkError(f"{path}: expected {{dataset: {{'(op, ...)': {{proxy: {{'score': ...}}}}}}}} (NASLib)")
    out: dict[str, dict[NB201Arch, dict[str, float]]] = {}
    for dataset, entries in data.items():
        table: dict[NB201Arch, dict[str, float]] = {}
        for key, entry in entries.items():
            where = f"{path}: {dataset} {key}"
            try:
                arch = parse_naslib_key(key)
            except ArchError as exc:
                raise BenchmarkError(f"{where}: {exc}") from None
            if not isinstance(entry, dict):
                raise BenchmarkError(f"{where}: the entry has type {type(entry).__name__}, expected dict")
            if "arch" in entry and entry["arch"] != key:
                raise BenchmarkError(f"{where}: the entry's 'arch' field {entry['arch']!r} differs from its key")
            table[arch] = _scores(entry, where)
        out[dataset] = table
    return out


def _scores(entry: dict, where: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, value in entry.items():
        if name in ("arch", "idx"):
            continue
        if isinstance(value, dict):
            if "score" not in value:
                raise BenchmarkError(f"{where}: proxy {name!r} has no 'score'")
            value = value["score"]
        elif name != ZC_ACCURACY:
            raise BenchmarkError(f"{where}: {name!r} is {value!r:.40}, expected {{'score': number, 'time': s}}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BenchmarkError(f"{where}: {name!r} score {value!r:.40} is not a number")
        scores[name] = float(value)
    if ZC_ACCURACY not in scores:
        raise BenchmarkError(f"{where}: the entry lacks {ZC_ACCURACY!r}")
    return scores
