"""Many-seed comparisons of optimizers on the NB201 benchmark: final incumbents and anytime curves.

Each run is a complete benchmark-mode search (in-memory study, no database) on prebuilt
:class:`~nasforge.benchmarks.blackbox.LookupTables`; runs are spread over worker processes in chunks of seeds,
each chunk carrying the tables it needs (about 1 MB), so workers share no state. A run is summarised by
its incumbent's final test accuracy and its incumbent test accuracy on a grid of simulated times.
A setting's ``workers`` is the number of simulated workers each search runs with (asynchronous search on the
simulated clock, :mod:`nasforge.search.loop`), so 1 vs 4 vs 16 workers compare like any other setting.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from nasforge.benchmarks.blackbox import BenchmarkEvaluator, LookupTables, check_benchmark_dataset
from nasforge.errors import ConfigError
from nasforge.optimizers import create_optimizer, is_zc_variant, optimizer_class
from nasforge.optimizers.zerocost import warmup_seconds
from nasforge.search.loop import RunLimits, run
from nasforge.search.storage import MemoryStorage
from nasforge.search.study import improves
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Objective, TrialRecord

GRID_POINTS = 101
T = TypeVar("T")

PAPER_RESULTS: dict[tuple[str, float, str], tuple[float, float, str]] = {
    # (dataset, budget s, optimizer) -> (mean, std, source) of the incumbent's test accuracy
    ("cifar10", 12000.0, "rs"): (93.70, 0.36, "NB201 (Dong & Yang, ICLR 2020), Table 5"),
    ("cifar10", 12000.0, "rea"): (93.92, 0.30, "NB201 (Dong & Yang, ICLR 2020), Table 5"),
}


@dataclass(frozen=True)
class Setting:
    """One benchmark dataset searched under one simulated time budget (seconds)."""

    dataset: str
    time_budget: float
    eval_cost_epochs: float = 0.0  # extra epochs of training time charged per trial (the validation pass)
    workers: int = 1  # simulated workers per search

    def __post_init__(self) -> None:
        if not (isinstance(self.workers, int) and self.workers >= 1):
            raise ConfigError(f"simulated workers must be a whole number >= 1, got {self.workers!r}")
        check_benchmark_dataset(self.dataset)
        if not (math.isfinite(self.time_budget) and self.time_budget > 0):
            raise ConfigError(f"time budget {self.time_budget} for {self.dataset} must be a positive number of seconds")
        if not (math.isfinite(self.eval_cost_epochs) and self.eval_cost_epochs >= 0):
            raise ConfigError(f"evaluation cost {self.eval_cost_epochs} epochs must be a number >= 0")

    def label(self, unit: str = "s") -> str:
        """``cifar10 @ 12,000 s``; ``unit``: the clock's (``trials`` on nats-sss)."""
        extra = f", +{self.eval_cost_epochs:g} epochs/trial" if self.eval_cost_epochs else ""
        workers = f", {self.workers} workers" if self.workers > 1 else ""
        return f"{self.dataset} @ {format_budget(self.time_budget)} {unit}{extra}{workers}"


def format_budget(value: float, sep: str = ",") -> str:
    """A budget as a report prints it: whole numbers with thousands separators, others with every digit."""
    value = float(value)
    if value.is_integer():
        return f"{int(value):{sep}}" if sep else str(int(value))
    return f"{value:{sep}}" if sep else repr(value)


def first_trial_cost(tables: Any, eval_cost_epochs: float = 0.0) -> float:
    """The most a search's first trial can cost on ``tables`` (see :func:`run_search`), in the clock's units: NB201's
    costliest arch trained at the lowest fidelity plus ``eval_cost_epochs`` (seconds), or a nats-sss trial's 1.
    Every optimizer starts at the lowest fidelity, so a budget at least this large gives every seed a result."""
    if isinstance(tables, LookupTables):
        return float(np.nanmax(tables.train_time)) * (min(tables.objective) + eval_cost_epochs)
    return 1.0


def zc_warmup(optimizer: str, zc: Any, options: Mapping[str, Any] | None = None) -> float:
    """The most ``optimizer`` (with ``options``; a ``NAME+zc`` variant adds its ``zc_preset``) charges for its
    zero-cost warm-up before its first trial, on ``zc``'s seconds: 0 without a warm-up pool or scores."""
    options = dict(options or {})
    if is_zc_variant(optimizer):
        options = {**optimizer_class(optimizer).zc_preset, **options}
    pool = int(options.get("zc_pool") or 0)
    return warmup_seconds(zc, pool) if zc is not None and pool else 0.0


def _seconds_up(value: float) -> str:
    """``value`` rounded up to the hundredth (float noise below it ignored), as a message prints a least budget."""
    return format_budget(math.ceil(round(value * 100, 6)) / 100, "")


def check_budget_fits(tables: Any, time_budget: float, eval_cost_epochs: float = 0.0, warmup: float = 0.0,
                      warmup_by: str = "") -> None:  # fmt: skip
    """:class:`ConfigError` when a search of ``time_budget`` on ``tables`` could end before its first trial: its
    seed would have no incumbent, and a table's mean over seeds would be NaN. ``warmup``: the zero-cost warm-up
    seconds optimizer ``warmup_by`` charges before its first trial (:func:`zc_warmup`). A nats-sss budget counts
    trials: a fraction of one is refused too, not rounded. Shared by :func:`compare`,
    :func:`nasforge.search.mocompare.mo_compare` and ``nasforge search`` on the benchmark."""
    trial = first_trial_cost(tables, eval_cost_epochs)
    cost = trial + warmup
    if time_budget >= cost:
        if not isinstance(tables, LookupTables) and not float(time_budget).is_integer():
            raise ConfigError(f"--time-budget {format_budget(time_budget, '')} on {tables.dataset}: a nats-sss budget "
                              f"counts trials (each costs 1); give a whole number, e.g. {math.floor(time_budget)}")
        return
    need = _seconds_up(cost)
    budget, dataset = format_budget(time_budget, ""), tables.dataset
    if not isinstance(tables, LookupTables) and not warmup:
        raise ConfigError(f"a search of {budget} trials on {dataset} ends before its first trial: a trial costs 1; "
                          "give --time-budget >= 1")  # fmt: skip
    charge = f" + {eval_cost_epochs:g} of validation" if eval_cost_epochs else ""
    first = (f"the costliest arch costs {_seconds_up(trial)} s "
             f"({min(tables.objective)} epochs{charge})" if isinstance(tables, LookupTables) else "a trial costs 1")
    if warmup:
        first = (f"{warmup_by}'s zero-cost warm-up charges up to {_seconds_up(warmup)} "
                 f"s before it and {first}")  # fmt: skip
    raise ConfigError(f"a search of {budget} s on {dataset} can end before its first trial: {first}; "
                      f"give --time-budget >= {need}")  # fmt: skip


def check_zc_budget(tables: Any, time_budget: float, optimizers: Sequence[str], zc: Any,
                    eval_cost_epochs: float = 0.0) -> None:  # fmt: skip
    """:func:`check_budget_fits` for every optimizer in ``optimizers``, each with its zero-cost warm-up on ``zc``
    (the costliest warm-up decides)."""
    warmups = {name: zc_warmup(name, zc) for name in optimizers}
    costliest = max(warmups, key=lambda n: warmups[n], default="")
    check_budget_fits(tables, time_budget, eval_cost_epochs, warmups.get(costliest, 0.0), costliest)


@dataclass(frozen=True)
class Row:
    """All seeds of one optimizer in one setting: one row of the report's table."""

    optimizer: str
    setting: Setting
    seeds: tuple[int, ...]
    final_test: np.ndarray  # per seed
    n_trials: np.ndarray  # per seed
    grid: np.ndarray  # simulated seconds
    curves: np.ndarray  # seeds x grid, incumbent test accuracy (NaN before the first result)

    @property
    def mean(self) -> float:
        return float(np.mean(self.final_test))

    @property
    def std(self) -> float:
        return float(np.std(self.final_test))

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "dataset": self.setting.dataset,
            "time_budget": self.setting.time_budget,
            "eval_cost_epochs": self.setting.eval_cost_epochs,
            "workers": self.setting.workers,
            "seeds": len(self.seeds),
            "mean": self.mean,
            "std": self.std,
            "mean_trials": float(np.mean(self.n_trials)),
            "final_test": self.final_test.tolist(),
        }


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    optimizers: tuple[str, ...]
    settings: tuple[Setting, ...]
    workers: int
    metric: str = "test_acc"  # what Row.final_test and Row.curves hold: nats-sss has validation accuracy only

    def row(self, optimizer: str, setting: Setting) -> Row:
        return next(r for r in self.rows if r.optimizer == optimizer and r.setting == setting)

    @property
    def clock_unit(self) -> str:
        """The unit of the budgets and of the curves' grid: NB201's simulated seconds, or nats-sss's trials."""
        return "s" if self.metric == "test_acc" else "trials"


RunSummary = tuple[float, int, np.ndarray]
"""One run: the final incumbent's test accuracy, the number of trials, the incumbent's test accuracy on a grid."""


def run_search(
    tables: LookupTables,
    optimizer: str,
    seed: int,
    time_budget: float,
    grid: np.ndarray,
    eval_cost_epochs: float = 0.0,
    workers: int = 1,
    zc: Any = None,
) -> RunSummary:
    """One benchmark search with ``workers`` simulated workers: (incumbent's final test accuracy, number of
    trials, incumbent test on ``grid``). A ``NAME+zc`` optimizer gets ``zc`` (the dataset's
    :class:`~nasforge.optimizers.zerocost.ProxyScores`). ``tables`` may also be an
    :class:`~nasforge.benchmarks.nats_sss.SSSBenchmarkEvaluator` (the nats-sss space): then the reported value is
    the incumbent's 90-epoch validation accuracy (the space has no test accuracy) and the clock counts trials."""
    return _search(evaluator_of(tables, eval_cost_epochs), optimizer, seed, time_budget, grid, workers, zc)


def evaluator_of(
    tables: Any, eval_cost_epochs: float = 0.0, objectives: Sequence[Objective] = ()
) -> tuple[Any, str, str]:
    """(evaluator, space, reported metric) of ``tables`` (see :func:`run_search`): NB201's lookup evaluator, which
    reports the test accuracy, or the sss evaluator itself, which reports the validation accuracy it searches.
    ``objectives``: the evaluator scores them (a multi-objective search, :mod:`nasforge.search.mocompare`)."""
    if isinstance(tables, LookupTables):
        evaluator = BenchmarkEvaluator(dataset=tables.dataset, tables=tables, eval_cost_epochs=eval_cost_epochs,
                                       objectives=objectives)  # fmt: skip
        return evaluator, "nb201", "test_acc"
    # an sss evaluator: no test accuracy exists, the incumbent's searched validation accuracy is reported
    return (tables.with_objectives(objectives) if objectives else tables), "nats-sss", tables.objective


class _Track:
    """What compare keeps of a search (a :class:`~nasforge.search.loop.StudyState`): after each result, the clock and
    the incumbent (its reported metric is read at the grid's points only, :meth:`curve`). Nothing is stored: a
    compare run is summarised, never resumed or reported trial by trial (the trials and the starts the loop writes
    go to lists that live as long as the search)."""

    def __init__(self) -> None:
        self.storage = MemoryStorage({})
        self.trials: list[TrialRecord] = []
        self.clock = 0.0
        self.incumbent: TrialRecord | None = None
        self.clocks: list[float] = []
        self.incumbents: list[TrialRecord | None] = []

    def record(self, record: TrialRecord) -> None:
        self.trials.append(record)
        if record.sim_end > self.clock:  # the loop gives every trial its end on the simulated clock
            self.clock = record.sim_end
        if improves(record, self.incumbent):
            self.incumbent = record
        self.clocks.append(self.clock)
        self.incumbents.append(self.incumbent)

    def curve(self, grid: np.ndarray, metric: str) -> np.ndarray:
        """The incumbent's ``metric`` at each time of ``grid``: the incumbent after the last trial that finished by
        then (NaN before the first result)."""
        incumbents, values, last, value = self.incumbents, [], None, math.nan
        for p in (np.searchsorted(np.asarray(self.clocks), grid, side="right") - 1).tolist():
            best = incumbents[p] if p >= 0 else None
            if best is not last:  # the incumbent changes a few times a search: its metric is read once each
                last, value = best, math.nan if best is None else best.result.metrics[metric]
            values.append(value)
        return np.array(values, dtype=float)


def _search(
    evaluator: tuple[Any, str, str], optimizer: str, seed: int, time_budget: float, grid: np.ndarray, workers: int,
    zc: Any = None,
) -> RunSummary:
    evaluator, space, metric = evaluator
    track = _Track()
    options = {"zc": zc} if is_zc_variant(optimizer) else {}
    # replayed: a fresh optimizer has been told every trial of a study that has none.
    outcome = run(track, create_optimizer(optimizer, seed, space=space, **options), evaluator,
                  RunLimits(time_budget=time_budget, workers=workers), replayed=True)  # fmt: skip
    final = outcome.incumbent.result.metrics[metric] if outcome.incumbent is not None else math.nan
    return final, len(outcome.trials), track.curve(grid, metric)


def _run_chunk(task: tuple[Any, str, tuple[int, ...], Setting, np.ndarray, Any]) -> list[RunSummary]:
    tables, optimizer, seeds, setting, grid, zc = task
    # One evaluator for the chunk: its lookups are kept, and the chunk's searches meet the same archs.
    evaluator = evaluator_of(tables, setting.eval_cost_epochs)
    return [_search(evaluator, optimizer, s, setting.time_budget, grid, setting.workers, zc) for s in seeds]


def chunk_size(seeds: int, workers: int) -> int:
    """Seeds per task: two tasks per worker process, so that one slow chunk leaves the others busy."""
    return max(1, math.ceil(seeds / (2 * workers)))


def run_chunks(run_chunk: Callable[[Any], list[T]], tasks: Sequence[Any], workers: int,
               progress: Callable[[int], None] | None = None) -> list[list[T]]:  # fmt: skip
    """``run_chunk`` of every task (a chunk of seeds; a list of runs each), in order: in this process for one
    worker, else in ``workers`` forked processes. ``progress`` is told each chunk's number of runs."""
    results: list[list[T]] = []
    if workers == 1:
        chunks: Any = map(run_chunk, tasks)
        pool = contextlib.nullcontext()
    else:
        _ = NB201Arch.from_code(0).index  # builds NB201's arch and index tables once, here, for the forked workers
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        pool = context.Pool(workers)
        chunks = pool.imap(run_chunk, tasks)
    with pool:
        for result in chunks:
            results.append(result)
            if progress:
                progress(len(result))
    return results


def compare(
    tables: dict[str, Any],
    optimizers: Sequence[str],
    settings: Sequence[Setting],
    seeds: Sequence[int],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    zc: Mapping[str, Any] | None = None,
) -> Comparison:
    """Run every optimizer on every setting for every seed, on ``workers`` processes (default: all cores).
    ``tables`` maps each dataset to its :class:`LookupTables` (NB201) or sss evaluator (see :func:`run_search`);
    ``zc`` each dataset to the proxy scores its ``NAME+zc`` optimizers use."""
    for name in optimizers:
        optimizer_class(name)  # unknown names fail before any work starts
        if is_zc_variant(name) and not all(s.dataset in (zc or {}) for s in settings):
            raise ConfigError(f"{name} needs zero-cost proxy scores for every dataset (compare --zc PROXY)")
    for setting in settings:
        scores = (zc or {}).get(setting.dataset)
        check_zc_budget(tables[setting.dataset], setting.time_budget, optimizers, scores, setting.eval_cost_epochs)
        if isinstance(tables[setting.dataset], LookupTables) and tables[setting.dataset].report is None:
            raise ConfigError(f"the benchmark store has no test accuracy for {setting.dataset}: compare reports the "
                              "final incumbent's test accuracy; use a store that holds test_acc")  # fmt: skip
    workers = workers or os.cpu_count() or 1
    seeds = tuple(int(s) for s in seeds)
    chunk = chunk_size(len(seeds), workers)
    tasks, owners = [], []
    for setting in settings:
        grid = np.linspace(0.0, setting.time_budget, GRID_POINTS)
        for name in optimizers:
            for start in range(0, len(seeds), chunk):
                scores = (zc or {}).get(setting.dataset) if is_zc_variant(name) else None
                tasks.append((tables[setting.dataset], name, seeds[start : start + chunk], setting, grid, scores))
                owners.append((name, setting))
    results = run_chunks(_run_chunk, tasks, workers, progress)
    rows = []
    for setting in settings:
        grid = np.linspace(0.0, setting.time_budget, GRID_POINTS)
        for name in optimizers:
            runs = [run for owner, chunk_runs in zip(owners, results) if owner == (name, setting) for run in chunk_runs]
            rows.append(
                Row(
                    optimizer=name,
                    setting=setting,
                    seeds=seeds,
                    final_test=np.array([r[0] for r in runs]),
                    n_trials=np.array([r[1] for r in runs]),
                    grid=grid,
                    curves=np.stack([r[2] for r in runs]),
                )
            )
    metric = "test_acc" if all(isinstance(t, LookupTables) for t in tables.values()) else "valid_acc_90ep_s777"
    return Comparison(tuple(rows), tuple(optimizers), tuple(settings), workers, metric)


def markdown_table(comparison: Comparison) -> str:
    """Mean ± std (over seeds, ddof=0) of the incumbent's final test accuracy, with paper rows beside."""
    # The workers column appears only when some search ran with simulated parallel workers.
    parallel = any(s.workers > 1 for s in comparison.settings)
    workers_head, workers_rule = (" workers |", "---:|") if parallel else ("", "")
    label = "test acc." if comparison.metric == "test_acc" else f"validation acc. `{comparison.metric}`"
    # nats-sss charges 1 per trial (its budget counts trials) and has no validation charge.
    sss = comparison.clock_unit == "trials"
    budget_head, charge_head, charge_rule = (
        ("budget (trials)", "", "") if sss else ("budget (s)", " validation charge (epochs) |", "---:|")
    )
    lines = [
        f"| dataset | {budget_head} |{charge_head} optimizer |{workers_head} {label} (%) mean ± std "
        "| trials (mean) | paper | Δ vs paper |",
        f"|---|---:|{charge_rule}---|{workers_rule}---:|---:|---:|---:|",
    ]
    for setting in comparison.settings:
        for name in comparison.optimizers:
            c = comparison.row(name, setting)
            # The paper's numbers are for one worker.
            paper = PAPER_RESULTS.get((setting.dataset, float(setting.time_budget), name))
            paper = paper if setting.workers == 1 else None
            paper_text = f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else ""
            delta = f"{c.mean - paper[0]:+.2f}" if paper else ""
            workers = f" {setting.workers} |" if parallel else ""
            charge = "" if sss else f" {setting.eval_cost_epochs:g} |"
            lines.append(
                f"| {setting.dataset} | {format_budget(setting.time_budget)} |{charge} {name} |{workers} "
                f"{c.mean:.2f} ± {c.std:.2f} | "
                f"{np.mean(c.n_trials):.1f} | {paper_text} | {delta} |"
            )
    return "\n".join(lines)
