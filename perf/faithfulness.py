"""Faithfulness check: does nasforge's short training rank NB201 architectures like the 200-epoch benchmark?

Trains, with the seed exercise's protocol (a class-balanced 5% of CIFAR-10 = 2,500 images, 10 epochs), the
best NB201 architecture (index 6111), the all-``none`` architecture and ``--random`` fixed-seed random
architectures, measures test accuracy on a class-balanced sample of the CIFAR-10 test set, and reports the
Spearman rank correlation with NB201's 200-epoch CIFAR-10 test accuracy (``c10_test_acc_200``).

Usage::

    python perf/faithfulness.py --data-dir ../shared/data [--random 10] [--test-size 2000] [--threads 1]

Results go to perf/results/faithfulness.json (rewritten after every architecture, so a killed run
resumes where it stopped) and the table to docs/faithfulness.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from nasforge._io import atomic_write_text
from nasforge.data import class_balanced_subset, load_dataset
from nasforge.spaces.nb201 import NB201Arch, sample
from nasforge.spaces.nb201_model import NB201Network
from nasforge.train import TrainConfig, evaluate, seeded, train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results" / "faithfulness.json"
DOC = ROOT / "docs" / "faithfulness.md"
BEST_INDEX = 6111
NONE_ARCH = NB201Arch(("none",) * 6)


def benchmark_accuracy(csv_path: Path) -> dict[int, float]:
    """NB201's 200-epoch CIFAR-10 test accuracy (seed mean) per architecture index, read with stdlib csv."""
    with gzip.open(csv_path, "rt", newline="") as f:
        return {int(row["index"]): float(row["c10_test_acc_200"]) for row in csv.DictReader(f)}


def chosen_archs(n_random: int, seed: int) -> list[tuple[str, NB201Arch]]:
    archs = [("best", NB201Arch.from_index(BEST_INDEX)), ("all-none", NONE_ARCH)]
    rng = np.random.default_rng(seed)
    while len(archs) < 2 + n_random:
        arch = sample(rng)
        if arch not in {a for _, a in archs}:
            archs.append((f"random-{len(archs) - 1}", arch))
    return archs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--random", type=int, default=10, help="number of fixed-seed random architectures")
    parser.add_argument("--arch-seed", type=int, default=0, help="seed of the random architectures")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--test-size", type=int, default=2000, help="class-balanced test images (0 = all 10,000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data subset and of training")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train_full = load_dataset("cifar10", "train", args.data_dir, allow_embedded=False)
    test_full = load_dataset("cifar10", "test", args.data_dir, allow_embedded=False)
    train_set = class_balanced_subset(train_full, args.fraction, args.seed)
    test_set = (
        test_full if args.test_size == 0 else class_balanced_subset(test_full, args.test_size / len(test_full), 1)
    )
    bench_csv = Path(train_full.source).parents[1] / "nb201" / "nb201_final.csv.gz"
    if args.data_dir is not None:
        bench_csv = Path(args.data_dir) / "nb201" / "nb201_final.csv.gz"
    bench = benchmark_accuracy(bench_csv)
    config = TrainConfig(epochs=args.epochs, seed=args.seed)
    protocol = {
        "train": train_set.source,
        "fraction": args.fraction,
        "train_size": len(train_set),
        "test_size": len(test_set),
        "config": config.to_dict(),
        "threads": args.threads,
    }
    done = _previous(protocol)
    for label, arch in chosen_archs(args.random, args.arch_seed):
        if any(r["index"] == arch.index for r in done):
            continue
        with seeded(args.seed):
            model = NB201Network(arch, num_classes=10)
        start = time.perf_counter()
        result = train(model, train_set, None, config, progress=False)
        train_seconds = time.perf_counter() - start
        _, test_acc = evaluate(model, test_set)
        row = {
            "label": label,
            "index": arch.index,
            "arch": arch.to_string(),
            "op_code": arch.op_code,
            "train_acc": result.train_acc,
            "test_acc": test_acc,
            "nb201_test_acc_200": bench[arch.index],
            "train_minutes": train_seconds / 60,
            "total_minutes": (time.perf_counter() - start) / 60,
        }
        done.append(row)
        print(
            f"{label:10s} {arch.op_code}  test {test_acc:6.2f}%  NB201 {bench[arch.index]:6.2f}%  "
            f"{row['total_minutes']:.1f} min",
            flush=True,
        )
        _write(protocol, done)
    _write(protocol, done)
    print(DOC.read_text())


def _previous(protocol: dict) -> list[dict]:
    if not RESULTS.is_file():
        return []
    old = json.loads(RESULTS.read_text())
    return old["rows"] if old.get("protocol") == protocol else []


def _write(protocol: dict, rows: list[dict]) -> None:
    ours = [r["test_acc"] for r in rows]
    theirs = [r["nb201_test_acc_200"] for r in rows]
    rho = float(spearmanr(ours, theirs).statistic) if len(rows) >= 3 else None
    random_rows = [r for r in rows if r["label"].startswith("random")]
    rho_random = (
        float(spearmanr([r["test_acc"] for r in random_rows], [r["nb201_test_acc_200"] for r in random_rows]).statistic)
        if len(random_rows) >= 3
        else None
    )
    payload = {"protocol": protocol, "rows": rows, "spearman": rho, "spearman_random_only": rho_random}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(payload, indent=2) + "\n")
    atomic_write_text(DOC, _markdown(protocol, rows, rho, rho_random))


def _markdown(protocol: dict, rows: list[dict], rho: float | None, rho_random: float | None) -> str:
    cfg = protocol["config"]
    lines = [
        "# Faithfulness of short training on real CIFAR-10",
        "",
        "Generated by `python perf/faithfulness.py` (numbers in `perf/results/faithfulness.json`).",
        "",
        f"Protocol (the seed exercise's): train on a class-balanced {protocol['train_size']:,}-image subset "
        f"({protocol['fraction']:g} of the CIFAR-10 training set) of the shared JPEG-q75 CIFAR-10 files "
        f"for {cfg['epochs']} epochs, batch {cfg['batch_size']}, {cfg['optimizer'].upper()} lr {cfg['lr']} "
        f"(Nesterov momentum {cfg['momentum']}, weight decay {cfg['weight_decay']}, {cfg['schedule']} schedule), "
        f"crop + flip augmentation, seed {cfg['seed']}; "
        f"test accuracy on a class-balanced sample of {protocol['test_size']:,} CIFAR-10 test images. "
        f"{protocol['threads']} CPU thread(s). NB201 column: `c10_test_acc_200`, the benchmark's 200-epoch "
        "seed-mean CIFAR-10 test accuracy.",
        "",
        "| arch | index | op code | our test acc (%) | NB201 200-epoch test acc (%) | train acc (%) | minutes |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['index']} | `{r['op_code']}` | {r['test_acc']:.2f} | {r['nb201_test_acc_200']:.2f} | "
            f"{r['train_acc']:.2f} | {r['total_minutes']:.1f} |"
        )
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines += [
        "",
        f"Spearman rank correlation with NB201, all {len(rows)} architectures: **{fmt(rho)}**; "
        f"random architectures only: **{fmt(rho_random)}**.",
        "",
        "Architectures whose cell has no path from input to output score 10% (chance) in NB201 and here alike. "
        "Minutes are wall-clock time (training and test evaluation) on the project's 2-core machine, which "
        "other jobs may share; `perf/bench_training.py` measures throughput.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
