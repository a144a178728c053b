"""Benchmark store vs the NASLib way (``pickle.load`` of ``nb201_<dataset>_full_training.pickle``), in one run.

The script writes full-size NASLib-format pickles with random values (15,625 archs x 4 per-epoch lists
x 200 epochs, eval lists 201 long as in the real file, plus cost_info) for cifar10-valid, cifar100 and
ImageNet16-120, imports all three into one nasforge store (3 datasets, all metrics, curves for every
arch), and measures each side in fresh subprocesses:

* open: ``open_store`` of the whole store vs ``pickle.load`` of ONE dataset's pickle;
* memory: RSS added by opening + 10,000 random per-epoch queries;
* single query p50 (final value; and per-epoch), and one metric for all 15,625 archs.

Usage: ``python perf/bench_store.py [--workdir DIR] [--keep]``; prints a table and writes
perf/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
DATASETS = ("cifar10-valid", "cifar100", "ImageNet16-120")
N_QUERIES = 10_000
TARGETS = {"open_ms": 50.0, "open_speedup": 20.0, "memory_mb": 100.0, "memory_ratio": 5.0,
           "query_p50_us": 5.0, "vector_ms": 5.0}  # fmt: skip


# --- data generation ------------------------------------------------------------------------------------------


def write_naslib_pickle(path: Path, dataset: str, rng: np.random.Generator) -> None:
    from nasforge.spaces.nb201 import all_archs

    data = {}
    for arch in all_archs():
        record = {
            "train_losses": rng.uniform(0, 3, 200).tolist(),
            "eval_losses": rng.uniform(0, 3, 201).tolist(),
            "train_acc1es": rng.uniform(0, 100, 200).tolist(),
            "eval_acc1es": rng.uniform(0, 100, 201).tolist(),
            "cost_info": {
                k: float(v) for k, v in zip(("flops", "params", "latency", "train_time"), rng.uniform(0, 1, 4))
            },
        }
        data[arch.to_string()] = {dataset: record}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)


def build(workdir: Path) -> tuple[list[Path], Path, float]:
    from nasforge.benchmarks import StoreBuilder
    from nasforge.benchmarks.importers import import_naslib_pickle

    rng = np.random.default_rng(0)
    pickles = []
    for ds in DATASETS:
        path = workdir / f"nb201_{ds}_full_training.pickle"
        if not path.exists():
            print(f"writing {path.name} ...", file=sys.stderr)
            write_naslib_pickle(path, ds, rng)
        pickles.append(path)
    store = workdir / "store"
    start = time.perf_counter()
    if not store.exists():
        builder = StoreBuilder()
        for path in pickles:
            print(f"importing {path.name} ...", file=sys.stderr)
            import_naslib_pickle(builder, path)
        builder.write(store)
    return pickles, store, time.perf_counter() - start


# --- measurements (each in a fresh interpreter) ---------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(kind: str, target: str) -> dict[str, float]:
    from nasforge.benchmarks import open_store
    from nasforge.spaces.nb201 import NB201Arch

    rng = np.random.default_rng(1)
    idx = rng.integers(0, 15625, N_QUERIES)
    epochs = rng.integers(0, 200, N_QUERIES)
    metrics = ("train_acc", "train_loss", "valid_acc", "valid_loss")
    naslib_keys = ("train_acc1es", "train_losses", "eval_acc1es", "eval_losses")
    which = rng.integers(0, 4, N_QUERIES)
    dss = rng.integers(0, len(DATASETS), N_QUERIES)
    strings = [NB201Arch.from_index(int(i)).to_string() for i in range(15625)]
    out: dict[str, float] = {}
    if kind == "store":
        before = _rss_mb()
        t = time.perf_counter()
        store = open_store(target)
        out["open_ms"] = (time.perf_counter() - t) * 1e3
        for i, e, m, d in zip(idx, epochs, which, dss):
            store.query(int(i), DATASETS[d], metrics[m], epoch=int(e))
        out["memory_mb"] = _rss_mb() - before

        def final(a):  # noqa: ANN001, ANN202
            return store.query(a, "cifar10-valid", "valid_acc")

        out["query_p50_us"] = _p50(final, idx.tolist())
        out["query_epoch_p50_us"] = _p50(lambda a: store.query(a[0], "cifar10-valid", "valid_acc", epoch=a[1]),
                                         list(zip(idx.tolist(), epochs.tolist())))  # fmt: skip
        out["query_arch_p50_us"] = _p50(final, [NB201Arch.from_index(int(i)) for i in idx])
        texts = [strings[i] for i in idx]
        out["query_string_p50_us"] = _p50(final, texts)  # first sight of most strings: parsed
        out["query_string_warm_p50_us"] = _p50(final, texts)  # the store's cache now knows them
        everything = np.arange(15625)
        out["vector_ms"] = _median_ms(lambda: store.query_many(everything, "cifar10-valid", "valid_acc"))
        out["vector_epoch_ms"] = _median_ms(
            lambda: store.query_many(everything, "cifar10-valid", "valid_acc", epoch=199)
        )
        t = time.perf_counter()
        open_store(target, checksums="eager")
        out["open_eager_checksums_ms"] = (time.perf_counter() - t) * 1e3
    else:
        before = _rss_mb()
        t = time.perf_counter()
        with open(target, "rb") as f:
            data = pickle.load(f)
        out["open_ms"] = (time.perf_counter() - t) * 1e3
        ds = next(iter(next(iter(data.values()))))
        for i, e, m in zip(idx, epochs, which):
            data[strings[i]][ds][naslib_keys[m]][e]
        out["memory_mb"] = _rss_mb() - before
        out["query_p50_us"] = _p50(lambda s: data[s][ds]["eval_acc1es"][199], [strings[i] for i in idx])
        out["vector_ms"] = _median_ms(lambda: np.array([data[s][ds]["eval_acc1es"][199] for s in strings]))
    return out


def _p50(call, args) -> float:  # noqa: ANN001
    times = []
    clock = time.perf_counter_ns
    for a in args:
        t = clock()
        call(a)
        times.append(clock() - t)
    return statistics.median(times) / 1e3


def _median_ms(call, repeat: int = 30) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def run_measure(kind: str, target: Path, repeats: int) -> dict[str, float]:
    runs = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, __file__, "--measure", kind, str(target)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"measurement {kind} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# --- report ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to write the pickles and store (default: tmp)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--repeats", type=int, default=3, help="subprocess runs per side (median)")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1])))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nasforge-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        pickles, store, import_s = build(workdir)
        ours = run_measure("store", store, args.repeats)
        base = run_measure("pickle", pickles[0], args.repeats)
        store_mb = sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 2**20
        pickle_mb = pickles[0].stat().st_size / 2**20
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    ratios = {
        "open_speedup": base["open_ms"] / ours["open_ms"],
        "memory_ratio": base["memory_mb"] / max(ours["memory_mb"], 1e-9),
        "query_ratio": base["query_p50_us"] / ours["query_p50_us"],
        "vector_ratio": base["vector_ms"] / ours["vector_ms"],
    }
    checks = {
        "open < 50 ms": ours["open_ms"] < TARGETS["open_ms"],
        "open >= 20x faster than pickle": ratios["open_speedup"] >= TARGETS["open_speedup"],
        "memory < 100 MB": ours["memory_mb"] < TARGETS["memory_mb"],
        "memory >= 5x below pickle": ratios["memory_ratio"] >= TARGETS["memory_ratio"],
        "single query p50 < 5 us": ours["query_p50_us"] < TARGETS["query_p50_us"],
        "15,625-arch vector query < 5 ms": ours["vector_ms"] < TARGETS["vector_ms"],
    }
    rows = [
        ("open (store: 3 datasets; pickle: 1)", f"{ours['open_ms']:.2f} ms", f"{base['open_ms']:.0f} ms",
         f"{ratios['open_speedup']:.0f}x faster"),
        ("RSS added: open + 10k random queries", f"{ours['memory_mb']:.1f} MB", f"{base['memory_mb']:.0f} MB",
         f"{ratios['memory_ratio']:.0f}x less"),
        ("single query p50 (index, final)", f"{ours['query_p50_us']:.2f} us", f"{base['query_p50_us']:.2f} us",
         f"{ratios['query_ratio']:.2f}x"),
        ("single query p50 (index, epoch=e)", f"{ours['query_epoch_p50_us']:.2f} us", "", ""),
        ("single query p50 (NB201Arch)", f"{ours['query_arch_p50_us']:.2f} us", "", ""),
        ("single query p50 (arch string, 1st time)", f"{ours['query_string_p50_us']:.2f} us", "", ""),
        ("single query p50 (arch string, again)", f"{ours['query_string_warm_p50_us']:.2f} us", "", ""),
        ("one metric, all 15,625 archs", f"{ours['vector_ms']:.3f} ms", f"{base['vector_ms']:.2f} ms",
         f"{ratios['vector_ratio']:.0f}x faster"),
        ("same at epoch=199 (curves)", f"{ours['vector_epoch_ms']:.3f} ms", "", ""),
        ("open with eager sha256 of all files", f"{ours['open_eager_checksums_ms']:.0f} ms", "", ""),
        ("size on disk", f"{store_mb:.0f} MB", f"{pickle_mb:.0f} MB", ""),
        ("import 3 pickles -> store (one-off)", f"{import_s:.1f} s" if import_s else "(reused)", "", ""),
    ]  # fmt: skip
    print(f"{'measure':<42} {'nasforge store':>16} {'NASLib pickle':>15} {'ratio':>14}")
    for row in rows:
        print(f"{row[0]:<42} {row[1]:>16} {row[2]:>15} {row[3]:>14}")
    for name, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"store": ours, "naslib_pickle": base, "ratios": ratios, "targets": TARGETS, "checks": checks,
               "store_mb": store_mb, "pickle_mb": pickle_mb, "import_s": import_s, "n_queries": N_QUERIES,
               "python": sys.version.split()[0], "numpy": np.__version__}  # fmt: skip
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
