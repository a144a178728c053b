"""The NATS-Bench size-space (sss) benchmark: importers into a store with ``space="nats-sss"`` (32,768 rows).

Sources (see ``data/nats_sss/README.md`` and docs/nats_sss.md):

* :func:`import_sss_table` — ``nats_sss_valid90_s777.csv.gz``: for every arch, the **90-epoch validation
  accuracy of training seed 777** (NATS ``hp='90'``, ``x-valid@89``) on CIFAR-10 (``cifar10-valid``, the net
  trained on 25k images), CIFAR-100 and ImageNet16-120. Stored as ``valid_acc_90ep_s777``: a validation
  accuracy, one seed, never a test accuracy or a seed mean. No source holds test accuracies for all archs.
* :func:`import_sss_files` — NATS's official per-arch ``NNNNNN.pickle.pbz2`` files (schedules ``01``, ``12``,
  ``90``; every split, seed and epoch: curves, per-seed values, params, FLOPs, latency, train and eval times)
  and its ``meta.pickle.pbz2`` (all 32,768 arch strings, each checked against :class:`SSSArch`).
* :func:`import_sss_costs` — parameters and FLOPs of every network, counted by the caller (this package does
  not import torch: pass :func:`nasforge.spaces.nats_sss_model.cost_table`).

Metric names: the schedule is a suffix (``_90ep``, ``_12ep``, ``_01ep``), as NB201's ``_12ep`` metrics; the
split stems are NB201's (:data:`nasforge.benchmarks.importers.NATS_SPLITS`).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.benchmarks._unpickle import safe_load_file
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.importers import (
    NATS_FILE_LIMIT,
    NATS_SPLITS,
    _add_nats_metric,
    _field,
    _FieldError,
    _number,
    _read_nats,
    _read_rows,
    _series,
    nats_files,
)
from nasforge.benchmarks.store import BenchmarkStore, open_store
from nasforge.errors import ArchError, BenchmarkError
from nasforge.objectives import Constraint, format_objectives
from nasforge.spaces import nats_sss
from nasforge.spaces.nats_sss import SPACE_NAME, SSSArch
from nasforge.trial import Direction, Objective

SSS_SCHEDULES: dict[str, str] = {"01": "_01ep", "12": "_12ep", "90": "_90ep"}
"""NATS's sss schedules (``hp``) → the metric suffix."""
SSS_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
OBJECTIVE = "valid_acc_90ep_s777"
"""The one accuracy known for every sss arch: 90-epoch schedule, validation split, training seed 777."""
SSS_TABLE_COLUMNS: dict[str, str] = {
    "c10valid_val_acc_90ep_s777": "cifar10-valid",
    "c100_val_acc_90ep_s777": "cifar100",
    "in16_val_acc_90ep_s777": "ImageNet16-120",
}
"""``nats_sss_valid90_s777.csv.gz`` accuracy columns → dataset (all stored as :data:`OBJECTIVE`)."""
_SEED = 777


def sss_builder() -> StoreBuilder:
    """An empty builder for an sss store (32,768 rows by official sss index)."""
    return StoreBuilder(nats_sss.NUM_ARCHS, SPACE_NAME)


def check_sss_builder(builder: StoreBuilder) -> None:
    """Refuse to mix sss sources into a store of another space (e.g. ``--merge`` into an NB201 store)."""
    if builder.space != SPACE_NAME or builder.num_archs != nats_sss.NUM_ARCHS:
        raise BenchmarkError(
            f"the store is a {builder.space!r} store of {builder.num_archs} archs; NATS sss sources go into a "
            f"{SPACE_NAME!r} store: choose another -o"
        )


# --- the 90-epoch validation table -----------------------------------------------------------------------------


def import_sss_table(builder: StoreBuilder, path: str | os.PathLike) -> int:
    """Import ``nats_sss_valid90_s777.csv.gz`` (or a subset of its rows); returns the number of rows.

    Every row's ``index`` must be the official index of its ``arch_str``; accuracies are percentages.
    """
    check_sss_builder(builder)
    path = Path(path)
    header, rows = _read_rows(path)
    needed = ["index", "arch_str", *SSS_TABLE_COLUMNS]
    missing = [c for c in needed if c not in header]
    if missing:
        raise BenchmarkError(f"{path}: missing column(s) {', '.join(missing)}; the file has {', '.join(header[:8])}")
    at = {c: header.index(c) for c in needed}
    indices = np.empty(len(rows), np.intp)
    values = np.empty((len(rows), len(SSS_TABLE_COLUMNS)))
    for n, row in enumerate(rows):
        line = n + 2
        if len(row) != len(header):
            raise BenchmarkError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            arch = SSSArch.parse(row[at["arch_str"]])
        except ArchError as exc:
            raise BenchmarkError(f"{path}, line {line}: {exc}") from None
        if row[at["index"]].strip() != str(arch.index):
            raise BenchmarkError(
                f"{path}, line {line}: index {row[at['index']]!r} is not the official index of {arch} ({arch.index})"
            )
        indices[n] = arch.index
        for k, column in enumerate(SSS_TABLE_COLUMNS):
            values[n, k] = _percent(path, line, column, row[at[column]])
    unique, counts = np.unique(indices, return_counts=True)
    if (counts > 1).any():
        raise BenchmarkError(f"{path}: architecture index {int(unique[counts > 1][0])} appears more than once")
    for k, dataset in enumerate(SSS_TABLE_COLUMNS.values()):
        builder.set_scalar(dataset, OBJECTIVE, indices, values[:, k])
        builder.set_seeds(dataset, OBJECTIVE, indices, values[:, k : k + 1], np.full((len(rows), 1), _SEED))
    builder.add_provenance(
        "nats-sss-table", path, rows=len(rows), metric=OBJECTIVE, split="x-valid", schedule="90", seed=_SEED
    )
    return len(rows)


def _percent(path: Path, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise BenchmarkError(f"{path}, line {line}, column {column!r}: {cell!r} is not a number") from None
    if not 0.0 <= value <= 100.0:  # also refuses nan and inf
        raise BenchmarkError(f"{path}, line {line}, column {column!r}: {cell!r} is not an accuracy in 0..100 (%)")
    return value


# --- computed costs --------------------------------------------------------------------------------------------

CostTable = Callable[[str], tuple[np.ndarray, np.ndarray]]
"""dataset → (parameters, multiply-accumulates) of all 32,768 networks by official index (integers)."""


def import_sss_costs(builder: StoreBuilder, costs: CostTable, datasets: Iterable[str] = SSS_DATASETS) -> None:
    """Store ``params`` (millions) and ``flops`` (MFLOPs, NATS's counting) of every arch on ``datasets``."""
    check_sss_builder(builder)
    every = np.arange(nats_sss.NUM_ARCHS)
    for dataset in datasets:
        params, macs = costs(dataset)
        builder.set_scalar(dataset, "params", every, np.asarray(params, np.float64) / 1e6)
        builder.set_scalar(dataset, "flops", every, np.asarray(macs, np.float64) / 1e6)
    source = f"{getattr(costs, '__module__', '?')}.{getattr(costs, '__qualname__', '?')}"
    builder.add_provenance("nats-sss-costs", None, counted_by=source, archs=nats_sss.NUM_ARCHS)


# --- the official per-arch files and meta file -------------------------------------------------------------------


def import_sss_files(builder: StoreBuilder, paths: Iterable[str | os.PathLike]) -> list[int]:
    """Import NATS sss per-arch files and/or its meta file (directories are expanded); returns arch indices.

    Everything is validated before anything is added. Per arch and dataset: train/eval accuracy (top-1;
    train top-5 too) and loss per split as curves, per-seed finals and seed means, for each schedule
    (``_01ep``, ``_12ep``, ``_90ep``); ``params``/``flops`` (which must equal what the network counts —
    :mod:`nasforge.spaces.nats_sss_model`), ``latency`` (s), ``train_time<sched>`` (s/epoch) and
    ``<split>_eval_time<sched>`` (s per evaluation pass); and ``valid_acc_90ep_s777``.
    """
    check_sss_builder(builder)
    files = nats_files(paths)
    parsed = [_read_sss(p) for p in files]
    imported = []
    for p, (index, per_metric) in zip(files, parsed):
        if index is None:
            builder.add_provenance("nats-sss-meta", p, archs=nats_sss.NUM_ARCHS, checked="index <-> arch string")
            continue
        for (ds, metric), seeds in per_metric.items():
            _add_nats_metric(builder, ds, metric, index, seeds)
            if metric == "valid_acc_90ep" and _SEED in seeds:
                value = np.atleast_1d(seeds[_SEED])[-1]
                builder.set_seeds(ds, OBJECTIVE, np.array([index]), np.array([[value]]), np.array([[_SEED]]))
                builder.set_scalar(ds, OBJECTIVE, np.array([index]), np.array([value]))
        builder.add_provenance("nats-sss", p, arch_index=index)
        imported.append(index)
    return imported


def is_sss_file(path: str | os.PathLike) -> bool:
    """Whether a NATS ``*.pickle.pbz2`` file (or the first one in a directory) is an sss file, not tss."""
    first = nats_files([path])[0]
    data = safe_load_file(first, NATS_FILE_LIMIT, what="NATS-Bench file")
    if isinstance(data, dict) and "meta_archs" in data:
        archs = data["meta_archs"]
        return isinstance(archs, list) and bool(archs) and isinstance(archs[0], str) and ":" in archs[0]
    return isinstance(data, dict) and ("90" in data or "01" in data)


_PerMetric = dict[tuple[str, str], dict[int, np.ndarray]]


def _read_sss(path: Path) -> tuple[int | None, _PerMetric]:
    data = safe_load_file(path, NATS_FILE_LIMIT, what="NATS-Bench sss file")
    if isinstance(data, dict) and "meta_archs" in data:
        _check_meta(path, data)
        return None, {}
    if isinstance(data, dict) and "200" in data:  # only tss has the 200-epoch schedule
        raise BenchmarkError(f"{path}: a NATS-Bench tss (topology) file, not an sss file: import it into NB201 stores")
    return _read_nats(path, data, kind="sss", schedules=SSS_SCHEDULES, parse_arch=SSSArch.parse,
                      extras=_read_sss_extras)  # fmt: skip


def _read_sss_extras(
    out: _PerMetric, ds: str, seed: int, rec: dict, hp: str, suffix: str, where: str, arch: SSSArch
) -> None:
    """What NATS's sss records hold beyond the shared record reader's fields: top-5, mean eval times, costs
    per network, the config (the per-epoch train and eval times are the shared reader's ``*_time`` curves)."""
    epochs = int(hp)

    def put(metric: str, values: Any) -> None:
        out.setdefault((ds, metric), {})[seed] = np.asarray(values, dtype=np.float64)

    config = _field(rec, "arch_config", dict, where)
    if config.get("channels") != arch.to_string() or config.get("genotype") != nats_sss.GENOTYPE:
        raise _FieldError(f"{where}: arch_config {config!r:.120} is not {arch} with the sss cell {nats_sss.GENOTYPE}")
    put(f"train_acc5{suffix}", _series(rec, "train_acc5es", epochs, where))
    eval_times = _field(rec, "eval_times", dict, where)
    for split, stem in NATS_SPLITS[ds].items():
        times = [_number(v, f"{where}: eval_times[{k}]") for k, v in eval_times.items()
                 if str(k).startswith(f"{split}@")]  # fmt: skip
        if times:
            put(f"{stem}_eval_time{suffix}", float(np.mean(times)))
    if hp == "90":  # costs are per network; every schedule repeats them
        put("params", _number(rec.get("params"), f"{where}: params"))
        put("flops", _number(rec.get("flop"), f"{where}: flop"))
        latency = _field(rec, "latency", (list, tuple), where)
        put("latency", float(np.mean([_number(v, f"{where}: latency") for v in latency])) if latency else math.nan)


def _check_meta(path: Path, data: dict) -> None:
    archs = data.get("meta_archs")
    if not isinstance(archs, list) or len(archs) != nats_sss.NUM_ARCHS:
        count = len(archs) if isinstance(archs, list) else type(archs).__name__
        raise BenchmarkError(f"{path}: meta_archs holds {count} entries, NATS sss has {nats_sss.NUM_ARCHS}")
    for index, text in enumerate(archs):
        try:
            ok = isinstance(text, str) and SSSArch.parse(text).index == index
        except ArchError:
            ok = False
        if not ok:
            raise BenchmarkError(f"{path}: meta_archs[{index}] is {text!r:.40}, not the sss arch of index {index}")


# --- the whole sss folder ---------------------------------------------------------------------------------------

TABLE_NAME = "nats_sss_valid90_s777.csv.gz"
RAW_DIR = "raw"


def sss_sources(sss_dir: str | os.PathLike) -> list[Path]:
    """The files :func:`build_sss_store` reads from a ``nats_sss/`` data folder: the table, then NATS files."""
    sss_dir = Path(sss_dir)
    if not (sss_dir / TABLE_NAME).is_file():
        raise BenchmarkError(f"{sss_dir / TABLE_NAME} not found: point --data-dir at the folder holding nats_sss/")
    raw = sss_dir / RAW_DIR
    has_raw = raw.is_dir() and any(q.name.endswith(".pickle.pbz2") for q in raw.iterdir())
    return [sss_dir / TABLE_NAME, *(nats_files([raw]) if has_raw else [])]


def build_sss_store(
    sss_dir: str | os.PathLike, out: str | os.PathLike, costs: CostTable, *, overwrite: bool = False
) -> Path:
    """One store from a ``nats_sss/`` folder: the 90-epoch table, the official files and computed costs."""
    sources = sss_sources(sss_dir)
    builder = sss_builder()
    import_sss_costs(builder, costs)
    import_sss_table(builder, sources[0])
    if sources[1:]:
        import_sss_files(builder, sources[1:])
    return builder.write(out, overwrite=overwrite)


def load_sss(
    data_dir: str | os.PathLike | None = None, store: str | os.PathLike | None = None, *, costs: CostTable
) -> BenchmarkStore:
    """The sss store: ``store`` if given, else ``<data>/nats_sss/store``, else one built once into the cache
    from ``<data>/nats_sss/`` (as :func:`nasforge.benchmarks.nb201.load_nb201` does for NB201)."""
    from nasforge.benchmarks.nb201 import _cache_key, cached_store, source_tag
    from nasforge.paths import data_dir as _data_dir

    if store is not None:
        opened = open_store(store)
        if opened.manifest["space"] != SPACE_NAME:
            raise BenchmarkError(f"{store} is a {opened.manifest['space']!r} store, not a {SPACE_NAME!r} one")
        return opened
    root = _data_dir(data_dir)
    if root is None:
        raise BenchmarkError(
            "no sss store: pass --store STORE (built with 'nasforge bench import nats-sss -o STORE') or "
            "--data-dir DATA holding nats_sss/"
        )
    sss_dir = root / "nats_sss"
    if (sss_dir / "store").is_dir():
        return open_store(sss_dir / "store")
    key = _cache_key(sss_sources(sss_dir))
    return cached_store(f"nats-sss-{source_tag(sss_dir)}", key,
                        lambda path, overwrite: build_sss_store(sss_dir, path, costs, overwrite=overwrite))  # fmt: skip


# --- black-box search on the sss benchmark ----------------------------------------------------------------------

SEARCH_DATASETS: dict[str, str] = {
    "cifar10": "cifar10-valid",
    "cifar100": "cifar100",
    "ImageNet16-120": "ImageNet16-120",
}
"""Benchmark dataset → the store dataset searched (CIFAR-10: the net trained on 25k images, validated on 25k)."""
TRIAL_COST = 1.0
"""What each sss lookup charges the clock: one unit per trial, so a budget counts evaluations. NATS's training
times exist for 3 of the 32,768 archs only; a simulated-seconds clock would have to invent the rest."""


WHOLE_SPACE_METRICS: tuple[str, ...] = (OBJECTIVE, "params", "flops")
"""The sss metrics known for every one of the 32,768 archs (the rest are in NATS's 3 official files only)."""


def sss_columns(store: BenchmarkStore, dataset: str, metrics: Iterable[str]) -> dict[str, np.ndarray]:
    """Each of ``metrics`` on ``dataset`` for all 32,768 archs (index order, read-only). Only
    :data:`WHOLE_SPACE_METRICS` qualify: any other name raises :class:`BenchmarkError` naming those (a metric of
    the 3 official files only, e.g. ``test_acc_90ep``, would make a "front" of 3 archs)."""
    have = store.metrics(dataset) if dataset in store.datasets else ()
    out: dict[str, np.ndarray] = {}
    for metric in dict.fromkeys(metrics):
        if metric not in WHOLE_SPACE_METRICS or metric not in have:
            known = "known for 3 archs only (NATS's official files)" if metric in have else "not in the sss store"
            raise BenchmarkError(
                f"metric {metric!r} on {dataset} is {known}; for all {nats_sss.NUM_ARCHS} sss archs it has "
                f"{', '.join(m for m in WHOLE_SPACE_METRICS if m in have)} ({OBJECTIVE}: 90-epoch validation "
                "accuracy of seed 777, %; params: M; flops: MFLOPs; no test accuracy exists for the space)"
            )
        values = store.query_many(np.arange(nats_sss.NUM_ARCHS), dataset, metric, missing="nan")
        values.setflags(write=False)
        out[metric] = values
    return out


class SSSBenchmarkEvaluator:
    """Request → Result by lookup in an sss store: the objective is :data:`OBJECTIVE` (90-epoch validation
    accuracy, seed 777, in %), each trial costs :data:`TRIAL_COST`; metrics add ``params`` (M) and ``flops`` (M).

    ``objectives`` (named, with directions) and ``constraints`` may name :data:`WHOLE_SPACE_METRICS` (e.g.
    ``valid_acc_90ep_s777:max,params:min``): each result then carries them in ``values`` and ``constraints``, and
    its scalar ``objective`` is the first named objective, negated when minimised (as
    :class:`~nasforge.benchmarks.blackbox.BenchmarkEvaluator`). :attr:`columns` holds those metrics' arrays.

    The same protocol as :class:`nasforge.benchmarks.blackbox.BenchmarkEvaluator` (``evaluate``, ``predicted_cost``,
    ``config``, ``default_fidelity``, ``simulated_clock``), so :class:`nasforge.search.study.Study` runs it. No test
    accuracy exists for the space, so nothing is reported beside the validation accuracy searched.
    """

    default_fidelity = 90
    fidelities = (90,)  # one schedule: a multi-fidelity optimizer (hb, sh) is refused before the search starts
    simulated_clock = True
    clock_unit = "trials"  # each trial costs TRIAL_COST: the clock, its budgets and its plots count trials

    def __init__(
        self,
        store: BenchmarkStore,
        dataset: str = "cifar10",
        *,
        objective: str = OBJECTIVE,
        objectives: Sequence[Objective] = (),
        constraints: Sequence[Constraint] = (),
    ) -> None:
        if dataset not in SEARCH_DATASETS:
            raise BenchmarkError(f"unknown sss benchmark dataset {dataset!r}; known: {', '.join(SEARCH_DATASETS)}")
        if store.manifest["space"] != SPACE_NAME:
            raise BenchmarkError(f"{store.path} is a {store.manifest['space']!r} store, not a {SPACE_NAME!r} one")
        self.dataset, self.search_dataset, self.objective = dataset, SEARCH_DATASETS[dataset], objective
        if objective not in store.metrics(self.search_dataset) or "test" in objective:
            have = [m for m in store.metrics(self.search_dataset) if m.startswith("valid_acc")]
            raise BenchmarkError(
                f"objective {objective!r} is not a validation accuracy of the sss store on {self.search_dataset}; "
                f"it has {', '.join(have) or 'none'} (no test accuracy exists for the space)"
            )
        every = np.arange(nats_sss.NUM_ARCHS)
        self.values = store.query_many(every, self.search_dataset, objective, missing="nan")
        self.params = store.query_many(every, self.search_dataset, "params", missing="nan")
        self.flops = store.query_many(every, self.search_dataset, "flops", missing="nan")
        self.objectives, self.constraints = tuple(objectives), tuple(constraints)
        named = [o.name for o in self.objectives] + [c.metric for c in self.constraints]
        self.columns = sss_columns(store, self.search_dataset, dict.fromkeys([*WHOLE_SPACE_METRICS, *named]))
        if self.constraints:
            from nasforge.benchmarks.blackbox import check_satisfiable

            check_satisfiable([(c, self.columns[c.metric]) for c in self.constraints], self.search_dataset)

    def with_objectives(self, objectives: Sequence[Objective]) -> SSSBenchmarkEvaluator:
        """This evaluator (same arrays) scoring ``objectives``: what a multi-objective compare ships per set."""
        named = [o.name for o in objectives if o.name not in self.columns]
        if named:
            raise BenchmarkError(f"objective {named[0]!r} is not one of {', '.join(self.columns)}")
        other = copy.copy(self)
        other.objectives = tuple(objectives)
        return other

    def predicted_cost(self, request: Any) -> float:
        return TRIAL_COST

    def evaluate(self, request: Any) -> Any:
        from nasforge.trial import Result

        if request.fidelity not in (None, self.default_fidelity):
            raise BenchmarkError(f"the sss benchmark has one fidelity, 90 epochs; got {request.fidelity}")
        if not isinstance(request.arch, SSSArch):  # an optimizer of another space: its index means another arch
            raise BenchmarkError(f"the sss benchmark evaluates sss archs, got {type(request.arch).__name__} "
                                 f"{request.arch}: create the optimizer with space='{SPACE_NAME}'")  # fmt: skip
        index = request.arch.index
        value = float(self.values[index])
        if math.isnan(value):
            return Result.fail(f"the store records no {self.objective} for sss arch {index} on {self.search_dataset}")
        metrics = {self.objective: value, "params": float(self.params[index]), "flops": float(self.flops[index])}
        if not (self.objectives or self.constraints):
            return Result.complete(value, cost=TRIAL_COST, metrics=metrics)
        values = {o.name: float(self.columns[o.name][index]) for o in self.objectives}
        limits = {c.name: c.violation(float(self.columns[c.metric][index])) for c in self.constraints}
        first = self.objectives[0] if self.objectives else None
        scalar = value if first is None else values[first.name] * (1.0 if first.direction is Direction.MAXIMIZE
                                                                   else -1.0)  # fmt: skip
        return Result.complete(scalar, cost=TRIAL_COST, metrics=metrics, values=values, constraints=limits)

    def test_report(self, arch: Any) -> None:
        """No test accuracy exists for the space: nothing to report beside the validation accuracy searched."""
        return None

    def config(self) -> dict[str, Any]:
        # The keys of BenchmarkEvaluator.config() that a resumed search reads back (SearchSettings.stored):
        # the objective per fidelity, and no extra validation epochs (a trial's cost is fixed).
        return {
            "kind": "benchmark",
            "benchmark": SPACE_NAME,
            "dataset": self.dataset,
            "search_dataset": self.search_dataset,
            "objective": {self.default_fidelity: self.objective},
            "default_fidelity": self.default_fidelity,
            "cost": f"{TRIAL_COST:g} per trial (no training times for 32,765 of the 32,768 archs)",
            "eval_cost_epochs": 0.0,
            **({"objectives": format_objectives(self.objectives)} if self.objectives else {}),
            **({"constraints": [c.name for c in self.constraints]} if self.constraints else {}),
        }
