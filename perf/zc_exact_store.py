"""A zero-cost store of the exact data-free proxy ``flops`` for all 15,625 NB201 archs x 3 datasets.

The ``flops`` proxy of ``nasforge zc score`` counts the NB201 network (C=16, N=5) whose FLOPs NB201 records: on
the 2,000 archs x 3 datasets scored so far by ``nasforge zc score --proxies synflow,params,flops --archs all`` it
equals the benchmark store's ``flops`` to the last digit (checked again on every arch such a store holds:
``--check STORE``; ``params`` differs by up to 0.028 M on CIFAR-10, whose search dataset is ``cifar10-valid``, so it
is not copied). So this script copies the benchmark's column into a store as ``zc_flops`` in seconds instead of
scoring 46,875 networks. No ``zc_flops_time`` is written: a search charges the proxy's measured mean seconds
(perf/results/zerocost.json: 0.0004 s per arch).

Usage: ``python perf/zc_exact_store.py --out DIR [--overwrite] [--check ZC_STORE]`` (the benchmark store:
$NASFORGE_STORE or the data directory's NB201 files, as every command). ``--overwrite`` replaces only a store this
script wrote; ``--check`` compares on the datasets the checked store scored. Bad input: one line, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nasforge.benchmarks import load_nb201, open_store
from nasforge.benchmarks.blackbox import BENCHMARK_DATASETS
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.store import MANIFEST
from nasforge.cli._common import ArgumentParser, check
from nasforge.errors import NasforgeError
from nasforge.spaces.nb201 import NUM_ARCHS

PROG = "perf/zc_exact_store.py"
IMPORTER = "zc-exact"  # the provenance entry that marks a store as this script's (what --overwrite may replace)
PROXY = "flops"


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="new store directory")
    parser.add_argument("--overwrite", action="store_true", help="replace --out, a store this script wrote earlier")
    parser.add_argument("--check", default=None, help="a store written by 'nasforge zc score' to compare against")
    args = parser.parse_args(argv)
    try:
        _check_out(Path(args.out), args.overwrite)
        bench = load_nb201(None, None)
        checked = _checked_datasets(args.check) if args.check else {}
        every = np.arange(NUM_ARCHS)
        builder = StoreBuilder()
        for dataset, (search_ds, _) in BENCHMARK_DATASETS.items():
            values = bench.query_many(every, search_ds, PROXY, missing="nan")
            builder.set_scalar(dataset, f"zc_{PROXY}", every, values)
            if args.check:
                print(_compare(checked.get(dataset), values, dataset, args.check))
        builder.add_provenance(IMPORTER, None, copied_from=f"the benchmark store's {PROXY} (exact counts)")
        builder.write(args.out, overwrite=args.overwrite)
    except NasforgeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


def _check_out(out: Path, overwrite: bool) -> None:
    """``--out`` is new, or (with ``--overwrite``) a store this script wrote: nothing else is ever replaced."""
    if not out.exists():
        return
    check(overwrite, f"--out {out} already exists; add --overwrite to replace the store this script wrote there, "
                     "or choose another --out")  # fmt: skip
    try:
        importers = {entry.get("importer") for entry in open_store(out).provenance}
    except NasforgeError:
        importers = set()
    check(importers == {IMPORTER}, f"--out {out} is not a store this script wrote (--overwrite replaces only those); "
                                   "choose another --out")  # fmt: skip


def _checked_datasets(path: str) -> dict[str, np.ndarray]:
    """The ``zc_flops`` scores of every dataset the ``--check`` store holds them for (opened before any work)."""
    metric = f"zc_{PROXY}"
    made_by = f"give a store that 'nasforge zc score --proxies {PROXY}' wrote"
    check((Path(path) / MANIFEST).is_file(), f"--check {path} is not a store (no {MANIFEST}); {made_by}")
    store = open_store(path)
    scored = {ds: store.query_many(np.arange(NUM_ARCHS), ds, metric, missing="nan") for ds in BENCHMARK_DATASETS
              if ds in store.datasets and metric in store.metrics(ds)}  # fmt: skip
    check(bool(scored), f"--check {path} holds no {metric} on {', '.join(BENCHMARK_DATASETS)}; {made_by}")
    return scored


def _compare(scored: np.ndarray | None, values: np.ndarray, dataset: str, path: str) -> str:
    if scored is None:
        return f"{dataset} {PROXY}: not scored in {path}, not checked"
    have = np.isfinite(scored)
    worst = float(np.max(np.abs(scored[have] - values[have]), initial=0.0))
    return f"{dataset} {PROXY}: {int(have.sum())} scored archs, largest difference {worst:.3g}"


if __name__ == "__main__":
    sys.exit(main())
