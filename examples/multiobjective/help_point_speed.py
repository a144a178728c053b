"""How fast constrained single-objective searches reach HELP's reported point (72.1 % CIFAR-100 test accuracy
within 14 ms on a Gold 6226): search the 200-epoch validation accuracy under ``latency_gold_6226<=14`` for 200
trials (NB201's 200-epoch training time charged per trial), seeds 0-19, and report how many seeds' feasible
incumbent reaches a test accuracy >= 72.1 % and the median trials / simulated seconds to get there
(docs/multiobjective.md). Run: ``python examples/multiobjective/help_point_speed.py`` (about 20 s)."""

from __future__ import annotations

import numpy as np

from nasforge.benchmarks import load_nb201
from nasforge.benchmarks.blackbox import BenchmarkEvaluator
from nasforge.objectives import parse_constraints, parse_objectives
from nasforge.optimizers import create_optimizer
from nasforge.search.study import Study

TARGET = 72.1


def main() -> None:
    evaluator = BenchmarkEvaluator(load_nb201(), "cifar100", objective="valid_acc",
                                   objectives=parse_objectives("valid_acc:max"),
                                   constraints=parse_constraints("latency_gold_6226<=14"))  # fmt: skip
    print("| optimizer | seeds reaching 72.1 % | median trials | median simulated s |")
    print("|---|---|---|---|")
    for name in ("rs", "rea", "ls", "tpe", "morea"):
        reached: list[tuple[float, int]] = []
        for seed in range(20):
            hit: list[tuple[float, int]] = []

            def track(record, study, hit=hit) -> None:  # noqa: ANN001
                inc = study.incumbent
                if not hit and inc is not None and inc.result.metrics["test_acc"] >= TARGET:
                    hit.append((study.clock, len(study.trials)))

            Study.in_memory({}).optimize(create_optimizer(name, seed), evaluator, n_iter=200, callback=track)
            reached.append(hit[0] if hit else (np.inf, np.inf))
        clocks, trials = np.array(reached).T
        print(f"| {name} | {int(np.isfinite(clocks).sum())}/20 | {np.median(trials):.0f} | {np.median(clocks):,.0f} |")


if __name__ == "__main__":
    main()
