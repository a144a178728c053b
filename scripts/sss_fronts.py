"""The exact accuracy x cost Pareto fronts of NATS-Bench's size space (sss) over all 32,768 archs.

Validation accuracy ``valid_acc_90ep_s777`` (max; the only accuracy known for every sss arch: no test accuracy
exists for the space) x params / FLOPs (min; counted from nasforge's networks), per dataset. (The many-seed
optimizer comparison that this script also ran is ``nasforge compare --space nats-sss`` now.)

Usage: ``python scripts/sss_fronts.py [--data-dir DIR | --store STORE]``; writes docs/compare/sss_fronts.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from nasforge.benchmarks.analysis import pareto_front
from nasforge.benchmarks.nats_sss import OBJECTIVE, SEARCH_DATASETS, SSSBenchmarkEvaluator, load_sss
from nasforge.spaces.nats_sss import SSSArch
from nasforge.spaces.nats_sss_model import cost_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--store", default=None)
    default_out = Path(__file__).resolve().parents[1] / "docs" / "compare" / "sss_fronts.json"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args()
    store = load_sss(args.data_dir, args.store, costs=cost_table)
    report: dict = {"objective": OBJECTIVE}
    for dataset, store_ds in SEARCH_DATASETS.items():
        evaluator = SSSBenchmarkEvaluator(store, dataset)
        best = float(np.nanmax(evaluator.values))
        report[dataset] = {"space_best": best, "space_best_arch": str(SSSArch.from_index(int(np.nanargmax(
            evaluator.values))))}  # fmt: skip
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
