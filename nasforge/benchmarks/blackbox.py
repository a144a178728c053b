"""NB201 as a black box: ``objective_function(arch, fidelity, seed) -> metrics + cost``, beside the benchmark data.

:func:`BenchmarkEvaluator.objective_function` is the lookup protocol (Syne Tune's tabular blackbox shape): a flat
dict of the metrics NB201 records for an arch at a fidelity, with the seconds it charges (``cost``).
:class:`BenchmarkEvaluator` is that protocol as a search evaluator (a :class:`~nasforge.trial.Request` in, a
:class:`~nasforge.trial.Result` out) and follows the protocol of the NB201 and NATS-Bench papers on a simulated clock:

* the search objective is the validation accuracy of the **separate 12-epoch schedule** (NB201 ``hp='12'``),
  on ``cifar10-valid``'s ``x-valid`` for CIFAR-10 (the net trained on half the training set) and on
  ``x-valid`` for CIFAR-100 / ImageNet16-120;
* each evaluation charges NB201's recorded training time of those epochs (per-epoch ``train_time`` x 12)
  to the clock. NB201/NATS also add one validation pass (``valid-per-time``, about 3 % of the charge);
  the available data hold it for 3 archs only (0.33-0.49 of a training epoch there), so by default nasforge
  charges training time only; ``eval_cost_epochs`` adds that many epochs of training time per trial;
* the reported number is the **200-epoch test accuracy** of the incumbent, on CIFAR-10's ``ori-test`` for
  the net trained on the full training set (``cifar10``), or on ``x-test`` for the other two.

Fidelity 200 (Hyperband's high fidelity) reads the 200-epoch validation accuracy and charges 200 epochs.

Another **objective** can be chosen (``objective="valid_acc"``, any accuracy the store holds on the searched
dataset except test accuracies, which are what a search reports). Its schedule is its fidelity: ``*_12ep``
metrics are the 12-epoch schedule, the others the 200-epoch one; the other schedule's twin
(``valid_acc`` <-> ``valid_acc_12ep``) is the second fidelity when the store holds it. So a store built from
the seed's NASLib-format pickle (200-epoch curves only, no 12-epoch schedule) is searched with
``objective="valid_acc"`` at fidelity 200. The clock still charges NB201's per-epoch ``train_time`` (NB201
records one per-epoch time per arch, the same for both schedules; the seed's ``cost_info['train_time']``)
times the epochs of the fidelity: 200 epochs per trial there. The reported test accuracy is the report
dataset's ``test_acc`` (``cifar10``'s for CIFAR-10); a store without it falls back to the searched dataset's
``test_acc`` (on ``cifar10-valid``: ``ori-test`` of the net trained on 25k images), else none is reported.

All lookups are gathered into :class:`LookupTables` once (vectorized ``query_many``), so an evaluation is
a few array reads. The training evaluator is :class:`nasforge.search.evaluators.TrainEvaluator`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nasforge.benchmarks.metrics import metric_unit
from nasforge.errors import BenchmarkError, ConfigError
from nasforge.objectives import Constraint, format_objectives
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch
from nasforge.trial import Direction, Objective, Request, Result

BENCHMARK_DATASETS: Mapping[str, tuple[str, str]] = {
    # dataset -> (dataset searched on, dataset whose test accuracy is reported)
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120"),
}
FIDELITY_METRICS: Mapping[int, str] = {12: "valid_acc_12ep", 200: "valid_acc"}
"""The default protocol: benchmark fidelity (epochs of the schedule) -> the validation metric read at its end."""
DEFAULT_OBJECTIVE = "valid_acc_12ep"
"""NB201's search protocol: the 12-epoch schedule's validation accuracy."""
_SCHEDULE_SUFFIX = "_12ep"


def objective_fidelity(metric: str) -> int:
    """The schedule (epochs) a benchmark metric is read at the end of: 12 for ``*_12ep`` metrics, else 200."""
    return 12 if metric.endswith(_SCHEDULE_SUFFIX) else 200


def _twin(metric: str) -> str:
    """The same quantity on the other schedule (``valid_acc`` <-> ``valid_acc_12ep``)."""
    return metric[: -len(_SCHEDULE_SUFFIX)] if metric.endswith(_SCHEDULE_SUFFIX) else metric + _SCHEDULE_SUFFIX


def _can_be_objective(metric: str) -> bool:
    # Accuracies only (maximised); test accuracies are what a search reports, never what it optimises.
    return metric_unit(metric) == "%" and "test" not in metric


def check_benchmark_dataset(dataset: str) -> tuple[str, str]:
    try:
        return BENCHMARK_DATASETS[dataset]
    except KeyError:
        raise ConfigError(f"unknown benchmark dataset {dataset!r}; known: {', '.join(BENCHMARK_DATASETS)}") from None


@dataclass(frozen=True)
class LookupTables:
    """Every number a benchmark search needs, as arrays indexed by the official NB201 index.

    ``objective`` names the metric read at each fidelity (``valid``); ``report`` the ``dataset:metric``
    behind ``test``, or ``None`` when the store has no test accuracy (``test`` is then all NaN).
    """

    dataset: str
    valid: Mapping[int, np.ndarray]  # fidelity -> objective (validation accuracy, %)
    test: np.ndarray  # 200-epoch test accuracy (%) on the reported split
    train_time: np.ndarray  # seconds per training epoch on the searched dataset
    params: np.ndarray  # millions
    flops: np.ndarray  # MFLOPs
    objective: Mapping[int, str] = field(default_factory=lambda: dict(FIDELITY_METRICS))
    default_fidelity: int = 12
    report: str | None = None
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)  # any other store metric by name (final values)

    @classmethod
    def from_store(
        cls, store: Any, dataset: str, objective: str | None = None, metrics: tuple[str, ...] = ()
    ) -> LookupTables:
        """The tables of ``dataset`` searched on ``objective`` (default: NB201's protocol, module docstring),
        plus ``metrics`` (named objectives and constrained metrics) in :attr:`columns`."""
        search_ds, report_ds = check_benchmark_dataset(dataset)
        every = np.arange(NUM_ARCHS)

        def column(ds: str, metric: str) -> np.ndarray:
            values = store.query_many(every, ds, metric, missing="nan")
            values.setflags(write=False)
            return values

        def optional(ds: str, metric: str) -> np.ndarray | None:
            try:
                return column(ds, metric)
            except BenchmarkError:  # the store does not hold it
                return None

        metric = DEFAULT_OBJECTIVE if objective is None else objective
        main = _objective_column(store, search_ds, metric, column)
        valid = {objective_fidelity(metric): main}
        twin = optional(search_ds, _twin(metric)) if _can_be_objective(_twin(metric)) else None
        if twin is not None:
            valid[objective_fidelity(_twin(metric))] = twin
        train_time = optional(search_ds, "train_time")
        if train_time is None:
            raise ConfigError(
                f"the benchmark store has no train_time on {search_ds}: the simulated clock charges NB201's "
                "per-epoch training time; import a source that records it (NB201 CSV, NATS or NASLib files)"
            )
        report = next(((ds, "test_acc") for ds in dict.fromkeys((report_ds, search_ds))
                       if optional(ds, "test_acc") is not None), None)  # fmt: skip
        missing = np.full(NUM_ARCHS, np.nan)
        missing.setflags(write=False)
        return cls(
            dataset=dataset,
            valid=dict(sorted(valid.items())),
            test=column(*report) if report else missing,
            train_time=train_time,
            params=_or(optional(search_ds, "params"), missing),
            flops=_or(optional(search_ds, "flops"), missing),
            objective={f: metric if f == objective_fidelity(metric) else _twin(metric) for f in sorted(valid)},
            default_fidelity=objective_fidelity(metric),
            report=":".join(report) if report else None,
            columns=metric_columns(store, search_ds, metrics),
        )

    def rank_by_test(self, arch: NB201Arch) -> int:
        """1 + the number of archs with a strictly higher test accuracy."""
        return 1 + int(np.sum(self.test > self.test[arch.index]))

    @property
    def best_test(self) -> float:
        return float(np.nanmax(self.test))


def _or(value: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    return default if value is None else value


def _objective_column(store: Any, dataset: str, metric: str, column: Any) -> np.ndarray:
    """``metric`` on ``dataset`` for every arch; an unknown or unsuitable objective names the usable ones."""
    have: tuple[str, ...] = ()
    if hasattr(store, "metrics"):  # a BenchmarkStore (tests may pass a bare query_many)
        if dataset not in store.datasets:
            raise ConfigError(
                f"the benchmark store has no {dataset} results (it has {', '.join(store.datasets) or 'none'}); "
                "choose the benchmark dataset it holds (cifar10 searches cifar10-valid)"
            )
        have = tuple(store.metrics(dataset))
    usable = ", ".join(m for m in have if _can_be_objective(m)) or "none"
    unknown = ConfigError(
        f"the benchmark store has no {metric!r} on {dataset}; objectives available there: {usable} "
        f"(--objective METRIC; all its metrics: {', '.join(have) or 'none'})"
    )
    if have and metric not in have:
        raise unknown
    if not _can_be_objective(metric):
        why = "is a test accuracy (what a search reports)" if "test" in metric else "is not an accuracy to maximise"
        raise ConfigError(f"objective {metric!r} {why}; objectives on {dataset} in this store: {usable}")
    try:
        return column(dataset, metric)
    except BenchmarkError:
        raise unknown from None


def check_satisfiable(limits: list[tuple[Constraint, np.ndarray]], dataset: str) -> None:
    """A :class:`ConfigError` when no arch meets every constraint, naming the best value each can reach."""
    ok = np.ones(len(limits[0][1]) if limits else NUM_ARCHS, dtype=bool)  # any space's columns (NB201, sss)
    alone, best = [], []
    for c, column in limits:
        met = (column <= c.bound) if c.op == "<=" else (column >= c.bound)
        ok &= met
        if not met.any():
            alone.append(c.name)
        reach = np.nanmin(column) if c.op == "<=" else np.nanmax(column)
        best.append(f"the best {c.metric} of any arch is {reach:g}")
    if ok.any():
        return
    why = (f"{', '.join(alone)} cannot be met" if alone else "each can be met, but not all at once")
    raise ConfigError(f"no architecture on {dataset} satisfies the constraints: {why} ({'; '.join(best)}); "
                      "loosen --constraint")  # fmt: skip


def metric_columns(store: Any, dataset: str, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The final value of each of ``metrics`` on ``dataset`` for every arch (index order, read-only arrays).
    A metric the store lacks raises :class:`ConfigError` listing what it has (device latencies as one group)."""
    out: dict[str, np.ndarray] = {}
    have = tuple(store.metrics(dataset)) if hasattr(store, "metrics") and dataset in store.datasets else ()
    for metric in dict.fromkeys(metrics):
        try:
            if have and metric not in have:
                raise BenchmarkError(metric)
            values = store.query_many(np.arange(NUM_ARCHS), dataset, metric, missing="nan")
        except BenchmarkError:
            raise ConfigError(f"the benchmark store has no metric {metric!r} on {dataset}; it has: "
                              f"{describe_metrics(have) or 'none'}") from None  # fmt: skip
        values.setflags(write=False)
        out[metric] = values
    return out


# Mean CPU seconds per arch of each proxy (batch 64, NB201 C=16 N=5, 2 threads), measured by perf/bench_zerocost.py
# (perf/results/zerocost.json): the charge for a store that holds a proxy's scores but not their per-arch times.
MEASURED_PROXY_SECONDS: Mapping[str, float] = {
    "grad_norm": 2.919, "snip": 2.883, "grasp": 11.128, "fisher": 1.777, "plain": 2.315, "synflow": 1.411,
    "jacob_cov": 1.348, "nwot": 1.407, "zen": 1.753, "epe_nas": 0.796, "l2_norm": 0.0105, "params": 0.00225,
    "flops": 0.00041, "zico": 1.278,
}  # fmt: skip


def proxy_scores(store: Any, dataset: str, proxy: str) -> Any:
    """The zero-cost proxy ``proxy``'s scores on benchmark ``dataset`` from ``store`` (its ``zc_<proxy>`` metric,
    written by ``nasforge zc score``), as a :class:`~nasforge.optimizers.zerocost.ProxyScores` charged at the
    per-arch measured seconds ``zc_<proxy>_time`` when the store keeps them, else at the proxy's measured mean
    (:data:`MEASURED_PROXY_SECONDS`). A store without the metric, or without a score for every arch, raises
    :class:`ConfigError` naming the command that makes it."""
    from nasforge.optimizers.zerocost import ProxyScores

    check_benchmark_dataset(dataset)
    metric = f"zc_{proxy}"
    have = tuple(store.metrics(dataset)) if dataset in store.datasets else ()
    make = f"nasforge zc score --dataset {dataset} --proxies {proxy} --archs all --out STORE"
    if metric not in have:
        raise ConfigError(f"the zero-cost store has no {metric} on {dataset}; make it with: {make}")
    every = np.arange(NUM_ARCHS)
    scores = store.query_many(every, dataset, metric, missing="nan")
    if not np.isfinite(scores).all():
        missing = int(np.sum(~np.isfinite(scores)))
        raise ConfigError(f"the zero-cost store lacks {metric} for {missing} of {NUM_ARCHS} archs on {dataset}; "
                          f"score them all: {make}")  # fmt: skip
    if f"{metric}_time" in have:
        seconds, source = store.query_many(every, dataset, f"{metric}_time", missing="nan"), f"{metric}_time per arch"
        seconds = np.where(np.isfinite(seconds), seconds, np.nanmean(seconds))
    elif proxy in MEASURED_PROXY_SECONDS:
        seconds = np.full(NUM_ARCHS, MEASURED_PROXY_SECONDS[proxy])
        source = f"{MEASURED_PROXY_SECONDS[proxy]:g} s/arch, perf/results/zerocost.json's mean"
    else:
        raise ConfigError(f"the zero-cost store has no {metric}_time and no measured cost is known for {proxy}; "
                          f"score it with nasforge zc score, which records the seconds")  # fmt: skip
    return ProxyScores(proxy, scores, seconds, source)


def describe_metrics(metrics: tuple[str, ...]) -> str:
    """Metric names for a message: ``latency_<device>`` ones grouped as ``latency_DEVICE (DEVICE: a, b, ...)``."""
    devices = [m[len("latency_"):] for m in metrics if m.startswith("latency_") and m != "latency_12ep"]
    rest = [m for m in metrics if not (m.startswith("latency_") and m != "latency_12ep")]
    if devices:
        rest.append(f"latency_DEVICE (ms; DEVICE: {', '.join(devices)})")
    return ", ".join(rest)


class BenchmarkEvaluator:
    """Lookup evaluation on NB201 under the NB201/NATS protocol (module docstring), on a simulated clock.

    ``store`` is a :class:`nasforge.benchmarks.BenchmarkStore` (or anything with its ``query_many``) or a store
    directory (e.g. one ``nasforge bench import naslib-pickle`` built from the seed's pickle); alternatively pass
    prebuilt ``tables`` (what ``nasforge compare`` ships to its worker processes). ``objective`` is the store
    metric to maximise (default :data:`DEFAULT_OBJECTIVE`, NB201's protocol); one the store lacks, or that is
    not a non-test accuracy, raises :class:`ConfigError` naming the usable ones.

    ``objectives`` (named, with directions) and ``constraints`` may name any store metric (final values, e.g.
    ``latency_pixel3`` in ms): each result then carries them in ``values`` and ``constraints`` (violation, <= 0
    when met), and its scalar ``objective`` is the first named objective, negated when minimised. A metric the
    store lacks, or constraints no arch meets, raise :class:`ConfigError` (docs/multiobjective.md).

    >>> evaluator = BenchmarkEvaluator("seedstore", "cifar10", objective="valid_acc")  # doctest: +SKIP
    >>> evaluator.default_fidelity, evaluator.fidelities                               # doctest: +SKIP
    (200, (200,))
    """

    def __init__(
        self,
        store: Any = None,
        dataset: str = "cifar10",
        *,
        objective: str | None = None,
        tables: LookupTables | None = None,
        eval_cost_epochs: float = 0.0,
        objectives: Sequence[Objective] = (),
        constraints: Sequence[Constraint] = (),
    ) -> None:
        if not (math.isfinite(eval_cost_epochs) and eval_cost_epochs >= 0):
            raise ConfigError(f"eval_cost_epochs must be a number >= 0, got {eval_cost_epochs}")
        self.eval_cost_epochs = float(eval_cost_epochs)
        self.objectives, self.constraints = tuple(objectives), tuple(constraints)
        named = tuple(dict.fromkeys([o.name for o in self.objectives] + [c.metric for c in self.constraints]))
        if tables is None:
            if store is None:
                raise ConfigError("BenchmarkEvaluator needs a benchmark store or lookup tables")
            if isinstance(store, (str, os.PathLike)):
                check_benchmark_dataset(dataset)  # a bad name is named before a store is opened
                from nasforge.benchmarks import open_store

                store = open_store(store)
            tables = LookupTables.from_store(store, dataset, objective, named)
        elif objective is not None and objective != tables.objective[tables.default_fidelity]:
            raise ConfigError(f"objective {objective!r} differs from the tables' {tables.objective}")
        elif dataset != tables.dataset:  # the tables were checked when built: only a mismatch is left to find
            raise ConfigError(f"dataset {dataset!r} differs from the tables' {tables.dataset!r}")
        missing = [m for m in named if m not in tables.columns]
        if missing:
            raise ConfigError(f"the lookup tables hold no {', '.join(missing)}; build them with those metrics")
        self.dataset = dataset
        self.tables = tables
        self.default_fidelity = tables.default_fidelity
        # Objective name -> (column, sign that makes it "larger is better"); constraint -> its column.
        self._values = [(o.name, tables.columns[o.name], 1.0 if o.direction is Direction.MAXIMIZE else -1.0)
                        for o in self.objectives]  # fmt: skip
        self._limits = [(c, tables.columns[c.metric]) for c in self.constraints]
        if self._limits:
            check_satisfiable(self._limits, dataset)
        self.simulated_clock = True  # costs are looked up: searches run on a simulated clock
        # fidelity -> official index -> [predicted cost, result once evaluated]: the loop asks for both once per
        # trial, and a search (or a chunk of compare's seeds sharing this evaluator) meets the same archs again and
        # again. Results are immutable values, so one per (fidelity, arch) serves every trial that asks for it.
        self._looked_up: dict[int, dict[int, list[Any]]] = {}
        # The request last priced and its entry: the loop prices a request, then evaluates that very request.
        self._priced: tuple[Request | None, list[Any]] = (None, [])

    @property
    def fidelities(self) -> tuple[int, ...]:
        """The fidelities (schedule epochs) this store answers for the objective."""
        return tuple(self.tables.objective)

    @property
    def objective(self) -> str:
        """The metric maximised at the default fidelity."""
        return self.tables.objective[self.default_fidelity]

    def _fidelity(self, request: Request) -> int:
        fidelity = self.default_fidelity if request.fidelity is None else request.fidelity
        if fidelity not in self.tables.valid:
            valid = ", ".join(map(str, self.tables.valid))
            raise ConfigError(
                f"the benchmark has no fidelity {fidelity} for objective {self.objective}; valid fidelities: "
                f"{valid} epochs"
            )
        return fidelity

    def predicted_cost(self, request: Request) -> float:
        # The optimizer's zero-cost seconds spent choosing this request are charged with it.
        entry = self._lookup(request)
        self._priced = request, entry
        return entry[0] + request.overhead

    def _lookup(self, request: Request) -> list[Any]:
        """[predicted cost, result or None] of ``request``, read from the tables on first sight (see ``__init__``)."""
        fidelity = self.default_fidelity if request.fidelity is None else request.fidelity
        known = self._looked_up.get(fidelity)
        if known is None:
            self._fidelity(request)  # an unknown fidelity is a ConfigError, checked once
            known = self._looked_up[fidelity] = {}
        index = request.arch.index
        entry = known.get(index)
        if entry is None:
            entry = known[index] = [float(self.tables.train_time[index]) * (fidelity + self.eval_cost_epochs), None]
        return entry

    def objective_function(self, arch: NB201Arch, fidelity: int | None = None, seed: int | None = None) -> dict:
        """NB201's record of ``arch`` at ``fidelity`` (schedule epochs; default the objective's): the objective's
        metric under its own name, ``test_acc`` (200 epochs, when the store has it), ``train_time`` (s/epoch),
        ``params`` (M), ``flops`` (MFLOPs) and ``cost`` (the seconds a trial is charged). The data hold the mean
        over NB201's training seeds, so every ``seed`` reads that mean. Unknown fidelity: :class:`ConfigError`.
        """
        fidelity = self._fidelity(Request(arch, fidelity))
        index, t = arch.index, self.tables
        out = {t.objective[fidelity]: float(t.valid[fidelity][index])}
        if t.report is not None:
            out["test_acc"] = float(t.test[index])
        out.update(train_time=float(t.train_time[index]), params=float(t.params[index]), flops=float(t.flops[index]),
                   cost=float(t.train_time[index]) * (fidelity + self.eval_cost_epochs))  # fmt: skip
        return out

    def test_report(self, arch: NB201Arch) -> dict[str, Any] | None:
        """How ``arch`` ranks on the reported test accuracy: ``test_acc`` (%), ``rank_by_test`` (1 = best),
        ``num_archs``, ``best_test_acc``, ``regret`` (points to the best) and ``test_source`` (``dataset:metric``);
        ``None`` when the store holds no test accuracy."""
        t = self.tables
        if t.report is None:
            return None
        test = float(t.test[arch.index])
        return {"test_acc": test, "rank_by_test": t.rank_by_test(arch), "num_archs": int(t.test.size),
                "best_test_acc": t.best_test, "regret": t.best_test - test, "test_source": t.report}  # fmt: skip

    def evaluate(self, request: Request) -> Result:
        priced, entry = self._priced
        if priced is not request:
            entry = self._lookup(request)
        result = entry[1]
        if result is None:
            fidelity = self.default_fidelity if request.fidelity is None else request.fidelity
            result = entry[1] = self._result(request.arch.index, fidelity, entry[0])
        if request.overhead:  # the optimizer's zero-cost seconds spent choosing this request are charged with it
            result = replace(result, cost=result.cost + request.overhead)
        return result

    def _result(self, index: int, fidelity: int, cost: float) -> Result:
        t = self.tables
        metric = t.objective[fidelity]
        value = float(t.valid[fidelity][index])
        # The validation accuracy keeps its historical key "valid_acc" (at the trial's fidelity).
        metrics = {"valid_acc" if metric.startswith("valid_acc") and "nats" not in metric else metric: value}
        if t.report is not None:
            metrics["test_acc"] = float(t.test[index])
        metrics.update(train_time=float(t.train_time[index]), params=float(t.params[index]),
                       flops=float(t.flops[index]))  # fmt: skip
        if math.isnan(value) or math.isnan(cost):
            missing = metric if math.isnan(value) else "train_time"
            return Result.fail(f"the benchmark records no {missing} for arch {index} on {self.dataset}", metrics={})
        if not (self._values or self._limits):
            return Result.complete(value, cost=cost, metrics=metrics)
        values = {name: float(column[index]) for name, column, _ in self._values}
        constraints = {c.name: c.violation(float(column[index])) for c, column in self._limits}
        nan = [k for k, v in (*values.items(), *constraints.items()) if math.isnan(v)]
        if nan:
            return Result.fail(f"the benchmark records no {nan[0]} for arch {index} on {self.dataset}", metrics={})
        # Single-objective optimizers maximise the first named objective (negated when it is minimised).
        scalar = values[self._values[0][0]] * self._values[0][2] if self._values else value
        return Result.complete(scalar, cost=cost, metrics=metrics, values=values, constraints=constraints)

    def config(self) -> dict[str, Any]:
        search_ds, report_ds = BENCHMARK_DATASETS[self.dataset]
        config = {
            "kind": "benchmark",
            "benchmark": "nb201",
            "dataset": self.dataset,
            "search_dataset": search_ds,
            "report_dataset": report_ds,
            "objective": dict(self.tables.objective),
            "default_fidelity": self.default_fidelity,
            "cost": "train_time x (epochs + eval_cost_epochs)",
            "eval_cost_epochs": self.eval_cost_epochs,
        }
        if self.objectives:
            config["objectives"] = format_objectives(self.objectives)
        if self.constraints:
            config["constraints"] = [c.name for c in self.constraints]
        if self.tables.report != f"{report_ds}:test_acc":  # recorded only where it differs from the protocol
            config["report"] = self.tables.report
        return config
