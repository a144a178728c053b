"""``nasforge compare --objectives SET [--objectives SET ...]``: the multi-objective rows (hypervolume regret
against the exact front, many seeds), their plots and report. Called by :mod:`nasforge.cli.search`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.cli._common import Progress, check, emit

MO_OPTIMIZERS = ["rs", "morea", "nsga2", "parego", "mols"]
# HELP (Lee et al., NeurIPS 2021) reports an NB201 arch of 72.1 % CIFAR-100 accuracy at 14 ms on a Gold 6226.
HELP_POINT = ("latency_gold_6226", 14.0, 72.1)


def compare_mo(args: argparse.Namespace, run: Any, optimizers: list[str]) -> int:
    from nasforge._io import atomic_write_text
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.cli.search import _zc_scores
    from nasforge.objectives import format_objectives, parse_objectives
    from nasforge.search.mocompare import mo_compare

    sets = [format_objectives(parse_objectives(s)) for s in args.objectives]
    check(len(set(sets)) == len(sets), "--objectives repeats an objective set; give each once")
    check(all(len(parse_objectives(s)) == 2 for s in sets), "--objectives in compare takes 2 objectives per set")
    check(list(args.workers) == [1] and list(args.eval_cost_epochs) == [0],
          "--workers and --eval-cost-epochs apply to the single-objective rows; drop them with --objectives")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    check(len(datasets) == 1 and args.time_budget is not None and len(args.time_budget) == 1,
          "--objectives compares on one --datasets entry and one --time-budget (e.g. cifar100, 20000)")
    dataset, budget = datasets[0], float(args.time_budget[0])
    sss = getattr(args, "space", "nb201") == "nats-sss"
    names = tuple(dict.fromkeys([o.name for s in sets for o in parse_objectives(s)] + ([] if sss else ["test_acc"])))
    if sss:  # the size space: 1 per trial, metrics known for all 32,768 archs (no test accuracy exists)
        from nasforge.benchmarks.nats_sss import SEARCH_DATASETS, SSSBenchmarkEvaluator, sss_columns
        from nasforge.cli.search import _sss_store

        check(dataset in SEARCH_DATASETS, f"unknown nats-sss benchmark dataset {dataset!r}; known: "
                                          f"{', '.join(SEARCH_DATASETS)}")  # fmt: skip
        store = _sss_store(args.data_dir, args.store)
        sss_columns(store, SEARCH_DATASETS[dataset], names)  # a metric it lacks: one line naming what exists
        tables: Any = SSSBenchmarkEvaluator(store, dataset, objectives=parse_objectives(sets[0]))
    else:
        store = load_nb201(args.data_dir, args.store)
        tables = LookupTables.from_store(store, dataset, None, names)
    zc = _zc_scores(args, optimizers, [dataset], store).get(dataset)  # the NAME+zc optimizers' proxy scores
    started = time.perf_counter()
    with Progress("compare", total=args.seeds * len(optimizers) * len(sets), unit="searches",
                  min_interval=10.0) as bar:  # fmt: skip
        rows = mo_compare(tables, sets, optimizers, range(args.seeds), budget, workers=args.processes,
                          progress=bar.update, zc=zc)  # fmt: skip
    seconds = time.perf_counter() - started
    argv = ["nasforge", "compare", *(["--space", "nats-sss"] if sss else []), "--optimizers", ",".join(optimizers),
            "--seeds", str(args.seeds), "--datasets", dataset, "--time-budget", f"{budget:g}"]  # fmt: skip
    for s in sets:
        argv += ["--objectives", s]
    argv += (["--zc", args.zc] if args.zc else []) + (["--zc-store", str(args.zc_store)] if args.zc_store else [])
    argv += ["--out", str(args.out)] + (["--report", str(args.report)] if args.report else [])
    command = shlex.join([*argv, "--force"])
    run.begin()
    out = Path(args.out)
    plots = _plots(rows, tables, sets, optimizers, out, zc)
    for target in [out / "results.md"] + ([Path(args.report)] if args.report else []):
        atomic_write_text(target, _report(rows, sets, optimizers, command, seconds, plots, tables, target))
    payload = {"command": command, "seconds": seconds, "rows": [r.to_dict() for r in rows],
               "plots": [str(p) for p in plots]}  # fmt: skip
    atomic_write_text(out / "compare.json", json.dumps(payload, indent=1))
    brief = {**payload, "rows": [{k: v for k, v in r.items() if k != "final"} for r in payload["rows"]]}
    emit(args, brief, lambda: markdown_table(rows, sets, optimizers) + f"\n\nwrote {out / 'results.md'}")
    return 0


def markdown_table(rows: list[Any], sets: list[str], optimizers: list[str]) -> str:
    """Objective sets x optimizers: mean ± std normalised hypervolume regret (and true-front points found)."""
    head = "| objectives | front | " + " | ".join(optimizers) + " |"
    lines = [head, "|" + "---|" * (len(optimizers) + 2)]
    for s in sets:
        cells = []
        for name in optimizers:
            r = next(r for r in rows if r.objectives == s and r.optimizer == name)
            cells.append(f"{r.mean:.3f} ± {r.std:.3f} ({np.mean(r.on_front):.1f})")
        front = next(r for r in rows if r.objectives == s).front_size
        lines.append(f"| `{s}` | {front} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plots(rows: list[Any], tables: Any, sets: list[str], optimizers: list[str], out: Path,
           zc: Any = None) -> list[Path]:  # fmt: skip
    from nasforge.objectives import parse_objectives
    from nasforge.pareto import TrueFront
    from nasforge.search.evaluators import clock_unit
    from nasforge.search.mocompare import run_mo_front
    from nasforge.viz.multiobjective import plot_budget, plot_fronts, plot_regret

    # nats-sss charges 1 per trial: its budget and the curves' grid count trials
    axis = {} if clock_unit(tables) == "s" else {"xlabel": "trials (the simulated clock: 1 per trial)"}
    paths = []
    for s in sets:
        objectives = parse_objectives(s)
        slug = objectives[1].name
        curves = {}
        for name in optimizers:
            r = next(r for r in rows if r.objectives == s and r.optimizer == name)
            curves[name] = (r.curves.mean(axis=0), r.curves.std(axis=0))
            grid = r.grid
        title = f"{s} on {tables.dataset}, {rows[0].final.size} seeds (mean ± std)"
        paths.append(plot_regret(curves, grid, out / f"hv_regret_{slug}.png", title=title, **axis))
        true = TrueFront.from_columns(tables.columns, objectives)
        found = {name: run_mo_front(tables, objectives, name, 0, rows[0].time_budget, zc)
                 for name in optimizers}  # fmt: skip
        paths.append(plot_fronts(true.front[:, ::-1], {k: v[:, ::-1] for k, v in found.items()},
                                 out / f"front_{slug}.png", xlabel=objectives[1].name, ylabel=objectives[0].name,
                                 title=f"front found (seed 0) vs true front, {tables.dataset}",
                                 log_x=objectives[1].name.startswith("latency")))  # fmt: skip
    metric, _, _ = HELP_POINT
    if metric in tables.columns and "test_acc" in tables.columns:
        budgets, best = budget_curve(tables.columns["test_acc"], tables.columns[metric])
        paths.append(plot_budget(budgets, best, out / "budget_gold_6226.png", xlabel=f"{metric} budget (ms)",
                                 ylabel=f"best {tables.dataset} test accuracy (%)",
                                 marks={"HELP: 72.1 % at 14 ms": HELP_POINT[1:]},
                                 title="best feasible accuracy vs latency budget (all 15,625 archs)"))  # fmt: skip
    return paths


def budget_curve(value: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct cost, the best value among archs at most that costly (a running maximum)."""
    ok = np.isfinite(value) & np.isfinite(cost)
    order = np.argsort(cost[ok], kind="stable")
    return cost[ok][order], np.maximum.accumulate(value[ok][order])


def _report(rows: list[Any], sets: list[str], optimizers: list[str], command: str, seconds: float,
            plots: list[Path], tables: Any, report: Path) -> str:  # fmt: skip
    images = "\n".join(f"![{p.stem}]({Path(os.path.relpath(p.resolve(), report.resolve().parent)).as_posix()})"
                       for p in plots)  # fmt: skip
    from nasforge.benchmarks.blackbox import LookupTables

    seeds = rows[0].final.size
    sss = not isinstance(tables, LookupTables)
    space = "the NATS-Bench size space (nats-sss)" if sss else "NAS-Bench-201"
    archs = "32,768" if sss else "15,625"
    budget_unit = "trials" if sss else "s simulated"
    charge = ("Each trial costs 1 (NATS's training times exist for 3 of the 32,768 archs): the budget counts "
              "trials. **These are validation-set results** (90-epoch validation accuracy of seed 777; no test "
              "accuracy exists for the space)." if sss else "Trials are charged NB201's 12-epoch training time.")
    return f"""# Multi-objective NAS on {space}: hypervolume regret against the exact front

Generated by `nasforge compare --objectives ...` ({seeds} seeds per cell, {seconds:.0f} s wall). Regenerate with:

```
{command}
```

Each cell: mean ± std (ddof=0, seeds 0..{seeds - 1}) of the **normalised hypervolume regret** at the
{rows[0].time_budget:,.0f} {budget_unit} budget on {tables.dataset} — (HV(true front) - HV(found)) / HV(true front),
both w.r.t. the worst value of each objective over all {archs} archs — and, in brackets, the mean number of
true-front archs found. "front" is the size of the exact front. {charge}

{markdown_table(rows, sets, optimizers)}

{images}
"""
