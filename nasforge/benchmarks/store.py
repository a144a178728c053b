"""The benchmark store: a directory of ``.npy`` arrays plus a JSON manifest, opened memory-mapped.

Layout (schema version 3)::

    manifest.json                      format, schema_version, space, num_archs, provenance, datasets, files
    columns/<dataset>/<metric>.npy     value (n_covered,); one metric's final values, NaN = not recorded
    columns/<dataset>/<metric>.archs.npy int32 (n_covered,); the archs that have it (absent: all archs)
    seeds/<dataset>/<metric>.npy       value (n_covered, n_slots); per-seed final values, ascending seed order
    seeds/<dataset>/<metric>.ids.npy   int16/int32 (n_covered, n_slots); the real seed id of each slot, 0 = unknown
    seeds/<dataset>/<metric>.archs.npy int32 (n_covered,); the archs that have per-seed values (absent: all archs)
    curves/<dataset>/<metric>.archs.npy int32 (n_covered,); the archs that have a curve, ascending = their rows
    curves/<dataset>/<metric>.npy      float (n_covered, 1 + n_slots, n_epochs); slot 0 = seed mean
    curves/<dataset>/<metric>.ids.npy  int16/int32 (n_covered, n_slots); seed id per slot, 0 = unknown

"float" is float32 where every value of the array is exactly a float32 (so the source was float32 or coarser)
and float64 otherwise. A "value" array is a float, or a decimal: integers ``q`` (int8/16/32, the type's minimum
= NaN) that the reader turns into ``q / 10**decimals`` (the manifest entry's ``decimals``), which is the very
float64 that parsing the source's decimal text gives (``float("94.373333")``), plus at most a few
``exceptions`` (``[flat position, float64]`` pairs in the manifest) for values that have no such short decimal
(the NATS files' full-precision means among a CSV's 6-decimal values). The builder only picks an encoding when
decoding it gives back every value bit for bit, and the reader widens to float64, so every query answers
exactly the value that was imported. Sparse coverage is stored sparsely (an ``archs`` index plus the covered
rows). Files with identical content and role are written once and named by every entry that uses them (the 27
HELP latency columns of the three CIFAR datasets; the archs index of every curve of the same archs).

Schema version 2 stores (one ``scalars/<dataset>.npy`` table ``(n_metrics, n_covered)`` per dataset plus a
``scalars`` entry ``{file, metrics, archs}``, no decimals, no shared files) and version 1 stores (dense
float64 over all archs; curves with a ``rows`` file: the row of each arch, -1 = no curve) still open.

Archs are rows by official NB201 index. Opening parses the manifest and checks that every file exists
with its recorded size (cheap, so a store opens in about a millisecond); each file's sha256 is checked
the first time the file is used (``checksums="lazy"``), at open (``"eager"``) or never (``"off"``).
Sparse scalar and seed tables are widened to dense float64 arrays in memory the first time they are used
(at most a few MB per dataset), so single and vector queries index a plain array as before.
The metric names, datasets and seed semantics are defined in :mod:`nasforge.benchmarks.metrics`.
Stores are never modified in place: :class:`~nasforge.benchmarks.builder.StoreBuilder` writes a new
directory and renames it over the old one, so a process that has a store open keeps reading consistent
(unlinked) files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import stat
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import EDGES, OPS, NB201Arch

FORMAT = "nasforge-benchmark-store"
SCHEMA_VERSION = 3
# version 1: dense float64 arrays, curves indexed by a rows file; version 2: one float scalar table per dataset.
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"

ArchLike = NB201Arch | str | int
Checksums = Literal["lazy", "eager", "off"]


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return _sha256_stream(f)


def _sha256_stream(f: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


_UNPACK = {"<f8": struct.Struct("<d").unpack, "<f4": struct.Struct("<f").unpack}
FLOATS = ("<f8", "<f4")
DECIMALS = ("|i1", "<i2", "<i4")  # the integer types of a decimal-encoded array (see the module docstring)
IDS = ("<i2", "<i4")


def decode(raw: np.ndarray, decimals: int | None = None, exceptions: Sequence[Sequence[float]] = ()) -> np.ndarray:
    """A stored value array as float64 (a new array): floats widened; decimals ``q / 10**decimals`` with the
    type's minimum as NaN; then the ``exceptions`` (``[flat position, value]``) put in place.

    The builder encodes only when this function gives back every value bit for bit, so it is the one definition
    of the encoding: ``q`` and ``10**decimals`` are exact float64 numbers and IEEE division rounds correctly, so
    the result is the float64 nearest to the decimal ``q * 10**-decimals``, which is what parsing its text gives.
    """
    if raw.dtype.kind == "f":
        out = raw.astype(np.float64)
    else:
        out = raw.astype(np.float64) / 10.0 ** int(decimals or 0)
        out[raw == np.iinfo(raw.dtype).min] = np.nan
    if len(exceptions):
        flat = out.reshape(-1)
        for position, value in exceptions:
            flat[int(position)] = value
    return out


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)


@functools.cache
def _ops_to_index() -> dict[tuple[str, ...], int]:
    """NB201Arch.ops → official index for all 15,625 cells (a 5 ms table that makes arch queries a dict lookup)."""
    from nasforge.spaces.nb201 import code_to_index_table  # the official permutation, shipped with the space

    # itertools.product enumerates op tuples in base-5 code order (first edge most significant), as NB201Arch.code.
    return dict(zip(itertools.product(OPS, repeat=len(EDGES)), code_to_index_table().tolist()))


def _metric_list(metrics: Iterable[str]) -> str:
    """Metric names for an error line, with the many ``latency_<device>`` names folded into one entry."""
    metrics = list(metrics)
    devices = [m for m in metrics if m.startswith("latency_") and m != "latency_12ep"]
    rest = [m for m in metrics if m not in devices]
    return ", ".join(rest + ([f"latency_<device> ({len(devices)} devices, e.g. {devices[0]})"] if devices else []))


def _names(items: Iterable[Any], limit: int = 12) -> str:
    items = list(items)
    text = ", ".join(str(x) for x in items[:limit])
    return text + (f", ... ({len(items)} in all)" if len(items) > limit else "") if items else "none"


class BenchmarkStore:
    """A read-only, memory-mapped tabular benchmark. Open with :func:`open_store`.

    >>> store = open_store("nb201-store")                                      # doctest: +SKIP
    >>> store.query(6111, "cifar10", "test_acc")                                # doctest: +SKIP
    94.37333333333333
    >>> store.query_many(np.arange(15625), "cifar10-valid", "valid_acc").max()  # doctest: +SKIP
    91.60666665039064
    """

    def __init__(self, path: str | os.PathLike, *, checksums: Checksums = "lazy") -> None:
        if checksums not in ("lazy", "eager", "off"):
            raise ValueError(f"checksums must be 'lazy', 'eager' or 'off', not {checksums!r}")
        self.path = Path(path)
        self._checksums = checksums
        # Curve files kept open for point reads: fd, data offset, item size, unpacker.
        self._fds: dict[str, tuple[int, int, int, Any]] = {}
        self._hold = _hold_directory(self.path)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        self._manifest_id = _file_id(self.path / MANIFEST)
        self.manifest = _read_manifest(self.path)
        self.num_archs: int = self.manifest["num_archs"]
        self._datasets: dict[str, dict[str, Any]] = self.manifest["datasets"]
        self._files: dict[str, dict[str, Any]] = self.manifest["files"]
        # Per-instance caches (never module level): opened arrays, resolved columns, arch -> index.
        self._version: int = self.manifest["schema_version"]
        self._arrays: dict[str, np.ndarray] = {}
        self._dense: dict[Any, np.ndarray] = {}  # (rel, archs, encoding) -> the array widened over all archs
        self._seed_tables: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._columns: dict[tuple[str, str], np.ndarray] = {}
        self._arch_index: dict[Any, int] = {}
        self._checked: set[Any] = set()
        self._layouts = _layouts(self.manifest)
        # lstat, and each folder checked once, instead of resolving every path: a store has hundreds of files in
        # a handful of folders, and opening must stay about a millisecond per hundred files.
        # Plain string paths: a pathlib join per file costs more than the lstat itself.
        root, plain = os.path.join(self.path, ""), {}
        linked_folders = {folder for folder in {rel.rpartition("/")[0] for rel in self._files} if folder
                          and _links_out(root, folder, plain)}  # fmt: skip
        for rel, entry in self._files.items():
            try:
                info = os.lstat(root + rel)
                size, regular = info.st_size, stat.S_ISREG(info.st_mode)
            except OSError:
                raise BenchmarkError(f"store {self.path} is incomplete: {rel} is missing; re-import it") from None
            if not regular or rel.rpartition("/")[0] in linked_folders:
                raise BenchmarkError(
                    f"store {self.path}: {rel} is not a plain file inside the store (a link out of it, or not a "
                    "file); the store is corrupt, re-import it"
                )
            if size != entry["bytes"]:
                raise BenchmarkError(
                    f"store {self.path}: {rel} has {size} bytes, the manifest says {entry['bytes']}; the store is "
                    "corrupt, re-import it"
                )
        if self._checksums == "eager":
            self.verify()

    def __repr__(self) -> str:
        return f"BenchmarkStore({str(self.path)!r}, datasets={list(self.datasets)})"

    # --- what the store holds -------------------------------------------------------------------------------

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(self._datasets)

    def metrics(self, dataset: str) -> tuple[str, ...]:
        """Every metric name ``dataset`` has (final values, per-seed values or curves), sorted."""
        d = self._dataset(dataset)
        return tuple(sorted(set(self._finals(d)) | set(d["seeds"]) | set(d["curves"])))

    @property
    def provenance(self) -> list[dict[str, Any]]:
        return list(self.manifest["provenance"])

    def coverage(self, dataset: str, metric: str) -> dict[str, Any]:
        """How many archs have a final value, per-seed values and a curve for ``metric``."""
        d = self._dataset(dataset)
        self._check_metric(dataset, metric)
        out: dict[str, Any] = {"final": 0, "seeds": 0, "seed_slots": 0, "curves": 0, "epochs": 0}
        if metric in self._finals(d) or metric in d["curves"]:
            out["final"] = int(np.count_nonzero(~np.isnan(self._column(dataset, metric))))
        if metric in d["seeds"]:
            values = self._seed_table(dataset, metric)[0]
            out["seeds"] = int(np.count_nonzero((~np.isnan(values)).any(axis=1)))
            out["seed_slots"] = int(values.shape[1])
        if metric in d["curves"]:
            values = self._curve_table(dataset, metric)[1]
            out["curves"], out["epochs"] = int(values.shape[0]), int(values.shape[2])
        return out

    def curve_archs(self, dataset: str, metric: str) -> np.ndarray:
        """The indices of the archs that have a ``metric`` curve on ``dataset``."""
        rows = self._curve_table(dataset, metric)[0]
        return np.flatnonzero(rows >= 0)

    def info(self) -> dict[str, Any]:
        """Everything ``nasforge bench info`` prints: datasets, metrics with coverage, provenance."""
        return {
            "path": str(self.path),
            "schema_version": self.manifest["schema_version"],
            "space": self.manifest["space"],
            "num_archs": self.num_archs,
            "datasets": {ds: {m: self.coverage(ds, m) for m in self.metrics(ds)} for ds in self.datasets},
            "provenance": self.provenance,
        }

    # --- queries ---------------------------------------------------------------------------------------------

    def query(
        self, arch: ArchLike, dataset: str, metric: str, *, epoch: int | None = None, seed: int | None = None
    ) -> float:
        """One value: the final seed mean, or one seed's value (``seed=``), or a curve point (``epoch=``).

        The final seed mean is the recorded final value or, where the arch has only a curve, its last entry.

        ``arch`` is an :class:`NB201Arch`, an arch string or an official index. Anything the store does
        not hold raises :class:`BenchmarkError` (or :class:`ArchError`) naming what exists.
        """
        index = self._index(arch)
        if epoch is None and seed is None:
            column = self._columns.get((dataset, metric))
            if column is None:
                column = self._column(dataset, metric)
            value = column[index]
            if value != value:  # NaN: not recorded for this arch
                raise self._missing_final(index, dataset, metric)
            return float(value)
        if epoch is None:
            return self._seed_value(index, dataset, metric, seed)
        return self._curve_value(index, dataset, metric, epoch, seed)

    def query_many(
        self,
        archs: Sequence[ArchLike] | np.ndarray,
        dataset: str,
        metric: str,
        *,
        epoch: int | None = None,
        seed: int | None = None,
        missing: Literal["raise", "nan"] = "raise",
    ) -> np.ndarray:
        """Vectorized :meth:`query` over many archs (an integer ndarray of indices is fastest).

        With ``missing="nan"`` archs without a value give NaN instead of raising.
        """
        indices = self._indices(archs)
        if epoch is None and seed is None:
            values = self._column(dataset, metric)[indices]
        elif epoch is None:
            values = self._seed_values(indices, dataset, metric, seed, missing)
        else:
            values = self._curve_values(indices, dataset, metric, epoch, seed, missing)
        if missing == "raise":
            nan = np.isnan(values)
            if nan.any():
                first = int(indices[int(np.argmax(nan))])
                if epoch is None and seed is None:
                    raise self._missing_final(first, dataset, metric, count=int(nan.sum()))
                self.query(first, dataset, metric, epoch=epoch, seed=seed)  # raises the precise error
        return np.array(values, dtype=np.float64)

    def train_cost(self, arch: ArchLike, dataset: str, epochs: int, schedule: str = "200") -> float:
        """Simulated training seconds: NB201's recorded per-epoch ``train_time`` × ``epochs``.

        NB201 records one per-epoch time estimate per arch and dataset, identical for its 200- and
        12-epoch schedules (the NATS files repeat it for both), so ``schedule`` only bounds ``epochs``.
        """
        length = {"200": 200, "12": 12}.get(str(schedule))
        if length is None:
            raise BenchmarkError(f"unknown schedule {schedule!r}; NB201 schedules: '200', '12'")
        if not (isinstance(epochs, (int, np.integer)) and 0 <= epochs <= length):
            raise BenchmarkError(f"epochs={epochs!r} is outside 0..{length} for the {length}-epoch schedule")
        return float(self.query(arch, dataset, "train_time")) * int(epochs)

    def curve(self, arch: ArchLike, dataset: str, metric: str, *, seed: int | None = None) -> np.ndarray:
        """The per-epoch values (seed mean, or one seed) of ``metric``; an error when the arch has no curve."""
        index = self._index(arch)
        rows, values, ids = self._curve_table(dataset, metric)
        row = int(rows[index])
        if row < 0:
            raise self._no_curve(index, dataset, metric)
        slot = 0 if seed is None else 1 + self._slot(values[row, 1:, -1], ids[row], seed, index, dataset, metric)
        curve = np.array(values[row, slot], dtype=np.float64)
        if np.isnan(curve).all():
            raise BenchmarkError(f"arch {index} has no {metric} curve values for that seed on {dataset}")
        return curve

    def seeds(self, arch: ArchLike, dataset: str, metric: str, *, curve: bool = False) -> list[int]:
        """The seeds present for ``arch``: real seed ids where recorded, else positions 0..n-1."""
        index = self._index(arch)
        if curve:
            rows, values, ids = self._curve_table(dataset, metric)
            row = int(rows[index])
            if row < 0:
                raise self._no_curve(index, dataset, metric)
            present, seed_ids = ~np.isnan(values[row, 1:]).all(axis=1), ids[row]
        else:
            table_values, table_ids = self._seed_table(dataset, metric)
            present, seed_ids = ~np.isnan(table_values[index]), table_ids[index]
        slots = np.flatnonzero(present)
        if len(slots) and (seed_ids[slots] > 0).all():
            return [int(seed_ids[s]) for s in slots]
        return [int(s) for s in range(len(slots))]

    def index(self, arch: ArchLike) -> int:
        """The official index of ``arch`` (an :class:`NB201Arch`, arch string, ``op:CODE`` or index)."""
        return self._index(arch)

    def verify(self) -> None:
        """Check every file's sha256 against the manifest (raises :class:`BenchmarkError`)."""
        for rel in self._files:
            self._verify_file(rel)

    # --- internals: arch resolution ------------------------------------------------------------------------

    def _index(self, arch: ArchLike) -> int:
        if type(arch) is int or isinstance(arch, np.integer):
            index = int(arch)
            if 0 <= index < self.num_archs:
                return index
            raise ArchError(f"arch index {index} out of range: this store holds indices 0..{self.num_archs - 1}")
        if self.manifest["space"] == "nats-sss":  # NATS's size space: its own arch value (the registry's, at merge)
            from nasforge.spaces.nats_sss import SSSArch

            if isinstance(arch, str):
                arch = SSSArch.from_any(arch)
            if not isinstance(arch, SSSArch):
                raise ArchError(f"cannot use {arch!r} as an sss arch: give an SSSArch, a string like 64:64:64:64:64 "
                                "or an index")  # fmt: skip
            return arch.index
        if isinstance(arch, NB201Arch):
            return _ops_to_index()[arch.ops]
        index = self._arch_index.get(arch)
        if index is None:
            if isinstance(arch, str):
                index = NB201Arch.from_any(arch).index
            else:
                raise ArchError(f"cannot use {arch!r} as an NB201 arch: give an NB201Arch, an arch string or an index")
            self._arch_index[arch] = index
        return index

    def _indices(self, archs: Sequence[ArchLike] | np.ndarray) -> np.ndarray:
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            indices = archs.astype(np.intp, copy=False)
            if indices.size and (indices.min() < 0 or indices.max() >= self.num_archs):
                raise ArchError(f"indices must be in 0..{self.num_archs - 1}; got {indices.min()}..{indices.max()}")
            return indices
        return np.fromiter((self._index(a) for a in archs), dtype=np.intp)

    # --- internals: tables -----------------------------------------------------------------------------------

    def _dataset(self, dataset: str) -> dict[str, Any]:
        try:
            return self._datasets[dataset]
        except (KeyError, TypeError):
            raise BenchmarkError(
                f"unknown dataset {dataset!r}; this store has {_names(self._datasets)} "
                "(NB201 split semantics: see nasforge.benchmarks.metrics)"
            ) from None

    def _check_metric(self, dataset: str, metric: str) -> None:
        if metric not in self.metrics(dataset):
            elsewhere = [ds for ds in self.datasets if metric in self.metrics(ds)]
            hint = f" ({metric} exists on {', '.join(elsewhere)})" if elsewhere else ""
            known = _metric_list(self.metrics(dataset))
            raise BenchmarkError(f"unknown metric {metric!r} for {dataset}{hint}; {dataset} has {known}")

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        """Final seed-mean values of ``metric`` for every arch (NaN = none), including curves' last entries."""
        column = self._columns.get((dataset, metric))
        if column is not None:
            return column
        d = self._dataset(dataset)
        if metric in self._finals(d):
            column = self._final_column(dataset, metric)
        elif metric in d["curves"]:
            column = np.full(self.num_archs, np.nan)
        else:
            self._check_metric(dataset, metric)
            raise BenchmarkError(
                f"{metric} on {dataset} has no final seed-mean values in this store, only per-seed values: pass "
                "seed= or query another metric"
            )
        if metric in d["curves"] and np.isnan(column).any():
            column = self._with_curve_ends(column, dataset, metric)
        self._columns[(dataset, metric)] = column
        return column

    def _with_curve_ends(self, column: np.ndarray, dataset: str, metric: str) -> np.ndarray:
        # A curve's last entry is the metric's final value: sources that record the curve but no separate final
        # value (the thesis CSV's 200 train-accuracy curves) must answer a plain query like --epoch <last>.
        rows, values, _ = self._curve_table(dataset, metric)
        missing = np.flatnonzero(np.isnan(column) & (rows >= 0))
        if not missing.size:
            return column
        column = np.array(column)  # a private copy: the scalar file stays read-only
        column[missing] = values[rows[missing], 0, -1]
        return column

    def _finals(self, d: dict[str, Any]) -> Iterable[str]:
        """The metrics with recorded final values in one dataset entry (a dict in schema 3, a list before)."""
        return d["columns"] if self._version >= 3 else d["scalars"]["metrics"]

    def _final_column(self, dataset: str, metric: str) -> np.ndarray:
        """The recorded final values of ``metric`` over all archs, float64, NaN = not recorded (no curve ends)."""
        d = self._dataset(dataset)
        if self._version >= 3:
            entry = d["columns"][metric]
            return self._widened(entry["file"], entry.get("archs"), 0, np.nan, entry)
        scalars = d["scalars"]
        return self._widened(scalars["file"], scalars.get("archs"), 1, np.nan)[scalars["metrics"].index(metric)]

    def _widened(
        self, rel: str, archs_rel: str | None, axis: int, fill: float, entry: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Array ``rel`` over all archs (its rows/columns along ``axis`` placed at ``archs_rel``), values decoded
        to float64 (:func:`decode`, with ``entry``'s decimals and exceptions); integer id arrays keep their type.

        Dense float64 files come back as their memory map; narrowed, decimal or sparse ones are widened once into
        memory. A file shared by several entries is widened once per encoding.
        """
        decimals = entry.get("decimals") if entry else None
        exceptions = entry.get("exceptions", ()) if entry else ()
        key = (rel, archs_rel, decimals, len(exceptions) and json.dumps(exceptions))
        dense = self._dense.get(key)
        if dense is not None:
            return dense
        raw = self._array(rel)
        if entry is not None:
            if (raw.dtype.kind == "i") != (decimals is not None) or any(
                not 0 <= int(p) < raw.size for p, _ in exceptions
            ):
                raise BenchmarkError(
                    f"store {self.path}: {rel} does not fit its manifest entry (decimals {decimals!r} for a "
                    f"{raw.dtype} array, or an exception outside it); the store is corrupt, re-import it"
                )
        if raw.dtype.kind == "i" and entry is None:  # seed ids
            values = raw
        elif raw.dtype == np.float64 and not exceptions:
            values = raw
        else:
            values = decode(raw, decimals, exceptions)
        if archs_rel is None:
            dense = values
        else:
            archs = self._archs(archs_rel, raw.shape[axis], rel)
            shape = list(raw.shape)
            shape[axis] = self.num_archs
            dense = np.full(shape, fill, values.dtype)
            if axis == 0:
                dense[archs] = values
            else:
                dense[:, archs] = values
        self._dense[key] = dense
        return dense

    def _archs(self, rel: str, length: int, of: str) -> np.ndarray:
        """An ``archs`` index: strictly ascending official indices, one per row of ``of``."""
        archs = self._array(rel)
        if (rel, length) not in self._checked:  # a shared index is checked against each table's length
            ok = len(archs) == length and (
                not len(archs) or (int(archs[0]) >= 0 and int(archs[-1]) < self.num_archs and bool(
                    (np.diff(archs) > 0).all()))
            )
            if not ok:
                raise BenchmarkError(
                    f"store {self.path}: {rel} is not an ascending arch index for the {length} rows of {of}; "
                    "the store is corrupt, re-import it"
                )
            self._checked.add((rel, length))
        return archs

    def _curve_rows(self, entry: dict[str, Any], length: int, of: str) -> np.ndarray:
        """The row of each arch in a curve array (-1 = no curve), from a v1 ``rows`` file or a v2 ``archs`` index."""
        if self._version == 1:
            return self._array(entry["rows"])
        rel = entry["archs"]
        rows = self._dense.get(rel)
        if rows is None:
            archs = self._archs(rel, length, of)
            rows = np.full(self.num_archs, -1, np.int32)
            rows[archs] = np.arange(len(archs), dtype=np.int32)
            self._dense[rel] = rows
        return rows

    def _seed_table(self, dataset: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        seeds = self._dataset(dataset)["seeds"]
        if metric not in seeds:
            self._check_metric(dataset, metric)
            raise BenchmarkError(
                f"{metric} on {dataset} has no per-seed values; metrics with per-seed values there: {_names(seeds)}"
            )
        table = self._seed_tables.get((dataset, metric))
        if table is None:
            entry = seeds[metric]
            values = self._widened(entry["values"], entry.get("archs"), 0, np.nan, entry)
            ids = self._widened(entry["ids"], entry.get("archs"), 0, 0)
            self._check_tables(f"seeds/{dataset}/{metric}", values, ids)
            table = self._seed_tables[(dataset, metric)] = (values, ids)
        return table

    def _curve_table(self, dataset: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        curves = self._dataset(dataset)["curves"]
        if metric not in curves:
            self._check_metric(dataset, metric)
            raise BenchmarkError(
                f"{metric} on {dataset} has no per-epoch curves in this store; metrics with curves there: "
                f"{_names(curves)}. Query the final value without epoch="
            )
        entry = curves[metric]
        values = self._array(entry["values"], keep_fd=True)
        tables = self._curve_rows(entry, len(values), entry["values"]), values, self._array(entry["ids"])
        self._check_tables(f"curves/{dataset}/{metric}", *tables)
        return tables

    def _array(self, rel: str, *, keep_fd: bool = False) -> np.ndarray:
        array = self._arrays.get(rel)
        if array is None:
            array = self._map(rel, keep_fd)
        return array

    def _map(self, rel: str, keep_fd: bool) -> np.ndarray:
        # One open file serves the checksum, the map and (for curves) point reads, so all three see the same
        # file even if the store is replaced meanwhile.
        try:
            fd = os.open(self.path / rel, os.O_RDONLY)
        except OSError as exc:
            raise BenchmarkError(
                f"store {self.path}: cannot open {rel} ({exc.strerror}); re-import the store"
            ) from None
        try:
            with os.fdopen(os.dup(fd), "rb") as f:
                if self._checksums == "lazy":
                    self._verify_digest(rel, _sha256_stream(f))
                    f.seek(0)
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                offset = f.tell()
                if dtype.hasobject:
                    raise ValueError("object arrays are not allowed in a store")
                self._check_layout(rel, dtype, shape)
                if offset + dtype.itemsize * math.prod(shape) != os.fstat(fd).st_size:
                    raise ValueError(f"the header's shape {shape} does not match the file size")
                if math.prod(shape) == 0:
                    mapped = np.empty(shape, dtype)
                else:
                    order = "F" if fortran else "C"
                    mapped = np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
        except (OSError, ValueError) as exc:
            os.close(fd)
            if isinstance(exc, BenchmarkError):
                raise
            raise BenchmarkError(f"store {self.path}: cannot read {rel} ({exc}); re-import the store") from None
        if keep_fd and dtype.str in _UNPACK:
            self._fds[rel] = (fd, offset, dtype.itemsize, _UNPACK[dtype.str])
        else:
            os.close(fd)
        # A plain ndarray view of the map: indexing a np.memmap subclass costs microseconds per call.
        array = mapped.view(np.ndarray)
        self._arrays[rel] = array
        return array

    def _check_layout(self, rel: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        want_dtypes, want_shape = self._layouts.get(rel, ((), None))
        if want_shape is None:
            return
        fits = len(shape) == len(want_shape) and all(w is None or w == n for w, n in zip(want_shape, shape))
        if dtype.str not in want_dtypes or not fits:
            dims = ", ".join("n" if w is None else str(w) for w in want_shape)
            shown = f"({dims}{',' if len(want_shape) == 1 else ''})"
            raise BenchmarkError(
                f"store {self.path}: {rel} holds {dtype.str} {shape}, the store format needs "
                f"{' or '.join(want_dtypes)} {shown}; "
                "the store is corrupt, re-import it"
            )

    def _check_tables(self, key: str, *arrays: np.ndarray) -> None:
        """Cross-file shapes (seeds: values vs ids; curves: rows vs values vs ids), once per table."""
        if key in self._checked:
            return
        if len(arrays) == 2:
            ok = arrays[0].shape == arrays[1].shape
        else:
            rows, values, ids = arrays
            ok = values.shape[0] == ids.shape[0] and values.shape[1] == ids.shape[1] + 1 and values.shape[2] > 0
            ok = ok and (rows.size == 0 or (int(rows.min()) >= -1 and int(rows.max()) < values.shape[0]))
        if not ok:
            raise BenchmarkError(
                f"store {self.path}: the files of {key} do not fit together ({[a.shape for a in arrays]}); "
                "the store is corrupt, re-import it"
            )
        self._checked.add(key)

    def _read_float(self, rel: str, flat: int) -> float:
        """Element ``flat`` of a float array, read with one pread: single queries do not map pages into memory."""
        entry = self._fds.get(rel)
        if entry is None:
            return float(self._arrays[rel].reshape(-1)[flat])
        fd, offset, size, unpack = entry
        return unpack(os.pread(fd, size, offset + size * flat))[0]

    def close(self) -> None:
        """Release the open files (maps stay valid until the arrays are garbage-collected)."""
        for fd, *_ in self._fds.values():
            os.close(fd)
        self._fds.clear()
        if self._hold is not None:
            os.close(self._hold)  # releases the shared lock
            self._hold = None
        with contextlib.suppress(AttributeError):  # close() after a failed open
            self._arrays.clear()
            self._dense.clear()
            self._seed_tables.clear()
            self._columns.clear()

    def __enter__(self) -> BenchmarkStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _verify_file(self, rel: str) -> None:
        try:
            with open(self.path / rel, "rb") as f:
                digest = _sha256_stream(f)
        except OSError as exc:
            raise BenchmarkError(
                f"store {self.path}: cannot read {rel} ({exc.strerror}); re-import the store"
            ) from None
        self._verify_digest(rel, digest)

    def _verify_digest(self, rel: str, actual: str) -> None:
        expected = self._files.get(rel, {}).get("sha256")
        if actual != expected:
            if _file_id(self.path / MANIFEST) != self._manifest_id:
                raise BenchmarkError(f"store {self.path} was replaced (re-imported) after it was opened: open it again")
            raise BenchmarkError(
                f"store {self.path}: checksum mismatch in {rel} (sha256 {actual[:12]}..., manifest {str(expected)[:12]}"
                "...); the store was modified or corrupted, re-import it"
            )

    # --- internals: per-seed and per-epoch values -------------------------------------------------------------

    def _slot(self, row: np.ndarray, ids: np.ndarray, seed: int, index: int, dataset: str, metric: str) -> int:
        """The slot of ``seed`` (a position among present seeds, or a real seed id) in one arch's row."""
        slots = np.flatnonzero(~np.isnan(row))
        known = [int(ids[s]) for s in slots if ids[s] > 0]
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if 0 <= seed < len(row):
                if seed < len(slots):
                    return int(slots[seed])
            else:
                for s in slots:
                    if int(ids[s]) == seed:
                        return int(s)
        where = f"arch {index} {metric} on {dataset}"
        if not len(slots):
            with_seeds = [m for m in self._dataset(dataset)["seeds"] if m != metric]
            other = f"; metrics with per-seed values there: {', '.join(with_seeds)}" if with_seeds else ""
            raise BenchmarkError(f"{where} has no per-seed values (sources recorded them for other archs){other}")
        ids = f"seed ids {', '.join(map(str, known))}" if len(known) == len(slots) else "seed ids not recorded"
        raise BenchmarkError(
            f"{where}: no seed {seed!r}; it has {len(slots)} seeds, positions 0..{len(slots) - 1} ({ids})"
        )

    def _seed_value(self, index: int, dataset: str, metric: str, seed: int | None) -> float:
        values, ids = self._seed_table(dataset, metric)
        return float(values[index, self._slot(values[index], ids[index], seed, index, dataset, metric)])

    def _seed_values(self, indices: np.ndarray, dataset: str, metric: str, seed: int, missing: str) -> np.ndarray:
        values, ids = self._seed_table(dataset, metric)
        out = np.full(len(indices), np.nan)
        for k, index in enumerate(indices):
            try:
                out[k] = values[index, self._slot(values[index], ids[index], seed, int(index), dataset, metric)]
            except BenchmarkError:
                if missing == "raise":
                    raise
        return out

    def _curve_value(self, index: int, dataset: str, metric: str, epoch: int, seed: int | None) -> float:
        rows, values, ids = self._curve_table(dataset, metric)
        self._check_epoch(epoch, values.shape[2], dataset, metric)
        row = int(rows[index])
        if row < 0:
            raise self._no_curve(index, dataset, metric)
        n_slots, n_epochs = values.shape[1], values.shape[2]
        rel = self._dataset(dataset)["curves"][metric]["values"]
        if seed is None:
            slot = 0
        else:
            at_epoch = [self._read_float(rel, (row * n_slots + k) * n_epochs + epoch) for k in range(1, n_slots)]
            slot = 1 + self._slot(np.array(at_epoch), ids[row], seed, index, dataset, metric)
        value = self._read_float(rel, (row * n_slots + slot) * n_epochs + epoch)
        if value != value:
            raise BenchmarkError(f"arch {index} {metric} on {dataset} has no value at epoch {epoch}")
        return value

    def _curve_values(
        self, indices: np.ndarray, dataset: str, metric: str, epoch: int, seed: int | None, missing: str
    ) -> np.ndarray:
        rows, values, ids = self._curve_table(dataset, metric)
        self._check_epoch(epoch, values.shape[2], dataset, metric)
        if seed is None:
            row = rows[indices]
            out = np.full(len(indices), np.nan)
            has = row >= 0
            out[has] = values[row[has], 0, epoch]
            return out
        out = np.full(len(indices), np.nan)
        for k, index in enumerate(indices):
            try:
                out[k] = self._curve_value(int(index), dataset, metric, epoch, seed)
            except BenchmarkError:
                if missing == "raise":
                    raise
        return out

    @staticmethod
    def _check_epoch(epoch: int, n_epochs: int, dataset: str, metric: str) -> None:
        if not (isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool) and 0 <= epoch < n_epochs):
            raise BenchmarkError(f"epoch {epoch!r} out of range for {metric} on {dataset}: epochs 0..{n_epochs - 1}")

    def _no_curve(self, index: int, dataset: str, metric: str) -> BenchmarkError:
        covered = self.curve_archs(dataset, metric)
        return BenchmarkError(
            f"arch {index} has no {metric} curve on {dataset}; curves exist for {len(covered)} archs "
            f"(indices {_names(covered, 8)}). Query the final value without epoch="
        )

    def _missing_final(self, index: int, dataset: str, metric: str, count: int = 1) -> BenchmarkError:
        more = f" ({count} of the requested archs lack it)" if count > 1 else ""
        have = int(np.count_nonzero(~np.isnan(self._column(dataset, metric))))
        return BenchmarkError(
            f"{metric} on {dataset} is not recorded for arch {index}{more}; the store has it for {have} of "
            f"{self.num_archs} archs"
        )


def _links_out(root: str, folder: str, plain: dict[str, bool]) -> bool:
    """Whether a folder of the store (``root`` ends with a separator), or any folder above it inside the store,
    is a symbolic link (or missing). ``plain`` caches each folder's answer, so shared parents are looked at once."""
    parts = folder.split("/")
    for part in ("/".join(parts[: k + 1]) for k in range(len(parts))):
        if part not in plain:
            try:
                plain[part] = stat.S_ISDIR(os.lstat(root + part).st_mode)
            except OSError:
                plain[part] = False
        if not plain[part]:
            return True
    return False


def _hold_directory(path: Path) -> int | None:
    """A shared lock on the store directory, held while the store is open: cache pruning
    (:func:`nasforge.benchmarks.nb201.prune_cache`) removes only stores it can lock exclusively."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None  # no such directory: _read_manifest says so
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_SH)
    except (ImportError, OSError):
        pass  # no flock here (Windows, some network file systems): nothing prunes under a reader that cannot lock
    return fd


def open_store(path: str | os.PathLike, *, checksums: Checksums = "lazy") -> BenchmarkStore:
    """Open a benchmark store directory read-only (memory-mapped; milliseconds)."""
    return BenchmarkStore(path, checksums=checksums)


# The journal 'nasforge zc score' keeps beside a store (nasforge.zerocost.stream), named here so that opening a store
# that is not there yet can point to the run that would make it.
ZC_JOURNAL_SUFFIX = ".zc-journal.jsonl"


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.is_file():
        what = "does not exist" if not path.exists() else f"has no {MANIFEST}"
        journal = path.with_name(path.name + ZC_JOURNAL_SUFFIX)
        if journal.is_file():  # a 'zc score --out PATH' stopped before its first merge into the store
            raise BenchmarkError(
                f"{path} {what} yet: a 'nasforge zc score' into it stopped before its first merge ({journal.name} "
                "beside it holds its scores); finish it by rerunning that 'nasforge zc score ...' with --resume"
            )
        raise BenchmarkError(f"{path} {what}: it is not a benchmark store; build one with 'nasforge bench import ...'")
    try:
        manifest = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BenchmarkError(f"{file} is not valid JSON ({reason}); the store is corrupt, re-import it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BenchmarkError(f"{file} is not a nasforge benchmark store manifest")
    version = manifest.get("schema_version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise BenchmarkError(
            f"{path} has store schema version {version!r}; this nasforge reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: re-import it"
        )
    try:
        _check_manifest(manifest)
    except _ManifestError as exc:
        raise BenchmarkError(f"{file}: {exc}; the store is corrupt, re-import it") from None
    return manifest


class _ManifestError(Exception):
    """One malformed manifest field (becomes a BenchmarkError naming the manifest)."""


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if type(value) is kind:  # the common case first: a manifest has hundreds of fields, and opening is ~1 ms
        return value
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise _ManifestError(f"{where} is {type(value).__name__} {str(value)[:30]}, expected {expected}")
    return value


def _names_map(value: Any, where: str) -> dict[str, Any]:
    for key in _expect(value, dict, where):
        if not key:
            raise _ManifestError(f"{where} has an empty name")
    return value


def _check_manifest(m: dict[str, Any]) -> None:
    """Every field of a schema-1 or -2 manifest, its type, and that every file it names is a plain relative path
    inside the store that the ``files`` table lists (so a manifest can never make the store read elsewhere)."""
    _expect(m.get("space"), str, "field 'space'")
    num_archs = _expect(m.get("num_archs"), int, "field 'num_archs'")
    if num_archs <= 0:
        raise _ManifestError(f"field 'num_archs' is {num_archs}, expected a positive count")
    for k, entry in enumerate(_expect(m.get("provenance"), list, "field 'provenance'")):
        _expect(entry, dict, f"provenance entry {k}")
    files = _expect(m.get("files"), dict, "field 'files'")
    for rel, entry in files.items():
        _check_rel(rel)
        _expect(entry, dict, f"files[{rel!r}]")
        digest = _expect(entry.get("sha256"), str, f"files[{rel!r}].sha256")
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise _ManifestError(f"files[{rel!r}].sha256 is not a sha256 hex digest")
        if _expect(entry.get("bytes"), int, f"files[{rel!r}].bytes") < 0:
            raise _ManifestError(f"files[{rel!r}].bytes is negative")

    used: set[str] = set()
    version = m["schema_version"]

    # Labels for error messages are built only when a check fails: a manifest has hundreds of entries, and
    # formatting each one's name would be most of the time a store takes to open.
    def label(where: str, kind: str, metric: str | None, part: str = "") -> str:
        name = f"{where}.{kind}" if metric is None else f"{where}.{kind}[{metric!r}]"
        return f"{name}.{part}" if part else name

    def named(value: Any, where: str, kind: str, metric: str | None, part: str) -> str:
        if type(value) is not str or value not in files:
            _expect(value, str, label(where, kind, metric, part))
            raise _ManifestError(f"{label(where, kind, metric, part)} names {value!r}, which the 'files' table "
                                 "does not list")  # fmt: skip
        if value in used and version < 3:  # schema 3 shares files of identical content (_layouts checks their roles)
            raise _ManifestError(f"{label(where, kind, metric, part)} names {value!r}, which another entry uses too")
        used.add(value)
        return value

    def encoding(entry: dict[str, Any], where: str) -> None:
        if "decimals" in entry and not 0 <= _expect(entry["decimals"], int, f"{where}.decimals") <= 22:
            raise _ManifestError(f"{where}.decimals is {entry['decimals']}, expected 0..22")
        for pair in _expect(entry.get("exceptions", []), list, f"{where}.exceptions"):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise _ManifestError(f"{where}.exceptions holds {str(pair)[:30]}, expected [position, value] pairs")
            _expect(pair[0], int, f"{where}.exceptions position")
            _expect(pair[1], (int, float), f"{where}.exceptions value")

    for ds, d in _names_map(m.get("datasets"), "field 'datasets'").items():
        where = f"datasets[{ds!r}]"
        _expect(d, dict, where)
        if version >= 3:
            for metric, entry in _names_map(d.get("columns"), f"{where}.columns").items():
                if type(entry) is not dict:
                    _expect(entry, dict, label(where, "columns", metric))
                named(entry.get("file"), where, "columns", metric, "file")
                if "archs" in entry:
                    named(entry["archs"], where, "columns", metric, "archs")
                if "decimals" in entry or "exceptions" in entry:
                    encoding(entry, label(where, "columns", metric))
        else:
            scalars = _expect(d.get("scalars"), dict, f"{where}.scalars")
            named(scalars.get("file"), where, "scalars", None, "file")
            if "archs" in scalars:
                named(scalars["archs"], where, "scalars", None, "archs")
            metrics = _expect(scalars.get("metrics"), list, f"{where}.scalars.metrics")
            for metric in metrics:
                _expect(metric, str, f"{where}.scalars.metrics entry")
            if len(set(metrics)) != len(metrics):
                raise _ManifestError(f"{where}.scalars.metrics lists a metric twice")
        # Version 1 indexes curves by a dense rows file, versions 2+ by an archs index; seeds may have one.
        curve_index = "rows" if version == 1 else "archs"
        for kind, parts in (("seeds", ("values", "ids")), ("curves", (curve_index, "values", "ids"))):
            for metric, entry in _names_map(d.get(kind), f"{where}.{kind}").items():
                if type(entry) is not dict:
                    _expect(entry, dict, label(where, kind, metric))
                for part in parts + (("archs",) if kind == "seeds" and "archs" in entry else ()):
                    named(entry.get(part), where, kind, metric, part)
                if kind == "seeds" and version >= 3 and ("decimals" in entry or "exceptions" in entry):
                    encoding(entry, label(where, kind, metric))
    _layouts(m)  # a file shared by two entries must play the same role in both


def _check_rel(rel: str) -> None:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts) or ":" in rel:
        raise _ManifestError(f"file name {rel!r} is not a plain relative path inside the store")


def _layouts(manifest: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], tuple[int | None, ...]]]:
    """rel -> (dtypes, shape) every array must have (None: any length), from the store format."""
    n, version = manifest["num_archs"], manifest["schema_version"]
    floats = ("<f8",) if version == 1 else FLOATS
    values = floats + DECIMALS if version >= 3 else floats
    ids = IDS if version >= 3 else ("<i4",)
    index = (("<i4",), (None,))
    out: dict[str, tuple[tuple[str, ...], tuple[int | None, ...]]] = {}

    def put(rel: str, layout: tuple[tuple[str, ...], tuple[int | None, ...]]) -> None:
        if out.setdefault(rel, layout) != layout:
            raise _ManifestError(f"file {rel!r} is named by entries that need different layouts")

    for d in manifest["datasets"].values():
        if version >= 3:
            for entry in d["columns"].values():
                put(entry["file"], (values, (None if "archs" in entry else n,)))
                if "archs" in entry:
                    put(entry["archs"], index)
        else:
            scalars = d["scalars"]
            put(scalars["file"], (floats, (len(scalars["metrics"]), None if "archs" in scalars else n)))
            if "archs" in scalars:
                put(scalars["archs"], index)
        for entry in d["seeds"].values():
            rows = None if "archs" in entry else n
            put(entry["values"], (values, (rows, None)))
            put(entry["ids"], (ids, (rows, None)))
            if "archs" in entry:
                put(entry["archs"], index)
        for entry in d["curves"].values():
            if version == 1:
                put(entry["rows"], (("<i4",), (n,)))
            else:
                put(entry["archs"], index)
            put(entry["values"], (floats, (None, None, None)))
            put(entry["ids"], (ids, (None, None)))
    return out
