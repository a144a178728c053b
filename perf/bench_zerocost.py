"""Zero-cost proxy cost: CPU seconds per arch of each proxy, and of all together with shared passes vs one by one.

Setting of the issue: NB201 networks C=16 N=5 for CIFAR-10, batch 64 of real CIFAR-10 images (random ones if
the data directory is absent), 2 torch threads. For each of ``--archs`` random archs (seeded) the script builds and
initialises the network, then measures (``time.process_time``: CPU seconds of the process, all threads):

* each proxy alone (its own forward/backward passes);
* all proxies with :func:`nasforge.zerocost.score` sharing passes, and all one by one (``shared=False``).

Usage: ``python perf/bench_zerocost.py [--archs 5] [--seed 0]``; prints a table and writes
perf/results/zerocost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "zerocost.json"


def cpu_seconds(fn) -> float:  # noqa: ANN001
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    from nasforge import zerocost as zc
    from nasforge.errors import DataError
    from nasforge.spaces.nb201 import NB201Arch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        batch, images = zc.data_batch("cifar10", 64, args.seed), "CIFAR-10 (shared data directory)"
    except DataError:
        gen = torch.Generator().manual_seed(args.seed)
        batch = zc.Batch(torch.randn(64, 3, 32, 32, generator=gen), torch.randint(0, 10, (64,), generator=gen))
        images = "random normal (no data directory)"
    indices = np.random.default_rng(args.seed).permutation(15_625)[: args.archs].tolist()
    alone: dict[str, list[float]] = {name: [] for name in zc.PROXIES}
    shared, separate, build = [], [], []
    for index in indices:
        arch = NB201Arch.from_index(index)
        build.append(cpu_seconds(lambda arch=arch: zc.nb201_network(arch, "cifar10", args.seed)))
        net = zc.nb201_network(arch, "cifar10", args.seed)
        zc.score(net, batch, ["params"])  # warm-up: first-call allocations out of the timings
        for name in zc.PROXIES:
            alone[name].append(cpu_seconds(lambda name=name, net=net: zc.score(net, batch, [name], seed=args.seed)))
        shared.append(cpu_seconds(lambda net=net: zc.score(net, batch, "all", seed=args.seed)))
        separate.append(cpu_seconds(lambda net=net: zc.score(net, batch, "all", seed=args.seed, shared=False)))
        print(f"arch {index}: shared {shared[-1]:.2f} s, one by one {separate[-1]:.2f} s", flush=True)
    per_proxy = {name: statistics.mean(v) for name, v in alone.items()}
    result = {
        "setting": {"space": "nb201", "C": 16, "N": 5, "dataset": "cifar10", "batch": 64, "images": images,
                    "threads": args.threads, "archs": indices, "seed": args.seed},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "load_avg_1min": os.getloadavg()[0]},
        "cpu_s_per_arch": per_proxy,
        "build_cpu_s_per_arch": statistics.mean(build),
        "all_shared_cpu_s": statistics.mean(shared),
        "all_one_by_one_cpu_s": statistics.mean(separate),
        "one_by_one_over_shared": statistics.mean(separate) / statistics.mean(shared),
    }  # fmt: skip
    print(f"\n{'proxy':<10} {'CPU s/arch':>10}")
    for name, value in per_proxy.items():
        print(f"{name:<10} {value:>10.3f}")
    print(f"{'(build)':<10} {result['build_cpu_s_per_arch']:>10.3f}")
    print(f"all, shared passes {result['all_shared_cpu_s']:.2f} s; one by one {result['all_one_by_one_cpu_s']:.2f} s; "
          f"ratio {result['one_by_one_over_shared']:.2f}x")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
