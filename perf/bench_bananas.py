"""BANANAS' cost: ask+tell CPU time per trial at 100 and 300 evaluated archs, and per whole benchmark search.

1. ``per_trial``: an optimizer is told ``n`` results (n = 100, 300; a separable objective, values do not change
   the cost), then runs ``repeats`` BANANAS iterations of ``batch`` (10) ask+tell cycles; the CPU seconds of those
   cycles / their count is the amortised ask+tell time per trial (each iteration fits the ensemble once and
   scores its candidates). Variants: ``bananas`` (path encoding), ``bananas+zc`` features (path + a proxy score),
   and ``rea`` as the baseline measured in the same run (ratio column).
2. ``searches`` (needs the data directory): CPU seconds of whole benchmark searches of bananas and bananas+zc
   (seeds 0..S-1) under the compare table's budgets (CIFAR-10 12,000 s, CIFAR-100 40,000 s, ImageNet16-120
   120,000 s), and the projected CPU time of the table's BANANAS rows (``--table-seeds`` x 3 datasets x 2 rows).
   The zero-cost variant runs on a stand-in proxy (the arch's parameter count, which every store holds) with the
   synflow's measured mean seconds: its CPU cost does not depend on which proxy's numbers it reads.

CPU time (``time.process_time``) is used, not wall time, so other programs on a shared machine skew it less;
it still varies with cache and memory-bandwidth contention. Re-run on a quiet machine with:
``python perf/bench_bananas.py --repeats 5 --seeds 5``. Writes perf/results/bananas.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from nasforge._io import atomic_write_text
from nasforge.optimizers import create_optimizer
from nasforge.optimizers.zerocost import ProxyScores
from nasforge.spaces.nb201 import NUM_ARCHS
from nasforge.trial import Result

RESULTS = Path(__file__).resolve().parent / "results" / "bananas.json"
WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
BUDGETS = {"cifar10": 12000.0, "cifar100": 40000.0, "ImageNet16-120": 120000.0}


def _objective(arch) -> float:
    return float(WEIGHTS @ np.array(arch.op_indices))


def _stand_in_proxy() -> ProxyScores:
    scores = np.random.default_rng(0).random(NUM_ARCHS)
    return ProxyScores("stand-in", scores, np.full(NUM_ARCHS, 1.411))


def per_trial(name: str, told: int, repeats: int, **options) -> float:
    """Mean CPU seconds of one ask+tell after ``told`` results, over ``repeats`` iterations of 10 trials."""
    opt = create_optimizer(name, 0, **options)
    for _ in range(told):
        request = opt.ask()
        opt.tell(request, Result.complete(_objective(request.arch)))
    n = 10 * repeats
    start = time.process_time()
    for _ in range(n):
        request = opt.ask()
        opt.tell(request, Result.complete(_objective(request.arch)))
    return (time.process_time() - start) / n


def searches(seeds: int) -> dict:
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.search.compare import run_search

    store = load_nb201(None, None)
    out = {}
    for dataset, budget in BUDGETS.items():
        tables = LookupTables.from_store(store, dataset)
        proxy = ProxyScores("params", np.asarray(tables.params, float), np.full(NUM_ARCHS, 1.411))
        grid = np.linspace(0.0, budget, 11)
        for name in ("rea", "bananas", "bananas+zc"):
            start = time.process_time()
            trials = [run_search(tables, name, s, budget, grid, zc=proxy)[1] for s in range(seeds)]
            cpu = (time.process_time() - start) / seeds
            out[f"{dataset}/{name}"] = {"cpu_s_per_search": cpu, "trials": float(np.mean(trials))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="BANANAS iterations (of 10 trials) timed per point")
    parser.add_argument("--seeds", type=int, default=2, help="whole searches per dataset and optimizer (0: skip)")
    parser.add_argument("--table-seeds", type=int, default=200, help="seeds of the compare table projected")
    args = parser.parse_args()
    proxy = _stand_in_proxy()
    rows = {}
    for told in (100, 300):
        base = per_trial("rea", told, args.repeats)
        variants = (("rea", "rea", {}), ("bananas", "bananas", {}),
                    ("bananas+zc features", "bananas", {"zc_features": True, "zc": proxy}))
        for label, name, options in variants:
            seconds = base if name == "rea" else per_trial(name, told, args.repeats, **options)
            rows[f"{label}@{told}"] = {"optimizer": label, "evaluated": told, "ms_per_trial": 1e3 * seconds,
                                       "ratio_vs_rea": seconds / base}  # fmt: skip
    print(f"{'optimizer':22s} {'evaluated':>9s} {'ask+tell ms/trial':>18s} {'x rea':>8s}")
    for r in rows.values():
        print(f"{r['optimizer']:22s} {r['evaluated']:9d} {r['ms_per_trial']:18.2f} {r['ratio_vs_rea']:8.0f}")
    table = {}
    if args.seeds and (os.environ.get("NASFORGE_DATA") or os.environ.get("NASFORGE_STORE")):
        table = searches(args.seeds)
        print(f"\n{'dataset/optimizer':32s} {'CPU s/search':>12s} {'trials':>7s}")
        for key, r in table.items():
            print(f"{key:32s} {r['cpu_s_per_search']:12.2f} {r['trials']:7.1f}")
        total = sum(r["cpu_s_per_search"] for k, r in table.items() if not k.endswith("/rea")) * args.table_seeds
        print(f"projected CPU of the table's bananas + bananas+zc rows ({args.table_seeds} seeds x 3 datasets): "
              f"{total / 60:.1f} min")  # fmt: skip
        table["projected_table_cpu_s"] = total
    payload = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_avg_1min": os.getloadavg()[0]},
        "settings": {"repeats": args.repeats, "seeds": args.seeds, "table_seeds": args.table_seeds,
                     "bananas": "defaults: 5 MLPs (2 x 20 ReLU), 100 full-batch Adam epochs, 100 candidates, 10 per "
                                "iteration"},  # fmt: skip
        "per_trial": rows,
        "searches": table,
    }
    atomic_write_text(RESULTS, json.dumps(payload, indent=1))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
