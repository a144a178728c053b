"""``nasforge pareto``: the exact Pareto front of any objective set over a whole space (NB201's 15,625 archs, or
``--space nats-sss``: NATS-Bench's 32,768 channel configurations), its hypervolume (and the reference point used),
and, with ``--budgets``, the best feasible value of one objective under each bound on the other, the cost (the one
to minimise; e.g. the best CIFAR-100 accuracy within 14 ms on a Gold 6226).

nasforge pareto --benchmark cifar100 --objectives valid_acc:max,latency_gold_6226:min
nasforge pareto --objectives valid_acc:max,latency_pixel3:min,params:min --constraint "latency_raspi4<=5" --json
nasforge pareto --benchmark cifar100 --objectives test_acc:max,latency_gold_6226:min --budgets 5,10,14,20
nasforge pareto --space nats-sss --benchmark cifar100 --objectives valid_acc_90ep_s777:max,params:min
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_data_dir, add_json_flag, check, emit
from nasforge.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pareto", help="the exact Pareto front of store metrics over the whole space")
    p.add_argument("--space", choices=("nb201", "nats-sss"), default="nb201",
                   help="benchmarked space (default nb201); nats-sss: metrics valid_acc_90ep_s777, params, flops")
    p.add_argument("--benchmark", default="cifar10", metavar="DATASET",
                   help="cifar10 (its cifar10-valid results, as searched), cifar100 or ImageNet16-120")  # fmt: skip
    p.add_argument("--objectives", required=True, metavar="METRIC:DIR[,...]",
                   help="store metrics with directions, e.g. valid_acc:max,latency_gold_6226:min (latency in ms)")
    p.add_argument("--constraint", dest="constraints", action="append", default=None, metavar="METRIC<=X",
                   help="keep only archs meeting it, e.g. latency_raspi4<=5 (repeatable)")
    p.add_argument("--ref", default=None, metavar="X,Y[,...]",
                   help="hypervolume reference point, one value per objective in its units (default: the worst "
                        "value of each objective over the feasible archs)")  # fmt: skip
    # A budget bounds a cost (latency, params, FLOPs: all positive); 0 or less would select nothing.
    p.add_argument("--budgets", type=argtypes.comma_list(argtypes.metric_bound), default=None, metavar="B[,B...]",
                   help="with 2 objectives: the best of one among archs whose cost (the :min one; the "
                        "second if both are) is within each budget (positive, in its units; write "
                        "--budgets=B,...)")  # fmt: skip
    p.add_argument("--store", default=None, metavar="DIR", help="benchmark store directory")
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_pareto)


def _numbers(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{flag} takes comma-separated numbers, got {text!r}") from None
    check(all(np.isfinite(values)), f"{flag} takes finite numbers, got {text!r}")
    return values


def cmd_pareto(args: argparse.Namespace) -> int:
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import check_benchmark_dataset, check_satisfiable, metric_columns
    from nasforge.objectives import parse_constraints, parse_objectives
    from nasforge.pareto import TrueFront
    from nasforge.trial import Direction

    objectives = parse_objectives(args.objectives)
    constraints = parse_constraints(args.constraints)
    ref = _numbers(args.ref, "--ref")
    budgets = args.budgets
    check(budgets is None or len(objectives) == 2, "--budgets needs exactly 2 objectives (value, budgeted metric)")
    if budgets is not None:  # a budget bounds a cost: the :min objective (the second when both are)
        check(any(o.direction is Direction.MINIMIZE for o in objectives),
              f"--budgets bounds a cost objective (one to minimise, e.g. latency_gold_6226:min); {args.objectives} "
              "maximises both: make one :min, or drop --budgets")  # fmt: skip
    names = tuple(dict.fromkeys([o.name for o in objectives] + [c.metric for c in constraints]))
    if args.space == "nats-sss":
        from nasforge.benchmarks.nats_sss import SEARCH_DATASETS, sss_columns
        from nasforge.cli.search import _sss_store

        check(args.benchmark in SEARCH_DATASETS, f"unknown nats-sss benchmark dataset {args.benchmark!r}; known: "
                                                 f"{', '.join(SEARCH_DATASETS)}")  # fmt: skip
        search_ds = SEARCH_DATASETS[args.benchmark]
        columns = sss_columns(_sss_store(args.data_dir, args.store), search_ds, names)
    else:
        search_ds, _ = check_benchmark_dataset(args.benchmark)
        columns = metric_columns(load_nb201(args.data_dir, args.store), search_ds, names)
    if constraints:
        check_satisfiable([(c, columns[c.metric]) for c in constraints], search_ds)
    start = time.perf_counter()
    true = TrueFront.from_columns(columns, objectives, constraints, ref)
    seconds = time.perf_counter() - start
    front = true.front
    order = np.lexsort(front.T[::-1])
    points = [{"index": int(true.indices[i]), "arch": _arch(args.space, int(true.indices[i])),
               **{o.name: float(front[i, j]) for j, o in enumerate(objectives)}} for i in order]  # fmt: skip
    payload: dict[str, Any] = {
        "space": args.space,
        "benchmark": args.benchmark,
        "dataset": search_ds,
        "objectives": [[o.name, o.direction.value] for o in objectives],
        "constraints": [c.name for c in constraints],
        "feasible_archs": int(np.all(np.isfinite(true.points), axis=1).sum()),
        "front_size": true.size,
        "hypervolume": true.hypervolume,
        "reference_point": [float(v) for v in true.ref],
        "reference_point_rule": "given (--ref)" if ref is not None else "worst value of each objective over the "
                                                                         "feasible archs",
        "seconds": seconds,
        "front": points,
    }  # fmt: skip
    if budgets is not None:
        payload["budgets"] = [_best_within(true, b, args.space) for b in budgets]
        payload["budgeted"] = payload["budgets"][0]["metric"]
    emit(args, payload, lambda: _text(payload))
    return 0


def _arch(space: str, index: int) -> str:
    from nasforge.spaces.nats_sss import SSSArch
    from nasforge.spaces.nb201 import NB201Arch

    return (SSSArch if space == "nats-sss" else NB201Arch).from_index(index).to_string()


def _best_within(true: Any, budget: float, space: str) -> dict[str, Any]:
    """The best value objective among archs whose cost objective is within ``budget`` (at most it). The cost is
    the objective to minimise: the second, or the first when only the first is (``latency:min,test_acc:max``).
    No arch within it: ``index`` None and ``least_budget``, the smallest cost any feasible arch has."""
    cost = 1 if not true.maximize[1] else 0
    value = 1 - cost
    budgeted, valued = true.objectives[cost], true.objectives[value]
    pts = true.points
    feasible = np.isfinite(pts).all(axis=1)
    ok = feasible & (pts[:, cost] <= budget)
    if not ok.any():
        return {"budget": budget, "metric": budgeted.name, "index": None,
                "least_budget": float(pts[feasible, cost].min())}  # fmt: skip
    values = np.where(ok, pts[:, value], np.nan)
    index = int(np.nanargmax(values) if true.maximize[value] else np.nanargmin(values))
    return {"budget": budget, "metric": budgeted.name, "index": index, "arch": _arch(space, index),
            valued.name: float(pts[index, value]), budgeted.name: float(pts[index, cost])}  # fmt: skip


def _text(p: dict[str, Any]) -> str:
    names = [n for n, _ in p["objectives"]]
    lines = [f"true Pareto front of {', '.join(f'{n} ({d})' for n, d in p['objectives'])} on {p['dataset']}"
             + (f" under {', '.join(p['constraints'])}" if p["constraints"] else "") + ":",
             f"{p['front_size']} points of {p['feasible_archs']:,} archs ({p['seconds'] * 1000:.1f} ms); hypervolume "
             f"{p['hypervolume']:.6g} w.r.t. reference point {p['reference_point']} ({p['reference_point_rule']})",
             f"{'index':>6}  " + "  ".join(f"{n:>16}" for n in names) + "  arch"]  # fmt: skip
    for q in p["front"]:
        lines.append(f"{q['index']:>6}  " + "  ".join(f"{q[n]:>16.4f}" for n in names) + f"  {q['arch']}")
    for b in p.get("budgets", []):
        cost = b["metric"]
        value = names[0] if cost == names[1] else names[1]
        if b["index"] is None:
            lines.append(f"budget {cost} {b['budget']:g}: no arch within it; the least budget any arch meets is "
                         f"{b['least_budget']:.10g}")  # fmt: skip
        else:
            lines.append(f"budget {cost} {b['budget']:g}: best {value} {b[value]:.2f} ({cost} {b[cost]:.4g}; index "
                         f"{b['index']})")  # fmt: skip
    return "\n".join(lines)
