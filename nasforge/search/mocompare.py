"""Many-seed multi-objective comparisons on a benchmark (NB201, or NATS-Bench's size space): hypervolume regret
against the exact front.

For each objective set (e.g. ``valid_acc_12ep:max,latency_pixel3:min``) and optimizer, every seed runs a
benchmark search on the simulated clock (in-memory study, the one loop) and is scored, after every trial, by the
hypervolume regret of its non-dominated feasible trials: the exact front's hypervolume over all the space's archs
minus theirs, both w.r.t. the worst value of each objective over the space (:class:`nasforge.pareto.TrueFront`),
divided by the true hypervolume (so 0 = the whole front found, 1 = nothing). Runs spread over worker processes
in chunks of seeds, as in :mod:`nasforge.search.compare`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.benchmarks.blackbox import LookupTables
from nasforge.errors import ConfigError
from nasforge.objectives import format_objectives, parse_objectives
from nasforge.optimizers import check_named_objectives, create_optimizer, is_zc_variant, optimizer_class
from nasforge.pareto import TrueFront, hypervolume, pareto_mask
from nasforge.search.compare import check_zc_budget, chunk_size, evaluator_of, run_chunks
from nasforge.search.study import Study
from nasforge.trial import Objective

GRID_POINTS = 101


@dataclass(frozen=True)
class MORow:
    """All seeds of one optimizer on one objective set: normalised hypervolume regret at the end and on a grid."""

    optimizer: str
    objectives: str
    dataset: str
    time_budget: float
    final: np.ndarray  # per seed, normalised hypervolume regret at the budget
    n_trials: np.ndarray
    on_front: np.ndarray  # per seed, found trials on the true front
    front_size: int
    grid: np.ndarray
    curves: np.ndarray  # seeds x grid

    @property
    def mean(self) -> float:
        return float(np.mean(self.final))

    @property
    def std(self) -> float:
        return float(np.std(self.final))

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "objectives": self.objectives, "dataset": self.dataset,
                "time_budget": self.time_budget, "seeds": int(self.final.size), "mean_hv_regret": self.mean,
                "std_hv_regret": self.std, "mean_trials": float(np.mean(self.n_trials)),
                "mean_on_front": float(np.mean(self.on_front)), "front_size": self.front_size,
                "final": self.final.tolist()}  # fmt: skip


def _optimizer(name: str, seed: int, space: str, objectives: Sequence[Objective], zc: Any = None) -> Any:
    """``name`` seeded with ``seed``; a multi-objective optimizer is told the objectives (the others optimise the
    first, as the evaluator's scalar), a ``NAME+zc`` variant gets ``zc`` (the proxy's scores)."""
    multi = getattr(optimizer_class(name), "multi_objective", False)
    options = {"objectives": format_objectives(objectives)} if multi else {}
    return create_optimizer(name, seed, space=space, **options, **({"zc": zc} if is_zc_variant(name) else {}))


def run_mo_search(tables: LookupTables, objectives: Sequence[Objective], optimizer: str, seed: int,
                  time_budget: float, grid: np.ndarray,
                  zc: Any = None) -> tuple[float, int, int, np.ndarray]:  # fmt: skip
    """One search: (final normalised HV regret, trials, trials on the true front, regret on ``grid``); a
    ``NAME+zc`` optimizer gets ``zc``."""
    true = TrueFront.from_columns(tables.columns, objectives)
    evaluator, space, _ = evaluator_of(tables, objectives=objectives)
    study = Study.in_memory({}, objectives)
    up = true.maximize
    signs = np.where(up, -1.0, 1.0)
    clocks: list[float] = []
    regrets: list[float] = []
    front: list[np.ndarray] = []  # the running non-dominated set, minimised

    def track(record: Any, s: Study) -> None:
        nonlocal front
        r = record.result
        if r.ok and r.feasible:
            point = signs * np.array([r.value(o.name) for o in objectives])
            pts = np.array([*front, point])
            front = list(pts[pareto_mask(pts)])
        clocks.append(s.clock)
        hv = hypervolume(np.array(front) * signs, true.ref, up) if front else 0.0
        regrets.append((true.hypervolume - hv) / true.hypervolume)

    outcome = study.optimize(_optimizer(optimizer, seed, space, objectives, zc), evaluator, time_budget=time_budget,
                             callback=track)  # fmt: skip
    final = regrets[-1] if regrets else 1.0
    found = {t.arch.index for t in study.best_trials()}
    on_front = len(found & set(true.indices.tolist()))
    position = np.searchsorted(np.asarray(clocks), grid, side="right") - 1
    curve = np.where(position >= 0, np.asarray(regrets + [1.0])[position], 1.0)
    return final, len(outcome.trials), on_front, curve


def run_mo_front(tables: LookupTables, objectives: Sequence[Objective], optimizer: str, seed: int,
                 time_budget: float, zc: Any = None) -> np.ndarray:  # fmt: skip
    """The front one search found (its ``best_trials``' objective values, ``(n, d)``), for pictures."""
    evaluator, space, _ = evaluator_of(tables, objectives=objectives)
    study = Study.in_memory({}, objectives)
    study.optimize(_optimizer(optimizer, seed, space, objectives, zc), evaluator, time_budget=time_budget)
    return np.array([[t.result.value(o.name) for o in objectives] for t in study.best_trials()]).reshape(-1, 2)


def _run_chunk(task: tuple[LookupTables, str, str, tuple[int, ...], float, np.ndarray, Any]) -> list[tuple]:
    tables, objectives, optimizer, seeds, budget, grid, zc = task
    parsed = parse_objectives(objectives)
    return [run_mo_search(tables, parsed, optimizer, s, budget, grid, zc) for s in seeds]


def mo_compare(
    tables: LookupTables,
    objective_sets: Sequence[str],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    time_budget: float,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    zc: Any = None,
) -> list[MORow]:
    """Every optimizer on every objective set (``"metric:max,metric:min"``) for every seed, on ``workers``
    processes. ``tables`` (:class:`LookupTables`, or an sss evaluator) must hold every named metric in its
    ``columns``. ``zc``: the proxy scores (:class:`~nasforge.optimizers.zerocost.ProxyScores`) its ``NAME+zc``
    optimizers use."""
    sets = [format_objectives(parse_objectives(s)) for s in objective_sets]
    for name in optimizers:
        check_named_objectives(name)  # unknown names, and multi-fidelity ones, fail before any work starts
        if is_zc_variant(name) and zc is None:
            raise ConfigError(f"{name} needs zero-cost proxy scores (compare --zc PROXY)")
    # a seed with no trial would score regret 1 for want of budget (a NAME+zc one's warm-up is charged first)
    check_zc_budget(tables, time_budget, optimizers, zc)
    workers = workers or os.cpu_count() or 1
    seeds = tuple(int(s) for s in seeds)
    chunk = chunk_size(len(seeds), workers)
    grid = np.linspace(0.0, time_budget, GRID_POINTS)
    tasks, owners = [], []
    for objectives in sets:
        for name in optimizers:
            for start in range(0, len(seeds), chunk):
                scores = zc if is_zc_variant(name) else None
                tasks.append((tables, objectives, name, seeds[start : start + chunk], time_budget, grid, scores))
                owners.append((objectives, name))
    results = run_chunks(_run_chunk, tasks, workers, progress)
    rows = []
    for objectives in sets:
        true = TrueFront.from_columns(tables.columns, parse_objectives(objectives))
        for name in optimizers:
            runs = [r for (o, n), chunk_runs in zip(owners, results, strict=True) if (o, n) == (objectives, name)
                    for r in chunk_runs]  # fmt: skip
            rows.append(MORow(name, objectives, tables.dataset, time_budget, np.array([r[0] for r in runs]),
                              np.array([r[1] for r in runs]), np.array([r[2] for r in runs]), true.size, grid,
                              np.array([r[3] for r in runs])))  # fmt: skip
    return rows
