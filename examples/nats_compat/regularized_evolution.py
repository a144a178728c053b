"""Regularised evolution written the way NATS-Bench's published example is (``exps/NATS-algos/regularized_ea.py``):
the same API calls, our own code. It runs unchanged on the official API: replace the import line below with
``from nats_bench import create``.

    python examples/nats_compat/regularized_evolution.py --dataset cifar10 --time-budget 12000 --seeds 100

Each seed: a population of 10 random topologies; then, until ``used_time`` passes the budget (as NATS, the
trial that crosses it still counts), sample 3 members, mutate the best one on one edge, "train" the child
with ``simulate_train_eval(arch, dataset, hp='12')`` and replace the oldest member. Reports the best arch's
200-epoch test accuracy. ``--candidates 0,11,284`` restricts the search to those indices (a mutation then
picks another candidate), for a file holding only a few archs, such as NATS's test fixture.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics

from nasforge.compat.nats import create

OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
MAX_NODES = 4


def random_topology(candidates: list[int] | None, api) -> str:
    if candidates:
        return api.arch(random.choice(candidates))
    nodes = []
    for i in range(1, MAX_NODES):
        nodes.append("|" + "|".join(f"{random.choice(OP_NAMES)}~{j}" for j in range(i)) + "|")
    return "+".join(nodes)


def mutate_topology(parent: str, candidates: list[int] | None, api) -> str:
    """NATS's tss mutation: one random edge of one random node gets a different random op."""
    if candidates:
        others = [c for c in candidates if api.arch(c) != parent]
        return api.arch(random.choice(others))
    nodes = [[entry.split("~") for entry in node.strip("|").split("|")] for node in parent.split("+")]
    node = random.randint(0, len(nodes) - 1)
    edge = random.randint(0, len(nodes[node]) - 1)
    op = random.choice(OP_NAMES)
    while op == nodes[node][edge][0]:
        op = random.choice(OP_NAMES)
    nodes[node][edge][0] = op
    return "+".join("|" + "|".join(f"{o}~{j}" for o, j in node) + "|" for node in nodes)


def test_accuracy(api, arch: str, dataset: str) -> float:
    """The 200-epoch test accuracy NATS reports: CIFAR-10 trained on train+valid, the others' x-test."""
    return api.get_more_info(api.query_index_by_arch(arch), dataset, hp="200", is_random=False)["test-accuracy"]


def search(
    api, dataset: str, time_budget: float, seed: int, candidates: list[int] | None = None,
    population_size: int = 10, sample_size: int = 3,
) -> dict:  # fmt: skip
    random.seed(seed)
    api.reset_time()
    population, history, total_time_cost = collections.deque(), [], []
    while len(population) < population_size:
        arch = random_topology(candidates, api)
        accuracy, _, _, total_cost = api.simulate_train_eval(arch, dataset, hp="12")
        population.append((arch, accuracy))
        history.append((arch, accuracy, total_cost))
        total_time_cost.append(total_cost)
    while total_time_cost[-1] < time_budget:
        sample = [random.choice(list(population)) for _ in range(sample_size)]
        parent = max(sample, key=lambda member: member[1])
        child = mutate_topology(parent[0], candidates, api)
        accuracy, _, _, total_cost = api.simulate_train_eval(child, dataset, hp="12")
        population.append((child, accuracy))
        history.append((child, accuracy, total_cost))
        total_time_cost.append(total_cost)
        population.popleft()
    best_arch, best_acc, _ = max(history, key=lambda h: h[1])
    return {"seed": seed, "best_arch": best_arch, "best_valid": best_acc, "trials": len(history),
            "test_acc": test_accuracy(api, best_arch, dataset), "history": history}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--path", default=None, help="benchmark: a store, NATS's directory or file (default: the store)")
    p.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100", "ImageNet16-120"))
    p.add_argument("--time-budget", type=float, default=12000)
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    p.add_argument("--candidates", default=None, help="comma-separated arch indices to search among")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    api = create(args.path, "tss", fast_mode=True, verbose=False)
    candidates = [int(c) for c in args.candidates.split(",")] if args.candidates else None
    runs = [search(api, args.dataset, args.time_budget, seed, candidates) for seed in range(args.seeds)]
    accs = [r["test_acc"] for r in runs]
    summary = {"algorithm": "regularized evolution", "dataset": args.dataset, "time_budget": args.time_budget,
               "seeds": args.seeds, "test_acc_mean": statistics.fmean(accs), "test_acc_std": statistics.pstdev(accs),
               "trials_mean": statistics.fmean(r["trials"] for r in runs)}  # fmt: skip
    if args.json:
        print(json.dumps(summary))
    else:
        mean, std, trials = summary["test_acc_mean"], summary["test_acc_std"], summary["trials_mean"]
        print(f"REA on {args.dataset}, {args.time_budget:.0f} s, {args.seeds} seeds: test accuracy "
              f"{mean:.2f} ± {std:.2f} ({trials:.1f} trials)")  # fmt: skip
    return {"summary": summary, "runs": runs}


if __name__ == "__main__":
    main()
