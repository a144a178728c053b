"""Writing benchmark stores: :class:`StoreBuilder` collects values in memory and writes a store atomically.

The format is described in :mod:`nasforge.benchmarks.store`. Importers (:mod:`nasforge.benchmarks.importers`)
add to a builder; ``StoreBuilder.from_store`` starts from an existing store, which is how imports merge.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nasforge._io import atomic_directory
from nasforge.benchmarks.metrics import DATASETS
from nasforge.benchmarks.store import FORMAT, MANIFEST, SCHEMA_VERSION, BenchmarkStore, decode, sha256_file
from nasforge.errors import BenchmarkError
from nasforge.spaces.nb201 import NUM_ARCHS


class StoreBuilder:
    """Collects scalars, per-seed values and curves in memory, then writes a store atomically.

    Importers add to a builder; adding to an existing (dataset, metric) overwrites the archs the new
    source covers and keeps the rest, so sources merge into one store.
    """

    def __init__(self, num_archs: int = NUM_ARCHS, space: str = "nb201") -> None:
        self.num_archs = num_archs
        self.space = space
        self.provenance: list[dict[str, Any]] = []
        self.scalars: dict[str, dict[str, np.ndarray]] = {}
        self.seeds: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        # (dataset, metric) -> {index: (values (1 + n_slots, n_epochs), ids (n_slots,))}
        self.curves: dict[str, dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]] = {}

    @classmethod
    def from_store(cls, store: BenchmarkStore) -> StoreBuilder:
        """A builder holding a copy of everything in ``store`` (checked against its checksums first)."""
        store.verify()
        builder = cls(store.num_archs, store.manifest["space"])
        builder.provenance = store.provenance
        for ds, d in store._datasets.items():
            builder.scalars[ds] = {m: np.array(store._final_column(ds, m)) for m in store._finals(d)}
            builder.seeds[ds] = {m: tuple(np.array(a) for a in store._seed_table(ds, m)) for m in d["seeds"]}
            builder.curves[ds] = {}
            for m in d["curves"]:
                rows, values, ids = store._curve_table(ds, m)
                covered = np.flatnonzero(rows >= 0)
                builder.curves[ds][m] = {
                    int(i): (np.array(values[rows[i]], dtype=np.float64), np.array(ids[rows[i]])) for i in covered
                }
        return builder

    def set_scalar(self, dataset: str, metric: str, indices: np.ndarray, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        column = self.scalars.setdefault(dataset, {}).get(metric)
        if column is None:
            column = self.scalars[dataset][metric] = np.full(self.num_archs, np.nan)
        keep = ~np.isnan(values)
        column[np.asarray(indices)[keep]] = values[keep]

    def set_seeds(
        self, dataset: str, metric: str, indices: np.ndarray, values: np.ndarray, ids: np.ndarray | None = None
    ) -> None:
        """Per-seed final values ``(n, n_slots)`` in ascending seed order (NaN = absent); ``ids`` 0 = unknown."""
        values = np.asarray(values, dtype=np.float64)
        ids = np.zeros(values.shape, dtype=np.int32) if ids is None else np.asarray(ids, dtype=np.int32)
        old_values, old_ids = self.seeds.setdefault(dataset, {}).get(
            metric, (np.full((self.num_archs, 0), np.nan), np.zeros((self.num_archs, 0), np.int32))
        )
        width = max(old_values.shape[1], values.shape[1])
        new_values = np.full((self.num_archs, width), np.nan)
        new_ids = np.zeros((self.num_archs, width), np.int32)
        new_values[:, : old_values.shape[1]] = old_values
        new_ids[:, : old_ids.shape[1]] = old_ids
        indices = np.asarray(indices)
        covered = ~np.isnan(values).all(axis=1)
        new_values[indices[covered]] = np.nan
        new_ids[indices[covered]] = 0
        new_values[indices[covered], : values.shape[1]] = values[covered]
        new_ids[indices[covered], : values.shape[1]] = ids[covered]
        self.seeds[dataset][metric] = (new_values, new_ids)

    def set_curve(
        self,
        dataset: str,
        metric: str,
        index: int,
        mean: np.ndarray,
        per_seed: np.ndarray | None = None,
        ids: Sequence[int] | None = None,
    ) -> None:
        """One arch's curve: the seed mean ``(n_epochs,)`` and optionally per-seed curves ``(n_slots, n_epochs)``."""
        mean = np.asarray(mean, dtype=np.float64)
        per_seed = np.zeros((0, len(mean))) if per_seed is None else np.asarray(per_seed, dtype=np.float64)
        seed_ids = np.zeros(len(per_seed), np.int32) if ids is None else np.asarray(ids, dtype=np.int32)
        table = self.curves.setdefault(dataset, {}).setdefault(metric, {})
        if table:
            n_epochs = next(iter(table.values()))[0].shape[1]
            if n_epochs != len(mean):
                raise BenchmarkError(
                    f"{metric} curves on {dataset} have {n_epochs} epochs in this store but the new source has "
                    f"{len(mean)}; a store keeps one schedule per metric"
                )
        table[int(index)] = (np.vstack([mean[None, :], per_seed]), seed_ids)

    def add_provenance(self, importer: str, source: str | os.PathLike | None, **details: Any) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        entry: dict[str, Any] = {"importer": importer, "imported_at": now}
        if source is not None:
            src = Path(source)
            entry["source"] = str(src)
            if src.is_file():
                entry["bytes"] = src.stat().st_size
                entry["sha256"] = sha256_file(src)
        entry.update(details)
        self.provenance.append(entry)

    def write(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the store to ``path`` atomically (a temp directory renamed at the end)."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise BenchmarkError(f"{path} already exists; pass --overwrite/overwrite=True or --merge to add to it")
        datasets = sorted(set(self.scalars) | set(self.seeds) | set(self.curves), key=_dataset_order)
        if not datasets:
            raise BenchmarkError("nothing to write: the sources gave no values")
        with atomic_directory(path, overwrite=overwrite) as tmp:
            files: dict[str, dict[str, Any]] = {}
            written: dict[tuple[str, str], str] = {}  # (role, sha256) -> the file that already holds those bytes
            manifest_datasets = {ds: self._write_dataset(tmp, ds, files, written) for ds in datasets}
            manifest = {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "space": self.space,
                "num_archs": self.num_archs,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "provenance": self.provenance,
                "datasets": manifest_datasets,
                "files": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, allow_nan=False) + "\n", "utf-8")
        return path

    def _write_dataset(
        self, root: Path, ds: str, files: dict[str, dict[str, Any]], written: dict[tuple[str, str], str]
    ) -> dict[str, Any]:
        def save(rel: str, array: np.ndarray, role: str) -> str:
            # A file whose bytes another entry of the same role already wrote is not written twice: the entry
            # names that file (the HELP latencies of three datasets, one archs index for many curves).
            file = root / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            np.save(file, np.ascontiguousarray(array), allow_pickle=False)
            digest = sha256_file(file)
            first = written.setdefault((role, digest), rel)
            if first != rel:
                file.unlink()
                return first
            files[rel] = {"sha256": digest, "bytes": file.stat().st_size}
            return rel

        def archs(rel: str, covered: np.ndarray) -> dict[str, str]:
            # Sparse coverage is stored sparsely: an index of the covered archs (omitted when all are covered).
            return {} if covered.all() else {"archs": save(rel, np.flatnonzero(covered).astype(np.int32), "archs")}

        def values(rel: str, array: np.ndarray, role: str) -> dict[str, Any]:
            stored, encoding = _encoded(array)
            return {"file" if role == "column" else "values": save(rel, stored, role), **encoding}

        entry: dict[str, Any] = {"columns": {}, "seeds": {}, "curves": {}}
        for m, column in sorted(self.scalars.get(ds, {}).items()):
            covered = ~np.isnan(column)
            entry["columns"][m] = {**values(f"columns/{ds}/{m}.npy", column[covered], "column"),
                                   **archs(f"columns/{ds}/{m}.archs.npy", covered)}  # fmt: skip
        for m, (v, i) in sorted(self.seeds.get(ds, {}).items()):
            covered = ~np.isnan(v).all(axis=1) | (i != 0).any(axis=1)
            entry["seeds"][m] = {
                **values(f"seeds/{ds}/{m}.npy", v[covered], "seeds"),
                "ids": save(f"seeds/{ds}/{m}.ids.npy", _ids(i[covered]), "ids"),
                **archs(f"seeds/{ds}/{m}.archs.npy", covered),
            }
        for m, by_arch in sorted(self.curves.get(ds, {}).items()):
            order = sorted(by_arch)
            slots = max(v.shape[0] for v, _ in by_arch.values()) - 1
            n_epochs = next(iter(by_arch.values()))[0].shape[1]
            curve = np.full((len(order), 1 + slots, n_epochs), np.nan)
            ids = np.zeros((len(order), slots), np.int32)
            for r, index in enumerate(order):
                v, i = by_arch[index]
                curve[r, : v.shape[0]] = v
                ids[r, : len(i)] = i
            entry["curves"][m] = {
                "archs": save(f"curves/{ds}/{m}.archs.npy", np.asarray(order, np.int32), "archs"),
                "values": save(f"curves/{ds}/{m}.npy", _narrowed(curve), "curve"),
                "ids": save(f"curves/{ds}/{m}.ids.npy", _ids(ids), "ids"),
            }
        return entry


MAX_EXCEPTIONS = 64
"""At most this many values of one array (and at most 1 in 16) may be stored as exceptions beside a decimal
encoding; an array with more keeps floats."""


def _encoded(values: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The smallest exact encoding of a float64 value array: itself, float32 (:func:`_narrowed`), or decimal
    integers with a ``decimals`` count and a few exceptions (:func:`nasforge.benchmarks.store.decode`).

    Sources written as decimal text (the NB201 CSVs: 6 decimals, HELP: up to 6) are stored as the integers
    of that text: ``94.363333`` is ``94363333`` with 6 decimals, 4 bytes instead of 8, and decodes to exactly
    ``float("94.363333")``. Every candidate is decoded and compared bit for bit before it is chosen.
    """
    narrow = _narrowed(values)
    if values.dtype != np.float64 or not values.size or np.isinf(values).any():
        return narrow, {}
    finite = ~np.isnan(values)
    allowed = min(MAX_EXCEPTIONS, values.size // 16)
    for decimals in range(10):  # 10 decimals would not fit int32 for values >= 0.2147...: no gain over float64
        with np.errstate(invalid="ignore", over="ignore"):
            q = np.round(values * 10.0**decimals)
            ok = finite & (np.abs(q) < 2**31 - 1) & (q / 10.0**decimals == values)
            ok &= ~((values == 0) & np.signbit(values))  # -0.0 equals 0.0 but is another float: an exception
        bad = np.flatnonzero(finite & ~ok)
        if len(bad) > allowed:
            continue
        kept = q[ok]
        dtype = next(t for t in (np.int8, np.int16, np.int32)
                     if not kept.size or (np.iinfo(t).min < kept.min() and kept.max() <= np.iinfo(t).max))  # fmt: skip
        if np.dtype(dtype).itemsize >= narrow.itemsize:  # no smaller than the floats: keep those (no exceptions)
            return narrow, {}
        stored = np.where(ok, q, 0).astype(dtype)
        stored[~finite] = np.iinfo(dtype).min
        exceptions = [[int(p), float(values.reshape(-1)[p])] for p in bad]
        if not np.array_equal(decode(stored, decimals, exceptions), values, equal_nan=True):
            continue  # never happens for finite q below 2**31; checked so that no encoding can lose a digit
        encoding: dict[str, Any] = {"decimals": decimals}
        if exceptions:
            encoding["exceptions"] = exceptions
        return stored, encoding
    return narrow, {}


def _ids(ids: np.ndarray) -> np.ndarray:
    """Seed ids as int16 where they fit (NB201's are 111, 777, 888, 999), else int32."""
    small = not ids.size or (ids.min() >= np.iinfo(np.int16).min and ids.max() <= np.iinfo(np.int16).max)
    return ids.astype(np.int16) if small else ids.astype(np.int32)


def _narrowed(values: np.ndarray) -> np.ndarray:
    """``values`` as float32 when every value survives the round trip exactly (NaN included), else unchanged.

    Sources that hold float32 (or fewer digits than float32 resolves) are stored at their own precision; the
    reader widens back to float64, so queries return bit-identical values either way.
    """
    if values.dtype != np.float64 or not values.size:
        return values
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = values.astype(np.float32)
    return narrow if np.array_equal(narrow, values, equal_nan=True) else values


def _dataset_order(name: str) -> tuple[int, str]:
    return (DATASETS.index(name) if name in DATASETS else len(DATASETS), name)
