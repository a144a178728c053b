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
from nasforge.benchmarks.store import FORMAT, MANIFEST, SCHEMA_VERSION, BenchmarkStore, sha256_file
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
            scalars = store._scalar_table(ds)
            builder.scalars[ds] = {m: np.array(scalars[k]) for k, m in enumerate(d["scalars"]["metrics"])}
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
            manifest_datasets = {ds: self._write_dataset(tmp, ds, files) for ds in datasets}
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

    def _write_dataset(self, root: Path, ds: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
        def save(rel: str, array: np.ndarray) -> str:
            file = root / rel
            file.parent.mkdir(parents=True, exist_ok=True)
            np.save(file, np.ascontiguousarray(array), allow_pickle=False)
            files[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
            return rel

        def archs(rel: str, covered: np.ndarray) -> dict[str, str]:
            # Sparse coverage is stored sparsely: an index of the covered archs (omitted when all are covered).
            return {} if covered.all() else {"archs": save(rel, np.flatnonzero(covered).astype(np.int32))}

        scalars = self.scalars.get(ds, {})
        metrics = sorted(scalars)
        table = np.stack([scalars[m] for m in metrics]) if metrics else np.zeros((0, self.num_archs))
        covered = ~np.isnan(table).all(axis=0)
        entry: dict[str, Any] = {"scalars": {
            "file": save(f"scalars/{ds}.npy", _narrowed(table[:, covered])), "metrics": metrics,
            **archs(f"scalars/{ds}.archs.npy", covered),
        }}  # fmt: skip
        entry["seeds"] = {}
        for m, (v, i) in sorted(self.seeds.get(ds, {}).items()):
            covered = ~np.isnan(v).all(axis=1) | (i != 0).any(axis=1)
            entry["seeds"][m] = {
                "values": save(f"seeds/{ds}/{m}.npy", _narrowed(v[covered])),
                "ids": save(f"seeds/{ds}/{m}.ids.npy", i[covered]),
                **archs(f"seeds/{ds}/{m}.archs.npy", covered),
            }
        entry["curves"] = {}
        for m, by_arch in sorted(self.curves.get(ds, {}).items()):
            order = sorted(by_arch)
            slots = max(v.shape[0] for v, _ in by_arch.values()) - 1
            n_epochs = next(iter(by_arch.values()))[0].shape[1]
            values = np.full((len(order), 1 + slots, n_epochs), np.nan)
            ids = np.zeros((len(order), slots), np.int32)
            for r, index in enumerate(order):
                v, i = by_arch[index]
                values[r, : v.shape[0]] = v
                ids[r, : len(i)] = i
            entry["curves"][m] = {
                "archs": save(f"curves/{ds}/{m}.archs.npy", np.asarray(order, np.int32)),
                "values": save(f"curves/{ds}/{m}.npy", _narrowed(values)),
                "ids": save(f"curves/{ds}/{m}.ids.npy", ids),
            }
        return entry


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
