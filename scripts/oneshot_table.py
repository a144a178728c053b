"""The NB201 one-shot table of docs/oneshot.md: every method x seed on the CPU protocol, resumable.

Each run is ``nasforge oneshot --method M --space nb201 --dataset cifar10 --C 8 --layers 1 --epochs E
--batch-size 64 --seed S --fraction F --out RUNS/M-sS`` plus the method's own settings (DrNAS: its progressive
schedule ``--partial-channels 4,2 --keep-ops 5,3`` and α warm-up ``--warmup-epochs 2``, DrNAS' 10 of each 50-epoch
stage scaled to the table's 10-epoch stages; SPOS, RSPS, SETN: ``--candidates``, ``--recalib-batches``;
GDAS: ``--gdas-epochs`` instead of ``--epochs`` and ``--arch-lr`` = ``--gdas-arch-lr``, docs/oneshot.md "GDAS on
a short CPU protocol"), with ``--resume`` when its checkpoint exists, so an interrupted table continues where
it stopped: a finished run is skipped, a started one continues after its last epoch. Order: seed 0 of every
method, the long single-seed DARTS run (RUNS/darts-long-s0, ``--long-epochs``), the other seeds, and last the
long single-seed GDAS run (RUNS/gdas-long-s0, ``--gdas-long-epochs``). Every epoch's derived cell is looked
up in the NB201 benchmark by the search itself (``search.jsonl``: ``benchmark``).

``--report`` only reads the runs (every method found in RUNS, whatever ``--methods`` says, so two table
processes sharing RUNS each write the whole table) and writes RUNS/table.md (NB201 test accuracy of the
derived cell at a quarter, half and three quarters of the epochs, final mean ± std, rank, minutes per seed),
RUNS/table.json (every epoch; where present, DrNAS' earlier variants RUNS/nowarmup-drnas-sS and
RUNS/freshwiden-drnas-sS as the rows ``drnas-nowarmup`` and ``drnas-freshwiden``) and, per method,
``--plots``/M.png (default RUNS/plots: NB201 test accuracy of the derived cell, mean ± std over the seeds,
and the supernet's own one-shot accuracy, over the epochs). A seed with fewer epochs than the method's
longest (still running) is left out; a row whose runs have not reached the planned epochs says "E of P
(running)".

Usage::

    nohup setsid nice -n 19 python scripts/oneshot_table.py --runs /tmp/oneshot-table > /tmp/oneshot-table/log 2>&1 &
    python scripts/oneshot_table.py --runs /tmp/oneshot-table --report      # the table from what ran so far
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

METHODS = ("darts", "gdas", "drnas", "spos", "rsps", "setn")
PAPER = {  # CIFAR-10 test accuracy: NB201 paper (Dong & Yang 2020, Table 5); DrNAS (Chen et al. 2021, Table 3)
    "darts": "54.30 ± 0.00 (DARTS-V1/V2)",
    "gdas": "93.61 ± 0.09",
    "drnas": "94.36 ± 0.00",
    "spos": "— (RSPS 87.66 ± 1.69)",
    "rsps": "87.66 ± 1.69",
    "setn": "87.64 ± 0.00",
}


def method_args(method: str, args: argparse.Namespace) -> list[str]:
    if method == "drnas":
        return [
            "--partial-channels", args.partial_channels, "--keep-ops", args.keep_ops,
            "--warmup-epochs", str(args.drnas_warmup_epochs),
        ]  # fmt: skip
    if method == "gdas":
        return ["--arch-lr", str(args.gdas_arch_lr)]
    if method in ("spos", "rsps", "setn"):
        return ["--candidates", str(args.candidates), "--recalib-batches", str(args.recalib_batches)]
    return []


def run_dir(runs: Path, method: str, seed: int, long: bool = False) -> Path:
    return runs / (f"{method}-long-s{seed}" if long else f"{method}-s{seed}")


def records(path: Path) -> list[dict]:
    file = path / "search.jsonl"
    if not file.is_file():
        return []
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]


def planned(args: argparse.Namespace) -> list[tuple[str, int, int, Path]]:
    """(method, seed, epochs, directory) of every run, in the order they run."""
    first, rest = args.seeds[:1], args.seeds[1:]
    plan = [(m, s, method_epochs(m, args), run_dir(args.runs, m, s)) for s in first for m in args.methods]
    if args.long_epochs > 0 and "darts" in args.methods:
        plan.append(("darts", 0, args.long_epochs, run_dir(args.runs, "darts", 0, long=True)))
    plan += [(m, s, method_epochs(m, args), run_dir(args.runs, m, s)) for s in rest for m in args.methods]
    if args.gdas_long_epochs > 0 and "gdas" in args.methods:  # last: the table's seeds come first
        plan.append(("gdas", 0, args.gdas_long_epochs, run_dir(args.runs, "gdas", 0, long=True)))
    return plan


def method_epochs(method: str, args: argparse.Namespace) -> int:
    """GDAS trains one path per step, about a third of a DARTS step: it runs ``--gdas-epochs`` (docs/oneshot.md,
    "GDAS on a short CPU protocol"); every other method ``--epochs``."""
    return args.gdas_epochs if method == "gdas" else args.epochs


def run_all(args: argparse.Namespace) -> None:
    for method, seed, epochs, out in planned(args):
        if len(records(out)) >= epochs:
            continue
        cmd = [
            sys.executable, "-m", "nasforge.cli.main", "oneshot", "--method", method, "--space", "nb201",
            "--dataset", "cifar10", "--C", str(args.C), "--layers", str(args.N), "--epochs", str(epochs),
            "--batch-size", "64", "--seed", str(seed), "--fraction", str(args.fraction), "--out", str(out),
            "--threads", str(args.threads), "--json", *method_args(method, args),
        ]  # fmt: skip
        if (out / "checkpoint.pt").is_file():
            cmd.append("--resume")
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        report(args)  # the table so far after every finished run


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.pstdev(values)


def summarize(runs: list[list[dict]]) -> dict:
    n = min(len(r) for r in runs)
    true = [_mean_std([r[e]["benchmark"]["cifar10_test_acc"] for r in runs]) for e in range(n)]
    oneshot = [_mean_std([r[e]["valid_acc"] for r in runs]) for e in range(n)]
    return {
        "seeds": len(runs),
        "epochs": n,
        "true_per_epoch": true,
        "oneshot_per_epoch": oneshot,
        "final": [r[n - 1]["benchmark"]["cifar10_test_acc"] for r in runs],
        "rank_pct": [r[n - 1]["benchmark"]["cifar10_rank_pct"] for r in runs],
        "seconds": [sum(rec["seconds"] for rec in r[:n]) for r in runs],
        "archs": [r[n - 1]["genotype"] for r in runs],
    }


QUARTERS = (0.25, 0.5, 0.75)


def _row(name: str, s: dict, paper: str, planned_epochs: int) -> str:
    # The curve itself is in the plot and table.json; the table shows it at a quarter, half and three quarters
    # of the run (epoch ceil(q·E), from 1), so runs of different lengths read alike.
    at = [s["true_per_epoch"][max(1, math.ceil(q * s["epochs"])) - 1][0] for q in QUARTERS]
    final, rank = _mean_std(s["final"]), statistics.mean(s["rank_pct"])
    epochs = f"{s['epochs']}" if s["epochs"] >= planned_epochs else f"{s['epochs']} of {planned_epochs} (running)"
    return (
        f"| {name} | {s['seeds']} | {epochs} | {' · '.join(f'{a:.2f}' for a in at)} "
        f"| {final[0]:.2f} ± {final[1]:.2f} | {rank:.1f} | {statistics.mean(s['seconds']) / 60:.1f} | {paper} |"
    )


def _plot(path: Path, name: str, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, s["epochs"] + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    curves = (("true_per_epoch", "derived cell: NB201 test"), ("oneshot_per_epoch", "supernet: one-shot valid"))
    for key, label in curves:
        mean = [m for m, _ in s[key]]
        std = [sd for _, sd in s[key]]
        ax.plot(epochs, mean, marker="o", ms=3, label=label)
        low, high = [m - d for m, d in zip(mean, std, strict=True)], [m + d for m, d in zip(mean, std, strict=True)]
        ax.fill_between(epochs, low, high, alpha=0.2)
    ax.set_xlabel("search epoch")
    ax.set_ylabel("CIFAR-10 accuracy (%)")
    ax.set_title(f"{name}: true vs one-shot accuracy ({s['seeds']} seed(s))")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(args: argparse.Namespace) -> None:
    """Every method with finished epochs in RUNS (not only ``--methods``: two table processes may share RUNS)."""
    table: dict[str, dict] = {}
    lines = [
        "| method | seeds | epochs | NB201 test acc at ¼ · ½ · ¾ of the epochs | final (mean ± std) | rank % "
        "| min / seed | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    entries = [(m, [run_dir(args.runs, m, s) for s in args.seeds], PAPER[m], method_epochs(m, args)) for m in METHODS]
    entries += [
        (f"{m}-long", [run_dir(args.runs, m, 0, long=True)], PAPER[m], epochs)
        for m, epochs in (("darts", args.long_epochs), ("gdas", args.gdas_long_epochs))
    ]
    # DrNAS' earlier variants, kept for comparison (never run by this script): without α warm-up, and with warm-up
    # but fresh init of the widened channels instead of Net2Wider (docs/oneshot.md)
    entries += [
        (f"drnas-{variant}", [args.runs / f"{variant}-drnas-s{s}" for s in args.seeds], PAPER["drnas"], args.epochs)
        for variant in ("nowarmup", "freshwiden")
    ]
    plots = args.runs / "plots" if args.plots is None else args.plots
    for name, dirs, paper, planned_epochs in entries:
        runs = [r for r in (records(d) for d in dirs) if r and r[-1].get("benchmark")]
        if not runs:
            continue
        # A seed still running (fewer epochs than the longest) is left out rather than cutting the others short.
        runs = [r for r in runs if len(r) == max(len(x) for x in runs)]
        table[name] = summarize(runs)
        lines.append(_row(name, table[name], paper, planned_epochs))
        _plot(plots / f"{name}.png", name, table[name])
    args.runs.mkdir(parents=True, exist_ok=True)
    (args.runs / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.runs / "table.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("/tmp/oneshot-table"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--gdas-epochs", type=int, default=60, help="GDAS' epochs (a GDAS step costs ~1/3 of DARTS')")
    parser.add_argument("--gdas-long-epochs", type=int, default=200, help="the single-seed long GDAS run (0: none)")
    parser.add_argument("--gdas-arch-lr", type=float, default=3e-3, help="GDAS' α lr, scaled to its few steps")
    parser.add_argument("--long-epochs", type=int, default=100, help="the single-seed DARTS collapse run (0: none)")
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--fraction", type=float, default=0.1, help="share of the 50,000 CIFAR-10 training images")
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--recalib-batches", type=int, default=4)
    parser.add_argument("--partial-channels", default="4,2")
    parser.add_argument("--keep-ops", default="5,3")
    parser.add_argument(
        "--drnas-warmup-epochs", type=int, default=2,
        help="DrNAS' α warm-up per stage (DrNAS: 10 of each 50 epochs; 2 of the table's 10)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plots", type=Path, default=None, help="where the per-method plots go (default RUNS/plots)")
    parser.add_argument("--report", action="store_true", help="only write the table from the runs so far")
    args = parser.parse_args()
    if not args.report:
        run_all(args)
    report(args)


if __name__ == "__main__":
    main()
