"""``nasforge study show RUN``: every trial of a search run (arch, state, metrics, cost, attempts), its incumbent and
its best trials (the non-dominated ones under the study's objectives).

nasforge study show runs/rea
nasforge study show runs/rea --json     # the configuration, every trial and the incumbent as JSON

It reads ``RUN/study.db`` as recorded, also while the search is still running there (SQLite WAL); trials
that were started but have no result yet (running now, or cut off by a kill) are listed as UNFINISHED.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasforge.cli._common import add_json_flag, emit, json_safe
from nasforge.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    study = subparsers.add_parser("study", help="inspect a search run's study: trials, metrics, incumbent")
    sub = study.add_subparsers(title="study commands", metavar="COMMAND", parser_class=type(study))
    sub.required = True
    p = sub.add_parser("show", help="every trial (arch, state, metrics, cost, attempts) and the incumbent")
    p.add_argument("run", metavar="RUN", help="run directory written by 'nasforge search --out' (or its study.db)")
    add_json_flag(p)
    p.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from nasforge.search.study import DB_NAME, Study

    run = Path(args.run)
    if run.name == DB_NAME and run.is_file():
        run = run.parent
    if not (run / DB_NAME).is_file():
        raise ConfigError(f"{args.run} holds no nasforge study ({DB_NAME} missing); give a 'nasforge search --out' "
                          "directory")  # fmt: skip
    with Study.open(run) as study:
        trials = list(study.trials)
        unfinished = study.unfinished()
        payload = {
            "run": str(run),
            "config": study.config,
            "clock_s": study.clock,  # in clock_unit: seconds, or trials on nats-sss (the key predates the space)
            "clock_unit": _clock_unit(study.config),
            "counts": _counts(trials, unfinished),
            "trials": [_clean(t.to_dict()) for t in trials],
            "unfinished": [_unfinished(a) for a in unfinished],
            "incumbent": None if study.incumbent is None else _clean(study.incumbent.to_dict()),
            "objectives": [[o.name, o.direction.value] for o in study.objectives],
            "best_trials": [_best(t, study.objectives) for t in study.best_trials()],
        }
    emit(args, payload, lambda: _text(payload))
    return 0


def _clock_unit(config: dict[str, Any]) -> str:
    """What the study's costs and clock count: seconds, or the unit the nats-sss evaluator declares (trials)."""
    from nasforge.benchmarks.nats_sss import SPACE_NAME, SSSBenchmarkEvaluator
    from nasforge.search.evaluators import clock_unit

    evaluator = config.get("evaluator", {})
    return clock_unit(SSSBenchmarkEvaluator) if evaluator.get("benchmark") == SPACE_NAME else "s"


def _best(trial: Any, objectives: Any) -> dict[str, Any]:
    """A non-dominated trial: its objectives' values (and constraint violations, <= 0 when met)."""
    return _clean({"number": trial.number, "index": trial.arch.index, "arch": trial.arch.to_string(),
                   "values": {o.name: trial.result.value(o.name) for o in objectives},
                   "constraints": dict(trial.result.constraints)})  # fmt: skip


def _counts(trials: list[Any], unfinished: list[Any]) -> dict[str, int]:
    counts = {"COMPLETE": 0, "FAIL": 0}
    for t in trials:
        counts[t.result.state.value] += 1
    counts["UNFINISHED"] = len(unfinished)
    return counts


def _unfinished(ask: Any) -> dict[str, Any]:
    return {"ask_number": ask.ask_number, "arch": ask.arch.to_string(), "index": ask.arch.index,
            "fidelity": ask.fidelity, "state": "UNFINISHED", "worker": ask.worker, "sim_start": ask.sim_start,
            "started_at": ask.started_at}  # fmt: skip


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: report them as null (a benchmark may record no value for an arch)."""
    if isinstance(value, float):
        return json_safe(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _text(p: dict[str, Any]) -> str:
    config = p["config"]
    optimizer = config.get("optimizer", {})
    evaluator = config.get("evaluator", {})
    c, unit = p["counts"], p["clock_unit"]
    proxy = ""  # a zero-cost-aware optimizer (rea+zc is recorded as rea with its zc_pool) ranks archs by one
    if optimizer.get("zc_proxy"):
        store = f" from {config['zc_store']}" if config.get("zc_store") else ""
        proxy = f", zero-cost proxy {optimizer['zc_proxy']}{store}"
    head = (f"study {p['run']}: {optimizer.get('name', '?')} on {evaluator.get('dataset', '?')} "
            f"({evaluator.get('kind', '?')}), seed {config.get('seed')}{proxy}; {len(p['trials'])} trials "
            f"({c['COMPLETE']} complete, {c['FAIL']} failed, {c['UNFINISHED']} unfinished), "
            f"clock {p['clock_s']:,.0f} {unit}")  # fmt: skip
    lines = [head, f"{'#':>4}  {'state':<10} {'fid':>4} {'objective':>9} {'cost_' + unit:>11} {'att':>3}  "
                   f"{'index':>5}  arch"]  # fmt: skip
    for t in p["trials"]:
        lines.append(
            f"{t['number']:>4}  {t['state']:<10} {t['fidelity']:>4} {_number(t['objective'], 5):>9} "
            f"{_number(t['cost'], 5):>11} {t['attempts']:>3}  {t['index']:>5}  {t['arch']}"
        )
        details = ", ".join(f"{k} {_number(v)}" for k, v in sorted(t["metrics"].items()))
        if t["error"]:
            details = f"{details}; error: {t['error']}" if details else f"error: {t['error']}"
        if details:
            lines.append(f"{'':>6}{details}")
    for a in p["unfinished"]:
        lines.append(f"{'-':>4}  {'UNFINISHED':<10} {a['fidelity']:>4} {'-':>9} {'-':>11} {'-':>3}  {a['index']:>5}  "
                     f"{a['arch']}  (ask {a['ask_number']}, worker {a['worker']})")  # fmt: skip
    inc = p["incumbent"]
    if inc is None:
        lines.append("incumbent: none (no COMPLETE trial that meets every constraint)")
    else:
        lines.append(f"incumbent: trial {inc['number']} (index {inc['index']}, {inc['fidelity']} epochs), objective "
                     f"{_number(inc['objective'], 6)}: {inc['arch']}")  # fmt: skip
    if len(p["objectives"]) > 1:
        names = ", ".join(f"{n} ({d})" for n, d in p["objectives"])
        lines.append(f"best trials (non-dominated under {names}): {len(p['best_trials'])}")
        for b in p["best_trials"]:
            values = ", ".join(f"{k} {_number(v, 6)}" for k, v in b["values"].items())
            lines.append(f"{b['number']:>4}  {b['index']:>5}  {values}  {b['arch']}")
    else:
        lines.append(f"best trials: {', '.join(str(b['number']) for b in p['best_trials']) or 'none'}")
    return "\n".join(lines)
