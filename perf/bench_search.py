"""Speed of benchmark-mode black-box search, against plain-Python baselines in the same run.

1. ``compare``: 500 seeds x REA on CIFAR-10 at a 20,000 s simulated budget through
   :func:`nasforge.search.compare.compare` on 2 worker processes (target: <= 30 s wall), against a plain-Python
   REA loop in the style of NB201's own ``R_EA.py`` (``random.choice``, a dict lookup per evaluation,
   one process) on the same lookup tables.
2. ``ask+tell``: microseconds per trial of ``ask()`` + ``tell()`` for RS and REA with no evaluation
   (target: < 100 us), against a plain-Python loop that draws the same kind of arch with ``random``.
3. ``loop``: microseconds per trial of the whole in-memory study loop (ask, lookup, record, tell), and of the
   same search on a SQLite-backed study (every start and every result committed: what keeps kill -9 safety).

Usage: ``python perf/bench_search.py [--data-dir DIR] [--seeds 500] [--workers 2]``; prints a table
and writes perf/results/search.json. Needs the NB201 data (``--data-dir`` or ``NASFORGE_DATA``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
BUDGET = 20_000.0
TARGETS = {"compare_wall_s": 30.0, "ask_tell_us": 100.0}
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


# --- baselines: plain Python, the way NB201's scripts do it ------------------------------------------------


def baseline_rea(valid: dict[str, float], cost: dict[str, float], test: dict[str, float], seed: int) -> float:
    """NB201-style REA over arch strings: random.choice sampling, dict lookups, deque aging."""
    rng = random.Random(seed)

    def random_arch() -> tuple[str, ...]:
        return tuple(rng.choice(OPS) for _ in range(6))

    def mutate(arch: tuple[str, ...]) -> tuple[str, ...]:
        edge = rng.randrange(6)
        op = rng.choice([o for o in OPS if o != arch[edge]])
        return arch[:edge] + (op,) + arch[edge + 1 :]

    population: collections.deque = collections.deque()
    history, clock = [], 0.0
    while len(population) < 10:
        arch = random_arch()
        clock += cost[arch]
        population.append((arch, valid[arch]))
        history.append((arch, valid[arch]))
    while True:
        sample = [rng.choice(list(population)) for _ in range(3)]
        child = mutate(max(sample, key=lambda m: m[1])[0])
        if clock + cost[child] > BUDGET:
            break
        clock += cost[child]
        population.append((child, valid[child]))
        history.append((child, valid[child]))
        population.popleft()
    return test[max(history, key=lambda m: m[1])[0]]


def baseline_ask_tell(n: int, kind: str) -> float:
    """Seconds per trial of a plain-Python propose/record loop (RS: random arch; REA: NB201's mutation step)."""
    rng = random.Random(0)
    population = collections.deque([(tuple(rng.choice(OPS) for _ in range(6)), rng.random()) for _ in range(10)])
    seen: set = set()
    start = time.perf_counter()
    for _ in range(n):
        if kind == "rs":
            arch = tuple(rng.choice(OPS) for _ in range(6))
            seen.add(arch)
        else:
            parent = max((rng.choice(list(population)) for _ in range(3)), key=lambda m: m[1])[0]
            edge = rng.randrange(6)
            arch = parent[:edge] + (rng.choice([o for o in OPS if o != parent[edge]]),) + parent[edge + 1 :]
            population.append((arch, 1.0))
            population.popleft()
    return (time.perf_counter() - start) / n


# --- nasforge ---------------------------------------------------------------------------------------------------


def nasforge_ask_tell(n: int, name: str) -> float:
    from nasforge.optimizers import create_optimizer
    from nasforge.trial import Result

    result = Result.complete(50.0, cost=100.0)
    total, done = 0.0, 0
    while done < n:  # fresh optimizers every 2,000 trials: RS without repeats must not exhaust the space
        opt = create_optimizer(name, done)
        steps = min(2000, n - done)
        start = time.perf_counter()
        for _ in range(steps):
            opt.tell(opt.ask(), result)
        total += time.perf_counter() - start
        done += steps
    return total / n


def sqlite_loop_us(tables: object, name: str, seeds: int) -> float:
    """Microseconds per trial of benchmark searches on SQLite-backed studies (one database per seed)."""
    from nasforge.benchmarks.blackbox import BenchmarkEvaluator
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study

    total, trials = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="nasforge-bench-search-") as tmp:
        for seed in range(seeds):
            evaluator = BenchmarkEvaluator(dataset=tables.dataset, tables=tables)
            start = time.perf_counter()
            with Study.create(Path(tmp) / f"run{seed}", {"optimizer": name, "seed": seed}) as study:
                outcome = study.optimize(create_optimizer(name, seed), evaluator, time_budget=BUDGET)
            total += time.perf_counter() - start
            trials += len(outcome.trials)
    return total / trials * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=20_000, help="trials for the ask+tell timing")
    args = parser.parse_args()

    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.search.compare import Setting, compare, run_search
    from nasforge.spaces.nb201 import all_archs

    tables = LookupTables.from_store(load_nb201(args.data_dir), "cifar10")
    rows: dict[str, dict] = {}

    # 1. 500 seeds x REA at 20,000 s
    start = time.perf_counter()
    cmp = compare({"cifar10": tables}, ["rea"], [Setting("cifar10", BUDGET)], range(args.seeds), workers=args.workers)
    wall = time.perf_counter() - start
    strings = [a.ops for a in all_archs()]
    valid = dict(zip(strings, tables.valid[12].tolist()))
    cost = dict(zip(strings, (tables.train_time * 12).tolist()))
    test = dict(zip(strings, tables.test.tolist()))
    start = time.perf_counter()
    base = [baseline_rea(valid, cost, test, seed) for seed in range(args.seeds)]
    base_wall = time.perf_counter() - start
    rows["compare_rea_500"] = {
        "nasforge_s": wall,
        "baseline_s": base_wall,
        "ratio": base_wall / wall,
        "target_s": TARGETS["compare_wall_s"],
        "ok": wall <= TARGETS["compare_wall_s"],
        "nasforge_mean_test": float(np.mean(cmp.rows[0].final_test)),
        "baseline_mean_test": float(np.mean(base)),
        "mean_trials": float(np.mean(cmp.rows[0].n_trials)),
        "workers": args.workers,
        "baseline_workers": 1,
    }

    # 2. ask + tell
    for name in ("rs", "rea"):
        ours = nasforge_ask_tell(args.trials, name)
        theirs = baseline_ask_tell(args.trials, name)
        rows[f"ask_tell_{name}"] = {
            "nasforge_us": ours * 1e6,
            "baseline_us": theirs * 1e6,
            "ratio": ours / theirs,
            "target_us": TARGETS["ask_tell_us"],
            "ok": ours * 1e6 < TARGETS["ask_tell_us"],
        }

    # 3. the whole loop, one process
    grid = np.linspace(0, BUDGET, 101)
    for name in ("rs", "rea"):
        start, trials = time.perf_counter(), 0
        for seed in range(50):
            trials += run_search(tables, name, seed, BUDGET, grid)[1]
        rows[f"loop_{name}"] = {"nasforge_us_per_trial": (time.perf_counter() - start) / trials * 1e6,
                                "sqlite_us_per_trial": sqlite_loop_us(tables, name, 5)}  # fmt: skip

    payload = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "seeds": args.seeds,
        "budget_s": BUDGET,
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")

    c = rows["compare_rea_500"]
    print(f"{'measurement':<34} {'nasforge':>12} {'baseline':>12} {'ratio':>8} {'target':>10} ok")
    print(f"{'500 x REA @ 20,000 s (wall s)':<34} {c['nasforge_s']:>12.2f} {c['baseline_s']:>12.2f} "
          f"{c['ratio']:>7.2f}x {'<= 30':>10} {c['ok']}")  # fmt: skip
    for name in ("rs", "rea"):
        r = rows[f"ask_tell_{name}"]
        print(f"{'ask+tell ' + name + ' (us/trial)':<34} {r['nasforge_us']:>12.1f} {r['baseline_us']:>12.1f} "
              f"{r['ratio']:>7.2f}x {'< 100':>10} {r['ok']}")  # fmt: skip
    for name in ("rs", "rea"):
        print(f"{'full loop ' + name + ' (us/trial)':<34} {rows[f'loop_{name}']['nasforge_us_per_trial']:>12.1f}")
        print(f"{'  same, SQLite study (us/trial)':<34} {rows[f'loop_{name}']['sqlite_us_per_trial']:>12.1f}")
    print(f"(baseline of the first row: plain-Python NB201-style REA, 1 process; nasforge: {args.workers} processes; "
          f"mean test acc {c['nasforge_mean_test']:.2f} vs {c['baseline_mean_test']:.2f})")  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
