"""Black-box search on NATS-Bench's size space (sss) and its exact accuracy x cost fronts.

1. ``compare``: rs, rea, ls and tpe on the sss benchmark (objective: ``valid_acc_90ep_s777``, the 90-epoch
   *validation* accuracy of training seed 777 — no test accuracy exists for the space), each trial charged one
   unit (:data:`nasforge.benchmarks.nats_sss.TRIAL_COST`: training times exist for 3 archs only), ``--seeds``
   seeds per optimizer; the incumbent's validation accuracy after 50, 100 and ``--trials`` trials, mean ± std,
   and the space's best value.
2. ``fronts``: the exact Pareto fronts over all 32,768 archs, validation accuracy (max) x params / FLOPs (min).

Usage: ``python scripts/sss_compare.py [--seeds 100] [--trials 300] [--data-dir DIR | --store STORE]``;
prints markdown tables and writes docs/compare/sss_compare.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from nasforge.benchmarks.analysis import pareto_front
from nasforge.benchmarks.nats_sss import OBJECTIVE, SEARCH_DATASETS, SSSBenchmarkEvaluator, load_sss
from nasforge.optimizers import create_optimizer
from nasforge.search.study import Study
from nasforge.spaces.nats_sss import SSSArch
from nasforge.spaces.nats_sss_model import cost_table

OPTIMIZERS = ("rs", "rea", "ls", "tpe")
CHECKPOINTS = (50, 100)


def incumbent_curve(evaluator: SSSBenchmarkEvaluator, optimizer: str, seed: int, trials: int) -> np.ndarray:
    """The incumbent's objective after each trial of one search."""
    study = Study.in_memory({"space": "nats-sss", "optimizer": optimizer, "seed": seed})
    outcome = study.optimize(create_optimizer(optimizer, seed, space="nats-sss"), evaluator, n_iter=trials)
    return np.maximum.accumulate([t.result.objective for t in outcome.trials])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--store", default=None)
    default_out = Path(__file__).resolve().parents[1] / "docs" / "compare" / "sss_compare.json"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args()
    store = load_sss(args.data_dir, args.store, costs=cost_table)
    report: dict = {"objective": OBJECTIVE, "cost": "one unit per trial", "seeds": args.seeds, "trials": args.trials}
    checkpoints = (*CHECKPOINTS, args.trials)
    lines = [f"| dataset | optimizer | {' | '.join(f'{c} trials' for c in checkpoints)} | space best |",
             "|---|---|" + "---|" * len(checkpoints) + "---|"]  # fmt: skip
    for dataset, store_ds in SEARCH_DATASETS.items():
        evaluator = SSSBenchmarkEvaluator(store, dataset)
        best = float(np.nanmax(evaluator.values))
        report[dataset] = {"space_best": best, "space_best_arch": str(SSSArch.from_index(int(np.nanargmax(
            evaluator.values)))), "optimizers": {}}  # fmt: skip
        for name in OPTIMIZERS:
            start = time.perf_counter()
            curves = np.stack([incumbent_curve(evaluator, name, s, args.trials) for s in range(args.seeds)])
            at = {c: curves[:, c - 1] for c in checkpoints}
            report[dataset]["optimizers"][name] = {
                str(c): {"mean": float(v.mean()), "std": float(v.std()), "found_best": int((v == best).sum())}
                for c, v in at.items()
            }
            cells = " | ".join(f"{v.mean():.2f} ± {v.std():.2f}" for v in at.values())
            lines.append(f"| {dataset} | {name} | {cells} | {best:.2f} |")
            print(f"{dataset} {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        fronts = {}
        for cost in ("params", "flops"):
            values = getattr(evaluator, cost)
            front = pareto_front(values, evaluator.values)
            fronts[cost] = {
                "size": len(front),
                "archs": [{"arch": str(SSSArch.from_index(int(i))), "index": int(i), OBJECTIVE: float(
                    evaluator.values[i]), cost: float(values[i])} for i in front],
            }  # fmt: skip
        report[dataset]["fronts"] = fronts
        print(f"{dataset} ({store_ds}): exact fronts: {fronts['params']['size']} archs (accuracy x params), "
              f"{fronts['flops']['size']} (accuracy x FLOPs)", flush=True)  # fmt: skip
    print("\n".join(lines))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
