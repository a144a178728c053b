"""Importers: real benchmark files → a :class:`~nasforge.benchmarks.builder.StoreBuilder`.

Each importer validates its whole input before adding anything, raises :class:`BenchmarkError` with
one line naming the file and the problem, and records its provenance (file, size, sha256) in the
builder. Formats (see docs/benchmark.md):

* :func:`import_table` — a CSV/TSV (optionally gzipped) keyed by arch string, with a column→metric
  mapping; :data:`NB201_FINAL_MAPPING` is the ready mapping for ``nb201_final.csv.gz`` and
  :func:`help_latency_mapping` the one for ``nb201_hw_latency_help.csv.gz``.
* :func:`import_curves_csv` — seed-mean curves, one row per arch, each curve a list in one cell.
* :func:`import_naslib_pickle` — NASLib's ``nb201_<dataset>_full_training.pickle``.
* :func:`import_nats` — NATS-Bench tss per-arch ``NNNNNN.pickle.pbz2`` files (all seeds, curves, per-split
  evaluation times, per-seed costs), the official directory with its ``meta.pickle.pbz2``, or the one-file benchmark.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasforge._io import is_int
from nasforge.benchmarks._unpickle import read_maybe_compressed, safe_load_file
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.metrics import DATASETS, HELP_DEVICES
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch

# Largest (decompressed) input accepted per format, far above the real files (nb201_final.csv: 7 MB; a NATS tss
# per-arch file: 0.33 MB; NASLib's nb201_*_full_training.pickle: 111 MB), so that a corrupt or hostile file
# (a 1 KB bz2 file can expand to gigabytes) is refused before it fills memory.
TABLE_FILE_LIMIT = 1 << 29
NATS_FILE_LIMIT = 1 << 26
NASLIB_FILE_LIMIT = 1 << 30


@dataclass(frozen=True)
class ColumnMap:
    """One table column → one metric of one dataset; ``seed_slot`` makes it a per-seed value."""

    column: str
    dataset: str
    metric: str
    scale: float = 1.0
    seed_slot: int | None = None

    @classmethod
    def parse(cls, text: str) -> ColumnMap:
        """``COLUMN=DATASET:METRIC[*SCALE]`` (``train_s=cifar10-valid:train_time*0.005``)."""
        column, sep, target = text.partition("=")
        dataset, sep2, metric = target.partition(":")
        metric, _, scale = metric.partition("*")
        if not (sep and sep2 and column and dataset and metric):
            raise BenchmarkError(f"bad column mapping {text!r}: write COLUMN=DATASET:METRIC[*SCALE]")
        try:
            factor = float(scale) if scale else 1.0
        except ValueError:
            raise BenchmarkError(f"bad scale in column mapping {text!r}: {scale!r} is not a number") from None
        if not (math.isfinite(factor) and factor != 0):  # nan, inf or 0 would store no information
            raise BenchmarkError(f"bad scale in column mapping {text!r}: give a finite, non-zero number")
        return cls(column, dataset, metric, factor)


def _nb201_final_mapping() -> tuple[ColumnMap, ...]:
    maps: list[ColumnMap] = []
    for prefix, valid_ds, test_ds in (
        ("c10", "cifar10-valid", "cifar10"),
        ("c100", "cifar100", "cifar100"),
        ("in16", "ImageNet16-120", "ImageNet16-120"),
    ):
        maps += [
            ColumnMap(f"{prefix}_val_acc_200", valid_ds, "valid_acc"),
            ColumnMap(f"{prefix}_test_acc_200", test_ds, "test_acc"),
            ColumnMap(f"{prefix}_val_acc_200_nats_mean", valid_ds, "valid_acc_nats"),
            *(
                ColumnMap(f"{prefix}_val_acc_200_nats_s{k + 1}", valid_ds, "valid_acc_nats", seed_slot=k)
                for k in range(3)
            ),
            ColumnMap(f"{prefix}_val_acc_12ep", valid_ds, "valid_acc_12ep"),
            ColumnMap(f"{prefix}_test_acc_12ep", test_ds, "test_acc_12ep"),
            # The table's 200-epoch time is for the model trained on valid_ds (c10: cifar10-valid, 25k images).
            ColumnMap(f"{prefix}_train_time_200ep_s", valid_ds, "train_time", scale=1 / 200),
        ]
        for ds in dict.fromkeys((valid_ds, test_ds)):  # cost fields belong to the network, shared by both c10 sets
            maps += [
                ColumnMap(f"{prefix}_latency_s", ds, "latency"),
                ColumnMap(f"{prefix}_params_M_nb201", ds, "params"),
                ColumnMap(f"{prefix}_params_M", ds, "params_exact"),
                ColumnMap(f"{prefix}_flops_M", ds, "flops"),
            ]
    maps.append(ColumnMap("c10_valtest_acc_200_v11", "cifar10-valid", "test_acc"))
    return tuple(maps)


NB201_FINAL_MAPPING: tuple[ColumnMap, ...] = _nb201_final_mapping()
"""``nb201_final.csv.gz`` columns → store metrics (the column meanings are in data/nb201/README.md)."""

HELP_LATENCY_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100")


def help_latency_mapping(datasets: Sequence[str] = HELP_LATENCY_DATASETS) -> tuple[ColumnMap, ...]:
    """HELP device columns → ``latency_<device>`` (ms). HELP measured 32×32 CIFAR-style inputs, so the
    default attaches them to the CIFAR datasets only, not to 16×16 ImageNet16-120."""
    return tuple(ColumnMap(d, ds, f"latency_{d}") for ds in datasets for d in HELP_DEVICES)


# --- tables --------------------------------------------------------------------------------------------------


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    data = read_maybe_compressed(path, TABLE_FILE_LIMIT, what="benchmark table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BenchmarkError(f"{path}: not a text table (not UTF-8); expected a CSV/TSV file") from None
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and first.count("\t") >= first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise BenchmarkError(f"{path}: malformed CSV ({exc})") from None
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise BenchmarkError(f"{path}: the table has no data rows")
    return rows[0], rows[1:]


def _arch_indices(path: Path, keys: Iterable[str], key_column: str) -> np.ndarray:
    out = []
    for line, key in enumerate(keys, start=2):
        try:
            out.append(NB201Arch.from_any(key).index if key_column != "index" else NB201Arch.from_index(int(key)).index)
        except (ArchError, ValueError) as exc:
            raise BenchmarkError(f"{path}, line {line}: bad architecture in column {key_column!r}: {exc}") from None
    indices = np.asarray(out, dtype=np.intp)
    unique, counts = np.unique(indices, return_counts=True)
    if (counts > 1).any():
        raise BenchmarkError(f"{path}: architecture index {int(unique[counts > 1][0])} appears more than once")
    return indices


def import_table(
    builder: StoreBuilder,
    path: str | os.PathLike,
    mapping: Sequence[ColumnMap],
    *,
    key: str = "arch_str",
    name: str = "table",
) -> int:
    """Import a CSV/TSV keyed by arch string (or ``key="index"``); returns the number of rows."""
    path = Path(path)
    header, rows = _read_rows(path)
    needed = [key, *dict.fromkeys(m.column for m in mapping)]
    missing = [c for c in needed if c not in header]
    if missing:
        have = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise BenchmarkError(f"{path}: missing column(s) {', '.join(missing)}; the file has {have}")
    for m in mapping:
        if m.dataset not in DATASETS:
            raise BenchmarkError(f"mapping {m.column}: unknown dataset {m.dataset!r}; datasets: {', '.join(DATASETS)}")
    position = {c: header.index(c) for c in needed}
    short = [n for n, r in enumerate(rows, start=2) if len(r) != len(header)]
    if short:
        raise BenchmarkError(f"{path}, line {short[0]}: {len(rows[short[0] - 2])} fields, the header has {len(header)}")
    indices = _arch_indices(path, (r[position[key]] for r in rows), key)
    columns: dict[str, np.ndarray] = {}
    for column in needed[1:]:
        values = np.empty(len(rows))
        for n, row in enumerate(rows):
            cell = row[position[column]].strip()
            try:
                values[n] = float(cell) if cell and cell.lower() != "nan" else math.nan
            except ValueError:
                raise BenchmarkError(f"{path}, line {n + 2}, column {column!r}: {cell!r} is not a number") from None
        columns[column] = values
    for m in mapping:
        if m.seed_slot is None:
            builder.set_scalar(m.dataset, m.metric, indices, columns[m.column] * m.scale)
    seeds: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    for m in mapping:
        if m.seed_slot is not None:
            seeds.setdefault((m.dataset, m.metric), {})[m.seed_slot] = columns[m.column] * m.scale
    for (ds, metric), slots in seeds.items():
        builder.set_seeds(ds, metric, indices, np.stack([slots[k] for k in sorted(slots)], axis=1))
    builder.add_provenance(name, path, rows=len(rows), columns=len(mapping))
    return len(rows)


def import_curves_csv(
    builder: StoreBuilder,
    path: str | os.PathLike,
    dataset: str = "cifar10-valid",
    columns: dict[str, str] | None = None,
    *,
    key: str = "arch_str",
) -> int:
    """Seed-mean curves, one list per cell (``"[27.2, 35.6, ...]"``); default: the thesis CSV's columns."""
    path = Path(path)
    columns = columns or {"train_accs": "train_acc", "val_accs": "valid_acc"}
    header, rows = _read_rows(path)
    missing = [c for c in (key, *columns) if c not in header]
    if missing:
        raise BenchmarkError(f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(header[:12])}")
    if dataset not in DATASETS:
        raise BenchmarkError(f"unknown dataset {dataset!r}; datasets: {', '.join(DATASETS)}")
    indices = _arch_indices(path, (r[header.index(key)] for r in rows), key)
    parsed: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for n, row in enumerate(rows, start=2):
        for column in columns:
            parsed[column].append(_parse_list(path, n, column, row[header.index(column)]))
    for column, metric in columns.items():
        for index, curve in zip(indices, parsed[column]):
            builder.set_curve(dataset, metric, int(index), curve)
    builder.add_provenance("curves-csv", path, rows=len(rows), dataset=dataset, columns=columns, seeds="mean only")
    return len(rows)


def _parse_list(path: Path, line: int, column: str, cell: str) -> np.ndarray:
    try:
        value = json.loads(cell)
    except ValueError:
        try:
            value = ast.literal_eval(cell)  # literals only; never evaluates code
        except (ValueError, SyntaxError):
            value = None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.ndim != 1 or array.size == 0:
        raise BenchmarkError(f"{path}, line {line}, column {column!r}: expected a list of numbers, got {cell[:40]!r}")
    return array


# --- NASLib's pickle -------------------------------------------------------------------------------------------

NASLIB_LISTS = ("train_acc1es", "train_losses", "eval_acc1es", "eval_losses")
NASLIB_COSTS = {"flops": "flops", "params": "params", "latency": "latency", "train_time": "train_time"}


def import_naslib_pickle(builder: StoreBuilder, path: str | os.PathLike, *, eval_split: str = "valid") -> str:
    """NASLib's ``{arch_str: {dataset_key: {train_acc1es, train_losses, eval_acc1es, eval_losses, cost_info}}}``.

    ``eval_acc1es[:n]`` (n = number of train epochs) is imported as the ``eval_split`` curve (NASLib calls
    it validation; it does not record the split). NB201 appends the final ``ori-test`` entry to the eval
    lists of ``cifar10-valid``, so there the one extra entry becomes ``test_acc``/``test_loss``; other extra
    entries are left out and counted in the provenance. Returns the dataset imported.
    """
    path = Path(path)
    data = safe_load_file(path, NASLIB_FILE_LIMIT, what="NASLib benchmark pickle")
    if not isinstance(data, dict) or not data:
        raise BenchmarkError(f"{path}: expected a dict arch_str -> results (NASLib format), got {type(data).__name__}")
    keys = {k for v in data.values() if isinstance(v, dict) for k in v}
    if len(keys) != 1 or next(iter(keys)) not in DATASETS:
        raise BenchmarkError(f"{path}: expected one dataset key ({', '.join(DATASETS)}) per arch, found {sorted(keys)}")
    dataset = next(iter(keys))
    bad_key = next((k for k in data if not isinstance(k, str)), None)
    if bad_key is not None:
        raise BenchmarkError(f"{path}: key {bad_key!r} is not an arch string (NASLib format: arch_str -> results)")
    indices = _arch_indices(path, data.keys(), "arch string key")
    lists: dict[str, list[list[float]]] = {k: [] for k in NASLIB_LISTS}
    costs: dict[str, list[float]] = {k: [] for k in NASLIB_COSTS}
    for arch_str, entry in data.items():
        record = entry.get(dataset) if isinstance(entry, dict) else None
        if not isinstance(record, dict):
            raise BenchmarkError(f"{path}: arch {arch_str} has no {dataset!r} record")
        for k in NASLIB_LISTS:
            if not isinstance(record.get(k), (list, tuple, np.ndarray)):
                raise BenchmarkError(f"{path}: arch {arch_str} {dataset} lacks the list {k!r} (NASLib format)")
            lists[k].append(record[k])
        cost = record.get("cost_info", {})
        if not isinstance(cost, dict):
            raise BenchmarkError(
                f"{path}: arch {arch_str} {dataset}: cost_info has type {type(cost).__name__}, expected dict"
            )
        for k in NASLIB_COSTS:
            try:
                costs[k].append(_number(cost.get(k, math.nan), f"cost_info[{k!r}]"))
            except _FieldError as exc:
                raise BenchmarkError(f"{path}: arch {arch_str} {dataset}: {exc}") from None
    arrays = {}
    for k, values in lists.items():
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise BenchmarkError(f"{path}: the {k} lists have different lengths {sorted(lengths)[:5]} across archs")
        try:
            arrays[k] = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise BenchmarkError(f"{path}: the {k} lists hold non-numeric values") from None
        if arrays[k].ndim != 2 or np.isinf(arrays[k]).any():
            raise BenchmarkError(f"{path}: the {k} lists must hold finite numbers, one per epoch")
    n = arrays["train_acc1es"].shape[1]
    extra = arrays["eval_acc1es"].shape[1] - n
    if arrays["train_losses"].shape[1] != n or arrays["eval_losses"].shape[1] != n + extra or extra < 0 or n == 0:
        raise BenchmarkError(f"{path}: list lengths do not fit the NASLib format (train {n}, eval {n + extra})")
    curves = {
        "train_acc": arrays["train_acc1es"],
        "train_loss": arrays["train_losses"],
        f"{eval_split}_acc": arrays["eval_acc1es"][:, :n],
        f"{eval_split}_loss": arrays["eval_losses"][:, :n],
    }
    for metric, table in curves.items():
        builder.set_scalar(dataset, metric, indices, table[:, -1])
        for index, curve in zip(indices, table):
            builder.set_curve(dataset, metric, int(index), curve)
    used_extra = 0
    if extra == 1 and dataset == "cifar10-valid":
        builder.set_scalar(dataset, "test_acc", indices, arrays["eval_acc1es"][:, n])
        builder.set_scalar(dataset, "test_loss", indices, arrays["eval_losses"][:, n])
        used_extra = 1
    for k, metric in NASLIB_COSTS.items():
        builder.set_scalar(dataset, metric, indices, np.asarray(costs[k]))
    builder.add_provenance(
        "naslib-pickle", path, dataset=dataset, archs=len(indices), epochs=n, eval_split=eval_split,
        extra_eval_entries=extra, extra_eval_entries_ignored=extra - used_extra, seeds="mean only",
    )  # fmt: skip
    return dataset


# --- NATS-Bench per-arch files ---------------------------------------------------------------------------------

# NB201's eval split names → our metric stems, per dataset (split semantics: nasforge.benchmarks.metrics).
NATS_SPLITS: dict[str, dict[str, str]] = {
    "cifar10-valid": {"x-valid": "valid", "ori-test": "test"},
    "cifar10": {"ori-test": "test"},
    "cifar100": {"x-valid": "valid", "x-test": "test", "ori-test": "ori_test"},
    "ImageNet16-120": {"x-valid": "valid", "x-test": "test", "ori-test": "ori_test"},
}
NATS_SCHEDULES = {"200": "", "12": "_12ep"}


NATS_META = "meta.pickle.pbz2"
"""The official NATS-Bench directory's file of arch strings (``meta_archs``), beside the per-arch files."""


def nats_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories to their ``*.pickle.pbz2`` / ``*.pickle`` files (the meta file included), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.name.endswith((".pickle.pbz2", ".pickle")))
        else:
            out.append(p)
    if not out:
        raise BenchmarkError("no NATS files given: pass NNNNNN.pickle.pbz2 files or a directory holding them")
    return out


def import_nats(builder: StoreBuilder, paths: Iterable[str | os.PathLike]) -> list[int]:
    """Import NATS-Bench tss files; returns the arch indices imported.

    Accepts per-arch files (``NNNNNN.pickle.pbz2``, the ``-simple`` format), the official directory holding
    them with its ``meta.pickle.pbz2``, and the one-file benchmark (``NATS-tss-v1_0-3ffb9.pickle.pbz2``: the
    meta fields plus every arch's records). A meta file's 15,625 arch strings are checked against the official
    index order nasforge ships; it adds no values.
    """
    files = nats_files(paths)
    parsed: list[tuple[Path, int, dict]] = []
    metas: list[tuple[Path, int]] = []
    for path in files:  # validate everything before adding anything
        data = safe_load_file(path, NATS_FILE_LIMIT, what="NATS-Bench file")
        if isinstance(data, dict) and "meta_archs" in data:
            metas.append((path, _check_meta(path, data)))
            for key, entry in (data.get("arch2infos") or {}).items():
                index, per_metric = _read_nats(path, entry, f"arch2infos[{key!r}]: ")
                parsed.append((path, index, per_metric))
        else:
            index, per_metric = _read_nats(path, data)
            parsed.append((path, index, per_metric))
    if not parsed:
        raise BenchmarkError(
            f"{files[0]}: a NATS-Bench meta file holds arch strings only, no results; import it with the per-arch "
            "NNNNNN.pickle.pbz2 files (pass their directory)"
        )
    for _, index, per_metric in parsed:
        for (ds, metric), seeds in per_metric.items():
            _add_nats_metric(builder, ds, metric, index, seeds)
    for path, count in metas:
        builder.add_provenance("nats-meta", path, meta_archs=count, index_order="checked")
    for path in dict.fromkeys(p for p, _, _ in parsed):
        builder.add_provenance("nats", path, arch_indices=[i for p, i, _ in parsed if p == path][:20])
    return [index for _, index, _ in parsed]


def _check_meta(path: Path, data: dict) -> int:
    """The number of arch strings in a NATS meta dict, after checking them against the official index order."""
    archs = data.get("meta_archs")
    if not isinstance(archs, (list, tuple)) or len(archs) != NUM_ARCHS:
        got = len(archs) if isinstance(archs, (list, tuple)) else type(archs).__name__
        raise BenchmarkError(f"{path}: 'meta_archs' must list the {NUM_ARCHS} tss arch strings, got {got}")
    infos = data.get("arch2infos")
    if infos is not None and not isinstance(infos, dict):
        raise BenchmarkError(f"{path}: 'arch2infos' has type {type(infos).__name__}, expected dict or None")
    for index, arch_str in enumerate(archs):
        if arch_str != NB201Arch.from_index(index).to_string():
            raise BenchmarkError(
                f"{path}: meta_archs[{index}] is {arch_str!r:.120}, but the official NB201 index {index} is "
                f"{NB201Arch.from_index(index)}; this is not the NATS-Bench tss meta file"
            )
    return len(archs)


def _read_nats(
    path: Path,
    data: Any,
    where: str = "",
    *,
    kind: str = "tss",
    schedules: dict[str, str] = NATS_SCHEDULES,
    parse_arch: Callable[[str], Any] = NB201Arch.parse,
    extras: Callable[..., None] | None = None,
) -> tuple[int, dict[tuple[str, str], dict[int, np.ndarray]]]:
    """(index, {(dataset, metric): {seed: per-epoch values, or one final value}}), every field checked.

    The one reader of NATS-Bench per-arch records, for both spaces: tss by default; the size space
    (:mod:`nasforge.benchmarks.nats_sss`) passes its ``schedules`` (hp -> metric suffix), arch parser and
    ``extras(out, ds, seed, record, hp, suffix, where, arch)`` for the fields only its records hold.
    """
    if not isinstance(data, dict) or not set(data) & set(schedules):
        got = sorted(map(repr, data))[:5] if isinstance(data, dict) else type(data).__name__
        keys = "/".join(f"'{hp}'" for hp in schedules)
        raise BenchmarkError(
            f"{path}: {where}not a NATS-Bench {kind} file (expected a dict with keys {keys} or a meta file with "
            f"'meta_archs', got {got})"
        )
    out: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    index = None
    try:
        for hp, suffix in schedules.items():
            if hp not in data:
                continue
            entry = _field(data, hp, dict, f"schedule {hp!r}")
            arch = parse_arch(_field(entry, "arch_str", str, f"schedule {hp!r}"))
            arch_index = _field(entry, "arch_index", int, f"schedule {hp!r}")
            if arch.index != arch_index or index not in (None, arch_index):
                raise _FieldError(f"arch_index {arch_index} does not match arch_str (official index {arch.index})")
            index = arch.index
            results = _field(entry, "all_results", dict, f"schedule {hp!r}")
            for key, rec in results.items():
                if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str) and is_int(key[1])):
                    raise _FieldError(f"schedule {hp!r}: all_results key {key!r} is not a (dataset, seed) pair")
                ds, seed = key[0], int(key[1])
                if ds not in NATS_SPLITS:
                    raise _FieldError(f"unknown dataset {ds!r} in all_results; known: {', '.join(DATASETS)}")
                where_rec = f"schedule {hp!r}, {ds} seed {seed}"
                if not isinstance(rec, dict):
                    raise _FieldError(f"{where_rec}: the record has type {type(rec).__name__}, expected dict")
                _read_nats_record(out, ds, seed, rec, hp, suffix, where_rec)
                if extras is not None:
                    extras(out, ds, seed, rec, hp, suffix, where_rec, arch)
        for (ds, metric), seeds in out.items():
            shapes = {s: v.shape for s, v in seeds.items()}
            if len(set(shapes.values())) > 1:
                lengths = ", ".join(f"seed {s}: {v[0] if v else 1}" for s, v in sorted(shapes.items()))
                raise _FieldError(f"{metric} on {ds} has per-seed lists of different lengths ({lengths})")
    except (_FieldError, ArchError) as exc:
        raise BenchmarkError(f"{path}: {where}malformed NATS-Bench {kind} file: {exc}") from None
    if index is None:
        raise BenchmarkError(f"{path}: {where}the file holds no schedule")
    return index, out


class _FieldError(Exception):
    """One malformed field of a benchmark file (becomes a BenchmarkError naming the file)."""


def _field(record: dict, key: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in record:
        raise _FieldError(f"{where}: the field {key!r} is missing")
    value = record[key]
    ok = is_int(value) if kind is int else isinstance(value, kind)
    if not ok:
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise _FieldError(f"{where}: {key!r} has type {type(value).__name__}, expected {expected}")
    return int(value) if kind is int else value


def _number(value: Any, where: str) -> float:
    """A real number; NaN passes (stored as 'not recorded'), infinities and non-numbers do not."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _FieldError(f"{where} is {value!r:.40}, not a number")
    number = float(value)
    if math.isinf(number):
        raise _FieldError(f"{where} is {number}, not a finite number")
    return number


def _series(record: dict, key: str, epochs: int, where: str) -> list[float]:
    """``record[key][e]`` for every epoch ``e`` (a dict keyed by epoch, or a list)."""
    values = _field(record, key, (dict, list, tuple), where)
    if len(values) < epochs or (isinstance(values, dict) and any(e not in values for e in range(epochs))):
        raise _FieldError(f"{where}: {key!r} holds {len(values)} epochs, the record says {epochs}")
    return [_number(values[e], f"{where}: {key}[{e}]") for e in range(epochs)]


def _read_nats_record(out: dict, ds: str, seed: int, rec: dict, hp: str, suffix: str, where: str) -> None:
    epochs = _field(rec, "epochs", int, where)
    if epochs != int(hp):
        raise _FieldError(f"{where}: 'epochs' is {epochs}, but the {hp!r} schedule trains {hp} epochs")

    def put(metric: str, values: Any) -> None:
        out.setdefault((ds, metric), {})[seed] = np.asarray(values, dtype=np.float64)

    put(f"train_acc{suffix}", _series(rec, "train_acc1es", epochs, where))
    put(f"train_loss{suffix}", _series(rec, "train_losses", epochs, where))
    evals = {key: _field(rec, key, dict, where) for key in ("eval_acc1es", "eval_losses")}
    points: dict[str, list[int]] = {}
    for name in evals["eval_acc1es"]:
        split, at, epoch = name.partition("@") if isinstance(name, str) else ("", "", "")
        if not (at and epoch.isdigit() and int(epoch) < epochs):
            raise _FieldError(f"{where}: eval key {name!r} is not 'split@epoch' with an epoch in 0..{epochs - 1}")
        if name not in evals["eval_losses"]:
            raise _FieldError(f"{where}: eval_acc1es has {name!r} but eval_losses does not")
        points.setdefault(split, []).append(int(epoch))
    for split, stem in NATS_SPLITS[ds].items():
        at = sorted(points.get(split, []))

        def value(kind: str, e: int, split: str = split) -> float:
            return _number(evals[kind][f"{split}@{e}"], f"{where}: {kind}[{split}@{e}]")

        if at == list(range(epochs)):  # a full curve
            put(f"{stem}_acc{suffix}", [value("eval_acc1es", e) for e in at])
            put(f"{stem}_loss{suffix}", [value("eval_losses", e) for e in at])
        elif at and at[-1] == epochs - 1:  # the final epoch only
            put(f"{stem}_acc{suffix}", value("eval_acc1es", epochs - 1))
            put(f"{stem}_loss{suffix}", value("eval_losses", epochs - 1))
    # NB201 times one epoch once and repeats the estimate every epoch, for every split (also those whose accuracy
    # is recorded at the last epoch only); kept per seed and epoch, so sums equal NATS's own accounting exactly.
    # A split timed at some epochs only is left out: NATS's own time totals fail on it too.
    put(f"train_time{suffix}", _series(rec, "train_times", epochs, where))
    times = _field(rec, "eval_times", dict, where)
    for split, stem in NATS_SPLITS[ds].items():
        if all(f"{split}@{e}" in times for e in range(epochs)):
            put(f"{stem}_time{suffix}", [_number(times[f"{split}@{e}"], f"{where}: eval_times") for e in range(epochs)])
    # costs belong to the network but are recorded per seed and schedule (and differ for a few archs: NATS's
    # "legacy issue"), so each is kept per seed
    put(f"params{suffix}", _number(rec.get("params"), f"{where}: params"))
    put(f"flops{suffix}", _number(rec.get("flop"), f"{where}: flop"))
    latency = rec.get("latency")
    if isinstance(latency, (list, tuple)) and latency:  # NATS's get_latency: the list's plain mean
        put(f"latency{suffix}", sum(_number(v, f"{where}: latency") for v in latency) / len(latency))
    else:
        put(f"latency{suffix}", _number(latency, f"{where}: latency"))
    if hp == "200":  # tss only (the size space's schedules are 01/12/90)
        valid = out.get((ds, "valid_acc"), {}).get(seed)
        if valid is not None:  # NATS's valid@199 is also the CSV's valid_acc_nats (same data version)
            put("valid_acc_nats", np.atleast_1d(valid)[-1])


_PER_NETWORK = frozenset(f"{m}{sfx}" for m in ("params", "flops", "latency") for sfx in NATS_SCHEDULES.values())


def _add_nats_metric(builder: StoreBuilder, ds: str, metric: str, index: int, seeds: dict[int, np.ndarray]) -> None:
    order = sorted(seeds)
    values = np.stack([seeds[s] for s in order])  # (n_seeds,) or (n_seeds, n_epochs)
    if metric in _PER_NETWORK:
        builder.set_scalar(ds, metric, np.array([index]), np.array([values.mean()]))
        builder.set_seeds(ds, metric, np.array([index]), values[None, :], np.array([order]))
        return
    final = values if values.ndim == 1 else values[:, -1]
    builder.set_scalar(ds, metric, np.array([index]), np.array([final.mean()]))
    builder.set_seeds(ds, metric, np.array([index]), final[None, :], np.array([order]))
    if values.ndim == 2:
        builder.set_curve(ds, metric, index, values.mean(axis=0), values, order)
