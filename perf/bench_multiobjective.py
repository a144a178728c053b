"""Speed of nasforge's multi-objective pieces (issue 15 targets), on the real NB201 store.

1. ``front``: the exact Pareto front over all 15,625 archs for 2 and 3 objectives (CIFAR-100 valid accuracy,
   Gold 6226 latency, params). Target: < 50 ms.
2. ``hv2d``: exact 2-D hypervolume of 1,000 points (a random non-dominated set, the worst case: every point
   counts). Target: < 1 ms.
3. ``morea``: 100 seeds x MO-REA at a 20,000 s simulated budget on (valid_acc_12ep, latency_gold_6226), one
   process per core; the searches alone (``nasforge.search.mocompare`` adds a hypervolume per trial).
   Target: < 30 s wall on 2 cores.

Usage: ``python perf/bench_multiobjective.py [--processes 2]``; prints a table and writes
perf/results/multiobjective.json (medians of repeats; the machine may be shared, see ``load``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import numpy as np

from nasforge.benchmarks import load_nb201
from nasforge.benchmarks.blackbox import BenchmarkEvaluator, LookupTables
from nasforge.objectives import parse_objectives
from nasforge.optimizers import create_optimizer
from nasforge.pareto import TrueFront, hypervolume, pareto_mask
from nasforge.search.study import Study

OBJECTIVES = "valid_acc_12ep:max,latency_gold_6226:min"


def _median_ms(fn, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _morea(task: tuple[LookupTables, tuple[int, ...]]) -> int:
    tables, seeds = task
    objectives = parse_objectives(OBJECTIVES)
    trials = 0
    for seed in seeds:
        evaluator = BenchmarkEvaluator(dataset=tables.dataset, tables=tables, objectives=objectives)
        study = Study.in_memory({}, objectives)
        outcome = study.optimize(create_optimizer("morea", seed, objectives=OBJECTIVES), evaluator,
                                 time_budget=20000.0)  # fmt: skip
        trials += len(outcome.trials)
    return trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    store = load_nb201()
    tables = LookupTables.from_store(store, "cifar100", None, ("valid_acc_12ep", "latency_gold_6226", "params"))
    cols = tables.columns
    two = np.column_stack([cols["valid_acc_12ep"], cols["latency_gold_6226"]])
    three = np.column_stack([two, cols["params"]])
    front2 = _median_ms(lambda: pareto_mask(two, [True, False]), 20)
    front3 = _median_ms(lambda: pareto_mask(three, [True, False, False]), 20)
    true_front = _median_ms(lambda: TrueFront.from_columns(cols, parse_objectives(OBJECTIVES + ",params:min")), 5)
    rng = np.random.default_rng(0)
    x = np.sort(rng.random(1000))
    points = np.column_stack([x, 1 - np.sqrt(x)])  # a concave front: all 1,000 points non-dominated
    assert pareto_mask(points).all()
    hv2d = _median_ms(lambda: hypervolume(points, [1.1, 1.1]), 50)
    seeds = list(range(100))
    chunks = [tuple(seeds[i :: args.processes]) for i in range(args.processes)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        trials = sum(pool.map(_morea, [(tables, c) for c in chunks]))
    morea_s = time.perf_counter() - start
    results = {
        "front_2d_ms": front2, "front_3d_ms": front3, "true_front_3d_with_hv_ms": true_front,
        "hv_2d_1000_points_ms": hv2d, "morea_100_seeds_20000s_wall_s": morea_s, "morea_trials": trials,
        "processes": args.processes, "load": os.getloadavg()[0], "cpus": os.cpu_count(),
        "targets": {"front_ms": 50, "hv_2d_ms": 1, "morea_s": 30},
    }  # fmt: skip
    for key, value in results.items():
        print(f"{key:>34}: {value}")
    out = Path(__file__).parent / "results" / "multiobjective.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
