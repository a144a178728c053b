"""Speed of benchmark-mode black-box search: this tree vs an older nasforge vs a plain loop, in the same run.

1. ``compare``: 500 seeds x REA on CIFAR-10 at a 20,000 s simulated budget through
   :func:`nasforge.search.compare.compare` on 2 worker processes, against a **plain single-process Python loop of
   the same protocol**: REA drawing from the same seeded ``numpy`` Generator, one array read per lookup, the
   clock a float. Its trajectories must be the very ones nasforge runs: every seed's final test accuracy and
   number of trials are asserted equal to ``compare``'s. Goal (issue 17): ``compare`` on 2 processes no slower
   than the plain loop on one. ``compare`` on 1 process is timed too: its ratio to the plain loop is the
   machinery's cost, which a machine whose other cores are busy cannot distort.
2. ``ask+tell``: microseconds per trial of ``ask()`` + ``tell()`` for RS and REA with no evaluation.
3. ``loop``: microseconds per trial of one whole in-memory search (ask, lookup, record, tell; 50 seeds), and of
   the same search on a SQLite-backed study (every result committed, each with the start before it: what keeps
   kill -9 safety).

Wall seconds on a shared machine measure the other processes as much as this one, so compare and the plain loop are
also timed in CPU seconds (``resource.getrusage`` of the process and of compare's finished worker processes): the
plain loop's CPU seconds over compare's per process say how the two compare on a machine with free cores. A second
plain loop, ``plain_scalar``, draws REA's parents as nasforge's REA now does (3 scalar draws, the same numbers).

``--old-tree DIR`` (a checkout of an older nasforge, e.g. ``git worktree add --detach /tmp/base c4d6ed6``) runs
every measurement there too, in a subprocess with ``PYTHONPATH=DIR``, alternating old and new ``--rounds`` times
(the best of the rounds is kept: on a shared machine the minimum is the least disturbed); results must agree.

Usage: ``python perf/bench_search.py [--data-dir DIR] [--seeds 500] [--workers 2] [--old-tree DIR]``; prints a
table and writes perf/results/search.json. Needs the NB201 data (``--data-dir`` or ``NASFORGE_DATA``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
BUDGET = 20_000.0
LOOP_SEEDS = 50  # seeds of the single-process loop timing
SQLITE_SEEDS = 3  # seeds of the SQLite-backed timing (each commits ~170 starts and ~170 results)
ROOT = Path(__file__).resolve().parent.parent


# --- the plain loop: the NB201 protocol, REA, nothing else ------------------------------------------------------


def plain_rea(valid: list[float], cost: list[float], test: list[float], seed: int) -> tuple[float, int]:
    """REA (population 10, sample 3) on the NB201 protocol as one plain Python loop over base-5 arch codes.

    ``valid``/``cost``/``test`` are indexed by code. It draws exactly what nasforge's REA draws from
    ``np.random.default_rng(seed)``, so it runs the same trials: (final incumbent's test accuracy, trials).
    """
    rng = np.random.default_rng(seed)
    integers = rng.integers
    population: deque[tuple[int, float]] = deque(maxlen=10)
    clock, trials, best, best_code = 0.0, 0, -np.inf, -1
    while True:
        if len(population) < 10:  # random members first (trials run one at a time)
            code = int(integers(15625))
        else:
            picks = integers(10, size=3)
            parent = max((population[int(i)] for i in picks), key=lambda m: m[1])[0]
            edge = int(integers(6))
            place = 5 ** (5 - edge)  # edge 0 is the most significant base-5 digit
            current = parent // place % 5
            new = int(integers(4))
            new += new >= current
            code = parent + (new - current) * place
        if clock >= BUDGET or clock + cost[code] > BUDGET:
            break
        clock += cost[code]
        value = valid[code]
        trials += 1
        population.append((code, value))
        if value > best:
            best, best_code = value, code
    return test[best_code], trials


def plain_rea_scalar(valid: list[float], cost: list[float], test: list[float], seed: int) -> tuple[float, int]:
    """:func:`plain_rea` drawing its 3 parents as 3 scalar ``integers(10)`` calls (the same numbers, see
    nasforge's REA) instead of one ``integers(10, size=3)``: the plain loop with the draw shortcut REA takes."""
    rng = np.random.default_rng(seed)
    integers = rng.integers
    population: deque[tuple[int, float]] = deque(maxlen=10)
    clock, trials, best, best_code = 0.0, 0, -np.inf, -1
    while True:
        if len(population) < 10:
            code = int(integers(15625))
        else:
            parent = max((population[integers(10)], population[integers(10)], population[integers(10)]),
                         key=lambda m: m[1])[0]  # fmt: skip
            edge = int(integers(6))
            place = 5 ** (5 - edge)
            current = parent // place % 5
            new = int(integers(4))
            new += new >= current
            code = parent + (new - current) * place
        if clock >= BUDGET or clock + cost[code] > BUDGET:
            break
        clock += cost[code]
        value = valid[code]
        trials += 1
        population.append((code, value))
        if value > best:
            best, best_code = value, code
    return test[best_code], trials


def plain_inputs(tables: object) -> tuple[list[float], list[float], list[float]]:
    """The three lookup columns of ``tables`` (indexed by official index) as lists indexed by arch code."""
    from nasforge.spaces.nb201 import code_to_index_table

    by_code = code_to_index_table()
    return ([float(v) for v in tables.valid[12][by_code]], [float(v) for v in tables.train_time[by_code] * 12],
            [float(v) for v in tables.test[by_code]])  # fmt: skip


# --- measurements, run in a subprocess with the tree to measure on PYTHONPATH ---------------------------------


def _imports() -> tuple:
    """(LookupTables, compare module, Study) of whichever nasforge is importable (the search road moved)."""
    try:
        from nasforge.benchmarks.blackbox import LookupTables
        from nasforge.search import compare as cmp
        from nasforge.search.study import Study
    except ImportError:  # nasforge before the one-search-road redesign (c4d6ed6)
        from nasforge.evaluators import LookupTables
        from nasforge.study import Study

        from nasforge import compare as cmp
    return LookupTables, cmp, Study


def measure(data_dir: str | None, seeds: int, workers: int, trials: int, plain: bool) -> dict:
    from nasforge.benchmarks import load_nb201
    from nasforge.optimizers import create_optimizer
    from nasforge.trial import Result

    lookup_tables, cmp, study_class = _imports()
    tables = lookup_tables.from_store(load_nb201(data_dir), "cifar10")
    out: dict = {}

    start, cpu = time.perf_counter(), _cpu()
    comparison = cmp.compare({"cifar10": tables}, ["rea"], [cmp.Setting("cifar10", BUDGET)], range(seeds),
                             workers=workers)  # fmt: skip
    out["compare_s"], out["compare_cpu_s"] = time.perf_counter() - start, _cpu() - cpu
    row = comparison.rows[0] if hasattr(comparison, "rows") else comparison.cells[0]  # renamed in the redesign
    out["final_test"] = [float(v) for v in row.final_test]
    out["n_trials"] = [int(n) for n in row.n_trials]
    # The same on one process: the machinery's cost against the plain loop's, whatever the other cores do.
    start, cpu = time.perf_counter(), _cpu()
    cmp.compare({"cifar10": tables}, ["rea"], [cmp.Setting("cifar10", BUDGET)], range(seeds), workers=1)
    out["compare_1proc_s"], out["compare_1proc_cpu_s"] = time.perf_counter() - start, _cpu() - cpu

    if plain:
        columns = plain_inputs(tables)
        for key, loop in (("plain", plain_rea), ("plain_scalar", plain_rea_scalar)):
            start, cpu = time.perf_counter(), _cpu()
            runs = [loop(*columns, seed) for seed in range(seeds)]
            out[f"{key}_s"], out[f"{key}_cpu_s"] = time.perf_counter() - start, _cpu() - cpu
            assert [r[0] for r in runs] == out["final_test"], f"{key} ran other trials than compare"
            assert [r[1] for r in runs] == out["n_trials"], f"{key} ran other trials than compare"

    result = Result.complete(50.0, cost=100.0)
    for name in ("rs", "rea"):
        total, done = 0.0, 0
        while done < trials:  # fresh optimizers every 2,000 trials: RS without repeats must not exhaust the space
            opt = create_optimizer(name, done)
            steps = min(2000, trials - done)
            start = time.perf_counter()
            for _ in range(steps):
                opt.tell(opt.ask(), result)
            total += time.perf_counter() - start
            done += steps
        out[f"ask_tell_{name}_us"] = total / trials * 1e6

    grid = np.linspace(0, BUDGET, 101)
    for name in ("rs", "rea"):
        start, n = time.perf_counter(), 0
        for seed in range(LOOP_SEEDS):
            n += cmp.run_search(tables, name, seed, BUDGET, grid)[1]
        out[f"loop_{name}_us"] = (time.perf_counter() - start) / n * 1e6
        out[f"sqlite_{name}_us"] = _sqlite_us(study_class, tables, name)
    return out


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (compare's worker processes): what a run costs
    whatever the other processes on the machine do to its wall time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _sqlite_us(study_class: type, tables: object, name: str) -> float:
    """Microseconds per trial of benchmark searches on SQLite-backed studies (one database per seed)."""
    from nasforge.optimizers import create_optimizer

    try:
        from nasforge.benchmarks.blackbox import BenchmarkEvaluator
    except ImportError:
        from nasforge.evaluators import BenchmarkEvaluator
    total, trials = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="nasforge-bench-search-") as tmp:
        for seed in range(SQLITE_SEEDS):
            evaluator = BenchmarkEvaluator(dataset="cifar10", tables=tables)
            start = time.perf_counter()
            with study_class.create(Path(tmp) / f"run{seed}", {"optimizer": name, "seed": seed}) as study:
                outcome = study.optimize(create_optimizer(name, seed), evaluator, time_budget=BUDGET)
            total += time.perf_counter() - start
            trials += len(outcome.trials)
    return total / trials * 1e6


def _run(tree: Path, args: argparse.Namespace, plain: bool) -> dict:
    command = [sys.executable, __file__, "--measure", "--seeds", str(args.seeds), "--workers", str(args.workers),
               "--trials", str(args.trials)] + (["--data-dir", args.data_dir] if args.data_dir else []) \
        + (["--plain"] if plain else [])  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


KEYS = ("compare_s", "compare_1proc_s", "compare_cpu_s", "compare_1proc_cpu_s", "ask_tell_rs_us", "ask_tell_rea_us",
        "loop_rs_us", "loop_rea_us", "sqlite_rs_us", "sqlite_rea_us")  # fmt: skip
PLAIN_KEYS = ("plain_s", "plain_cpu_s", "plain_scalar_s", "plain_scalar_cpu_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="processes of the compare run")
    parser.add_argument("--trials", type=int, default=20_000, help="trials for the ask+tell timing")
    parser.add_argument("--old-tree", default=None, help="an older nasforge checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=2, help="alternating old/new rounds (best kept)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.data_dir, args.seeds, args.workers, args.trials, args.plain)))
        return

    trees = {"new": ROOT} | ({"old": Path(args.old_tree).resolve()} if args.old_tree else {})
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in reversed(trees.items()):  # old first in each round
            rounds[name].append(_run(tree, args, plain=name == "new"))
    # A key an older run of this script did not measure (the CPU seconds) is left out for that tree.
    best = {name: {k: min(r[k] for r in runs) for k in KEYS + (PLAIN_KEYS if name == "new" else ()) if k in runs[0]}
            for name, runs in rounds.items()}  # fmt: skip
    new = rounds["new"][0]
    for name, runs in rounds.items():  # every round of every tree ran the very same searches
        for r in runs:
            assert r["final_test"] == new["final_test"] and r["n_trials"] == new["n_trials"], f"{name} differs"

    payload = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "command": "python perf/bench_search.py " + " ".join(sys.argv[1:]),
        "seeds": args.seeds,
        "budget_s": BUDGET,
        "compare_workers": args.workers,
        "rounds": args.rounds,
        "old_tree": args.old_tree,
        "mean_test": float(np.mean(new["final_test"])),
        "mean_trials": float(np.mean(new["n_trials"])),
        "results": best,
        "compare_vs_plain": best["new"]["plain_s"] / best["new"]["compare_s"],
        "compare_1proc_vs_plain": best["new"]["plain_s"] / best["new"]["compare_1proc_s"],
        # CPU seconds, which other processes on the machine do not inflate: the plain loop's over compare's per
        # process (its total over the workers); > 1 means compare on that many free cores beats the plain loop.
        "cpu_compare_per_process_vs_plain": best["new"]["plain_cpu_s"] / (best["new"]["compare_cpu_s"] / args.workers),
        "cpu_compare_1proc_vs_plain": best["new"]["plain_cpu_s"] / best["new"]["compare_1proc_cpu_s"],
        "cpu_compare_1proc_vs_plain_scalar": best["new"]["plain_scalar_cpu_s"] / best["new"]["compare_1proc_cpu_s"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")

    print(f"{'measurement':<32} " + " ".join(f"{name:>10}" for name in reversed(trees)))
    for key in KEYS:
        cells = " ".join(f"{best[n][key]:>10.2f}" if key in best[n] else f"{'':>10}" for n in reversed(trees))
        print(f"{key:<32} {cells}  {'s' if key.endswith('_s') else 'µs'}")
    for key in PLAIN_KEYS:
        print(f"{key:<32} {best['new'][key]:>10.2f}  s")
    print(f"compare ({args.workers} processes) vs the plain loop (1 process): {payload['compare_vs_plain']:.2f}x "
          f"(> 1: compare is faster); {args.seeds} seeds, mean test {payload['mean_test']:.4f}, mean trials "
          f"{payload['mean_trials']:.3f}, identical trajectories in every run")  # fmt: skip
    print(f"compare (1 process) vs the plain loop (1 process): {payload['compare_1proc_vs_plain']:.2f}x; load average "
          f"{payload['machine']['load_avg'][0]:.1f} (a loaded machine gives compare's second process less than a core)")
    print(f"CPU seconds, plain loop over compare: per compare process ({args.workers}) "
          f"{payload['cpu_compare_per_process_vs_plain']:.2f}x, compare on 1 process "
          f"{payload['cpu_compare_1proc_vs_plain']:.2f}x (vs the plain loop with scalar draws "
          f"{payload['cpu_compare_1proc_vs_plain_scalar']:.2f}x)")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
