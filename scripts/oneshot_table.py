"""The NB201 one-shot table of docs/oneshot.md: every method x seed on the CPU protocol, resumable.

Each run is ``nasforge oneshot --method M --space nb201 --dataset cifar10 --C 8 --layers 1 --epochs E
--batch-size 64 --seed S --fraction F --out RUNS/M-sS`` (``--resume`` when its checkpoint exists, so an
interrupted table continues where it stopped: a finished run is skipped, a started one continues after its
last epoch). Every epoch's derived cell is looked up in the NB201 benchmark by the search itself
(``search.jsonl``: ``benchmark.cifar10_test_acc``, ``benchmark.cifar10_rank_pct``).

``--report`` only reads the runs and writes RUNS/table.md and RUNS/table.json: per method the derived
cell's NB201 test accuracy per epoch (mean ± std over the finished seeds), its final value and rank, the
wall time, beside the NB201 paper's numbers.

Usage::

    nice -n 10 python scripts/oneshot_table.py --runs runs/oneshot            # run (or continue) everything
    python scripts/oneshot_table.py --runs runs/oneshot --report              # the table from what ran
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

METHODS = ("darts", "gdas", "drnas")
PAPER = {  # NB201 paper (Dong & Yang 2020, Table 5) and DrNAS (Chen et al. 2021): CIFAR-10 test accuracy
    "darts": "54.30 ± 0.00 (DARTS-V1/V2)",
    "gdas": "93.61 ± 0.09",
    "drnas": "94.36 ± 0.00",
}


def run_dir(runs: Path, method: str, seed: int) -> Path:
    return runs / f"{method}-s{seed}"


def records(path: Path) -> list[dict]:
    file = path / "search.jsonl"
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_all(args: argparse.Namespace) -> None:
    for seed in args.seeds:
        for method in args.methods:
            out = run_dir(args.runs, method, seed)
            epochs = args.darts_epochs if method == "darts" else args.epochs
            if len(records(out)) >= epochs:
                continue
            cmd = [
                sys.executable, "-m", "nasforge.cli.main", "oneshot", "--method", method, "--space", "nb201",
                "--dataset", "cifar10", "--C", str(args.C), "--layers", str(args.N), "--epochs", str(epochs),
                "--batch-size", "64", "--seed", str(seed), "--fraction", str(args.fraction), "--out", str(out),
                "--threads", str(args.threads), "--json",
            ]  # fmt: skip
            if (out / "checkpoint.pt").is_file():
                cmd.append("--resume")
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def report(args: argparse.Namespace) -> None:
    table: dict[str, dict] = {}
    lines = [
        "| method | seeds | epochs | NB201 test acc per epoch (mean ± std) | final | rank % | wall s | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        runs = [records(run_dir(args.runs, method, s)) for s in args.seeds]
        runs = [r for r in runs if r and r[-1].get("benchmark")]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        per_epoch = []
        for e in range(n):
            values = [r[e]["benchmark"]["cifar10_test_acc"] for r in runs]
            per_epoch.append((statistics.mean(values), statistics.pstdev(values)))
        final = [r[-1]["benchmark"]["cifar10_test_acc"] for r in runs]
        rank = [r[-1]["benchmark"]["cifar10_rank_pct"] for r in runs]
        wall = [sum(rec["seconds"] for rec in r) for r in runs]
        table[method] = {"per_epoch": per_epoch, "final": final, "rank_pct": rank, "seconds": wall}
        curve = ", ".join(f"{m:.2f}±{s:.2f}" for m, s in per_epoch)
        lines.append(
            f"| {method} | {len(runs)} | {n} | {curve} | {statistics.mean(final):.2f} ± {statistics.pstdev(final):.2f}"
            f" | {statistics.mean(rank):.1f} | {statistics.mean(wall):.0f} | {PAPER[method]} |"
        )
    args.runs.mkdir(parents=True, exist_ok=True)
    (args.runs / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.runs / "table.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/oneshot"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--darts-epochs", type=int, default=10)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="only write the table from the runs so far")
    args = parser.parse_args()
    if not args.report:
        run_all(args)
    report(args)


if __name__ == "__main__":
    main()
