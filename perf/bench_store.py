"""Benchmark store vs the NASLib way (``pickle.load`` of ``nb201_<dataset>_full_training.pickle``), in one run.

The script writes full-size NASLib-format pickles with random values (15,625 archs x 4 per-epoch lists
x 200 epochs, eval lists 201 long as in the real file, plus cost_info) for cifar10-valid, cifar100 and
ImageNet16-120, imports all three into one nasforge store (3 datasets, all metrics, curves for every
arch), and measures each side in fresh subprocesses:

* open: ``open_store`` of the whole store vs ``pickle.load`` of ONE dataset's pickle;
* memory: RSS added by opening + 10,000 random per-epoch queries;
* single query p50 (final value; and per-epoch), and one metric for all 15,625 archs.

Old vs new layout in the same run: the store is also rewritten in the schema-2 layout (the previous
release: one float scalar table per dataset) and the schema-1 layout (every array dense over all 15,625 archs
in float64, curves indexed by rows files), and they are measured the same way. The random pickle values are
float64, so this store can be neither narrowed nor stored as decimals; its size is compared with the three
pickles it holds (an earlier version of this script compared the 3-dataset store with ONE pickle).

With the real data present (``$NASFORGE_DATA/nb201``) it also builds the two real stores in all three layouts:
the full NB201 store (the two CSVs, curves and the NATS files) against the two CSVs uncompressed, and the 3-arch
NATS fixture (``curves/raw/*.pickle.pbz2`` + the meta file) against those files, plus their ``bench pack``
(.tar.xz) sizes; and it measures open/query on the NB201 store in the three layouts, interleaved.

Usage: ``python perf/bench_store.py [--workdir DIR] [--keep]``; prints a table and writes
perf/results/store.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
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
    import_s = time.perf_counter() - start
    single = workdir / "store-one-pickle"  # what the issue set against ONE pickle: a store of that pickle alone
    if not single.exists():
        builder = StoreBuilder()
        import_naslib_pickle(builder, pickles[0])
        builder.write(single)
    return pickles, store, import_s


def write_old_copy(store_path: Path, out: Path, version: int) -> Path:
    """``store_path`` rewritten in an older layout, the "old" side of the old-vs-new measurement: schema 1 (every
    array dense over all 15,625 archs in float64, curves indexed by rows files) or schema 2 (the previous
    release: one float scalar table per dataset, float32 where exact, sparse seeds and curves, int32 ids)."""
    from nasforge.benchmarks import open_store
    from nasforge.benchmarks.builder import _narrowed
    from nasforge.benchmarks.store import MANIFEST, sha256_file

    if (out / MANIFEST).is_file():
        return out
    store = open_store(store_path)
    files: dict[str, dict] = {}

    def save(rel: str, array: np.ndarray) -> str:
        file = out / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        np.save(file, np.ascontiguousarray(array), allow_pickle=False)
        files[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
        return rel

    def float_array(array: np.ndarray) -> np.ndarray:
        return np.asarray(array, np.float64) if version == 1 else _narrowed(np.asarray(array, np.float64))

    def archs(rel: str, covered: np.ndarray) -> dict:
        return {} if version == 1 or covered.all() else {"archs": save(rel, np.flatnonzero(covered).astype(np.int32))}

    datasets = {}
    for ds, d in store._datasets.items():
        metrics = sorted(store._finals(d))
        table = np.stack([store._final_column(ds, m) for m in metrics]) if metrics else np.zeros((0, 15625))
        covered = ~np.isnan(table).all(axis=0) if version > 1 else np.ones(table.shape[1], bool)
        entry: dict = {"scalars": {"file": save(f"scalars/{ds}.npy", float_array(table[:, covered])),
                                   "metrics": metrics, **archs(f"scalars/{ds}.archs.npy", covered)},
                       "seeds": {}, "curves": {}}  # fmt: skip
        for m in d["seeds"]:
            values, ids = store._seed_table(ds, m)
            covered = ~np.isnan(values).all(axis=1) | (ids != 0).any(axis=1)
            covered |= version == 1
            entry["seeds"][m] = {"values": save(f"seeds/{ds}/{m}.npy", float_array(values[covered])),
                                 "ids": save(f"seeds/{ds}/{m}.ids.npy", ids[covered].astype(np.int32)),
                                 **archs(f"seeds/{ds}/{m}.archs.npy", covered)}  # fmt: skip
        for m in d["curves"]:
            rows, values, ids = store._curve_table(ds, m)
            index = ({"rows": save(f"curves/{ds}/{m}.rows.npy", rows)} if version == 1 else
                     {"archs": save(f"curves/{ds}/{m}.archs.npy", np.flatnonzero(rows >= 0).astype(np.int32))})
            entry["curves"][m] = {**index, "values": save(f"curves/{ds}/{m}.npy", float_array(values)),
                                  "ids": save(f"curves/{ds}/{m}.ids.npy", ids.astype(np.int32))}  # fmt: skip
        datasets[ds] = entry
    manifest = {**store.manifest, "schema_version": version, "datasets": datasets, "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    store.close()
    return out


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _gunzipped_mb(path: Path) -> float:
    with gzip.open(path, "rb") as f:
        return sum(len(block) for block in iter(lambda: f.read(1 << 20), b"")) / 2**20


def real_stores(workdir: Path) -> dict | None:
    """Sizes of the real NB201 and 3-arch NATS stores (old and new layout) beside their sources."""
    from nasforge.benchmarks import StoreBuilder, build_nb201_store
    from nasforge.benchmarks.importers import import_nats
    from nasforge.benchmarks.nb201 import CSV_NAME, LATENCY_NAME

    nb201 = Path(os.environ.get("NASFORGE_DATA", "")) / "nb201"
    if not (nb201 / CSV_NAME).is_file():
        return None
    new = workdir / "nb201-store"
    if not new.exists():
        print("building the real NB201 store ...", file=sys.stderr)
        build_nb201_store(nb201, new)
    v2 = write_old_copy(new, workdir / "nb201-store-v2", 2)
    v1 = write_old_copy(new, workdir / "nb201-store-v1", 1)
    nats_sources = sorted((nb201 / "curves" / "raw").glob("*.pickle.pbz2")) + sorted(
        (nb201 / "nats_tss_meta").glob("*meta.pickle.pbz2")
    )
    nats_new = workdir / "nats-fixture-store"
    if not nats_new.exists():
        builder = StoreBuilder()
        import_nats(builder, nats_sources)
        builder.write(nats_new)
    nats_v2 = write_old_copy(nats_new, workdir / "nats-fixture-store-v2", 2)
    nats_v1 = write_old_copy(nats_new, workdir / "nats-fixture-store-v1", 1)
    return {
        "nb201": {"store_mb": _mb(new), "store_v2_mb": _mb(v2), "store_v1_mb": _mb(v1), "files": _count(new),
                  "files_v2": _count(v2), "packed_mb": _packed_mb(new, workdir / "nb201-store.tar.xz"),
                  "source_csvs_uncompressed_mb": _gunzipped_mb(nb201 / CSV_NAME) + _gunzipped_mb(nb201 / LATENCY_NAME),
                  "source_csvs_gz_mb": ((nb201 / CSV_NAME).stat().st_size + (nb201 / LATENCY_NAME).stat().st_size)
                  / 2**20, "path_new": str(new), "path_v2": str(v2), "path_v1": str(v1)},
        "nats_fixture": {"store_mb": _mb(nats_new), "store_v2_mb": _mb(nats_v2), "store_v1_mb": _mb(nats_v1),
                         "packed_mb": _packed_mb(nats_new, workdir / "nats-fixture-store.tar.xz"),
                         "source_mb": sum(p.stat().st_size for p in nats_sources) / 2**20},
    }  # fmt: skip


def _count(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def _packed_mb(store: Path, out: Path) -> float:
    from nasforge.benchmarks.packing import pack_store

    if not out.exists():
        pack_store(store, out)
    return out.stat().st_size / 2**20


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
    if kind == "real":  # the real NB201 store: final values of every arch, no curves for most
        t = time.perf_counter()
        store = open_store(target)
        out["open_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        store.query(0, "cifar100", "test_acc")  # the first use of a dataset maps and widens (v2: its whole table)
        out["first_query_ms"] = (time.perf_counter() - t) * 1e3
        out["query_p50_us"] = _p50(lambda a: store.query(a, "cifar10-valid", "valid_acc"), idx.tolist())
        out["query_seed_p50_us"] = _p50(lambda a: store.query(a, "cifar100", "valid_acc_nats", seed=0),
                                        idx[:2000].tolist())  # fmt: skip
        out["query_epoch_p50_us"] = _p50(lambda a: store.query(a, "cifar10-valid", "valid_acc", epoch=a % 200),
                                         (idx % 200).tolist())  # fmt: skip
        everything = np.arange(15625)
        out["vector_ms"] = _median_ms(lambda: store.query_many(everything, "cifar10-valid", "valid_acc"))
        return out
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
        old_store = write_old_copy(store, workdir / "store-v2", 2)
        v1_store = write_old_copy(store, workdir / "store-v1", 1)
        # New and previous layout interleaved, so that load from other processes on a shared machine hits both.
        pairs = [(run_measure("store", store, 1), run_measure("store", old_store, 1)) for _ in range(args.repeats)]
        ours, old = ({k: statistics.median(r[k] for r in side) for k in side[0]} for side in zip(*pairs))
        base = run_measure("pickle", pickles[0], args.repeats)
        store_mb, store_v2_mb, store_v1_mb = _mb(store), _mb(old_store), _mb(v1_store)
        one_pickle_store_mb = _mb(workdir / "store-one-pickle")
        pickle_mb = pickles[0].stat().st_size / 2**20
        pickles_mb = sum(p.stat().st_size for p in pickles) / 2**20
        real = real_stores(workdir)
        if real is not None:
            # Interleaved, so that load from other processes on a shared machine hits both sides alike.
            paths = {side: Path(real["nb201"].pop(f"path_{side}")) for side in ("new", "v2", "v1")}
            runs: dict[str, list] = {side: [] for side in paths}
            for _ in range(args.repeats):
                for side, path in paths.items():
                    runs[side].append(run_measure("real", path, 1))
            for side, values in runs.items():
                real["nb201"][side] = {k: statistics.median(r[k] for r in values) for k in values[0]}
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
        ("size on disk (store: 3 datasets; pickles: 3)", f"{store_mb:.0f} MB", f"{pickles_mb:.0f} MB",
         f"{store_mb / pickles_mb:.2f}x"),
        ("size on disk (store of 1 pickle; 1 pickle)", f"{one_pickle_store_mb:.1f} MB", f"{pickle_mb:.1f} MB",
         f"{one_pickle_store_mb / pickle_mb:.2f}x"),
        ("import 3 pickles -> store (one-off)", f"{import_s:.1f} s" if import_s else "(reused)", "", ""),
    ]  # fmt: skip
    print(f"{'measure':<42} {'nasforge store':>16} {'NASLib pickle':>15} {'ratio':>14}")
    for row in rows:
        print(f"{row[0]:<42} {row[1]:>16} {row[2]:>15} {row[3]:>14}")
    print(f"\n{'previous (schema 2) vs new (3), same run':<42} {'new':>16} {'old':>15} {'new/old':>14}")
    for key in ("open_ms", "query_p50_us", "query_epoch_p50_us", "query_arch_p50_us", "vector_ms", "vector_epoch_ms"):
        print(f"{'synthetic ' + key:<42} {ours[key]:>16.3f} {old[key]:>15.3f} {ours[key] / old[key]:>14.2f}")
    print(f"{'synthetic size_mb (v1: ' + f'{store_v1_mb:.1f})':<42} {store_mb:>16.1f} {store_v2_mb:>15.1f} "
          f"{store_mb / store_v2_mb:>14.2f}")  # fmt: skip
    if real is not None:
        nb, nats = real["nb201"], real["nats_fixture"]
        for key in nb["new"]:
            print(f"{'real NB201 ' + key:<42} {nb['new'][key]:>16.3f} {nb['v2'][key]:>15.3f} "
                  f"{nb['new'][key] / nb['v2'][key]:>14.2f}   (v1: {nb['v1'][key]:.3f})")  # fmt: skip
        label = f"real NB201 size_mb (CSVs: {nb['source_csvs_uncompressed_mb']:.2f})"
        print(f"{label:<42} {nb['store_mb']:>16.2f} {nb['store_v2_mb']:>15.2f} "
              f"{nb['store_mb'] / nb['store_v2_mb']:>14.3f}   (v1: {nb['store_v1_mb']:.1f}; .tar.xz "
              f"{nb['packed_mb']:.2f}; .csv.gz {nb['source_csvs_gz_mb']:.2f})")  # fmt: skip
        print(f"{'real NB201 files':<42} {nb['files']:>16} {nb['files_v2']:>15}")
        label = f"NATS 3-arch size_mb (source: {nats['source_mb']:.2f})"
        print(f"{label:<42} {nats['store_mb']:>16.3f} {nats['store_v2_mb']:>15.3f} "
              f"{nats['store_mb'] / nats['store_v2_mb']:>14.3f}   (v1: {nats['store_v1_mb']:.1f}; .tar.xz "
              f"{nats['packed_mb']:.3f})")  # fmt: skip
        checks["NB201 store <= its two CSVs uncompressed"] = nb["store_mb"] <= nb["source_csvs_uncompressed_mb"]
        checks["3-arch NATS store < 1 MB"] = nats["store_mb"] < 1.0
        for key in ("open_ms", "query_p50_us", "query_seed_p50_us", "query_epoch_p50_us", "vector_ms"):
            checks[f"NB201 {key} within 10% of schema 2"] = nb["new"][key] <= 1.1 * nb["v2"][key]
    checks["store <= the three pickles it holds"] = store_mb <= pickles_mb
    checks["one pickle's store <= that pickle"] = one_pickle_store_mb <= pickle_mb
    for name, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"store": ours, "store_v2_layout": old, "naslib_pickle": base, "ratios": ratios, "targets": TARGETS,
               "checks": checks, "store_mb": store_mb, "store_v2_mb": store_v2_mb, "store_v1_mb": store_v1_mb,
               "pickle_mb": pickle_mb, "one_pickle_store_mb": one_pickle_store_mb,
               "pickles_mb": pickles_mb, "real_stores": real, "import_s": import_s, "n_queries": N_QUERIES,
               "python": sys.version.split()[0], "numpy": np.__version__}  # fmt: skip
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
