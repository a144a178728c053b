"""A zero-cost store of the exact data-free proxy ``flops`` for all 15,625 NB201 archs x 3 datasets.

The ``flops`` proxy of ``nasforge zc score`` counts the NB201 network (C=16, N=5) whose FLOPs NB201 records: on
the 2,000 archs x 3 datasets scored so far by ``nasforge zc score --proxies synflow,params,flops --archs all`` it
equals the benchmark store's ``flops`` to the last digit (checked again on every arch such a store holds:
``--check STORE``; ``params`` differs by up to 0.028 M on CIFAR-10, whose search dataset is ``cifar10-valid``, so it
is not copied). So this script copies the benchmark's column into a store as ``zc_flops`` in seconds instead of
scoring 46,875 networks. No ``zc_flops_time`` is written: a search charges the proxy's measured mean seconds
(perf/results/zerocost.json: 0.0004 s per arch).

Usage: ``python perf/zc_exact_store.py --out DIR [--check ZC_STORE]`` (the benchmark store: $NASFORGE_STORE or the
data directory's NB201 files, as every command).
"""

from __future__ import annotations

import argparse

import numpy as np

from nasforge.benchmarks import load_nb201, open_store
from nasforge.benchmarks.blackbox import BENCHMARK_DATASETS
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.spaces.nb201 import NUM_ARCHS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="new store directory")
    parser.add_argument("--check", default=None, help="a store written by 'nasforge zc score' to compare against")
    args = parser.parse_args()
    bench = load_nb201(None, None)
    every = np.arange(NUM_ARCHS)
    builder = StoreBuilder()
    for dataset, (search_ds, _) in BENCHMARK_DATASETS.items():
        for proxy in ("flops",):
            values = bench.query_many(every, search_ds, proxy, missing="nan")
            builder.set_scalar(dataset, f"zc_{proxy}", every, values)
            if args.check:
                scored = open_store(args.check).query_many(every, dataset, f"zc_{proxy}", missing="nan")
                have = np.isfinite(scored)
                worst = float(np.max(np.abs(scored[have] - values[have]), initial=0.0))
                print(f"{dataset} {proxy}: {int(have.sum())} scored archs, largest difference {worst:.3g}")
    builder.add_provenance("zc-exact", None, copied_from="the benchmark store's params and flops (exact counts)")
    builder.write(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
