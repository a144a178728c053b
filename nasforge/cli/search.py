"""``nasforge search`` (one black-box search, resumable) and ``nasforge compare`` (many seeds, many optimizers).

nasforge search --optimizer rea --benchmark cifar10 --time-budget 12000 --seed 0 --out runs/rea
nasforge search --optimizer rs --train --n-iter 5 --out runs/rs-train --data-dir DATA
nasforge search --out runs/rea --resume             # continue a killed run with its stored settings
nasforge search --optimizer rs --train --workers 2 --out runs/rs-par   # 2 worker processes
nasforge search --optimizer rs --train --workers 8 --executor ray --address HEAD:6379 --out runs/rs-ray
nasforge search --optimizer rea --workers 16 --time-budget 12000 --out runs/rea16  # 16 simulated workers
nasforge compare --optimizers rs,rea,ls,hb,tpe --seeds 500 --datasets cifar10,cifar100 \
    --time-budget 20000,40000 --out runs/compare --report docs/results.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import time
import warnings
from pathlib import Path
from typing import Any

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import Progress, add_data_dir, add_json_flag, check, emit, json_safe
from nasforge.cli._outputs import COMPARE_RUN, SEARCH_RUN, RunDir, check_output_file, claim_run_dir
from nasforge.errors import ConfigError
from nasforge.search.executors import PLACES
from nasforge.search.settings import DEFAULT_BENCHMARK_ITERATIONS, DEFAULT_TRAIN_ITERATIONS

# What an option means when it is not given (None there, so that --resume can tell given from defaulted).
SEARCH_DEFAULTS = {
    "space": "nb201",
    "optimizer": "rs",
    "benchmark": "cifar10",
    "seed": 0,
    "dataset": "cifar10",
    "image_size": None,
    "epochs": 10,
    "train_fraction": 0.05,
    "valid_fraction": 0.1,
    "eval_cost_epochs": 0.0,
    "workers": 1,
    "objective": "valid_acc_12ep",  # NB201's protocol (nasforge.benchmarks.blackbox.DEFAULT_OBJECTIVE)
    "store": None,  # None: $NASFORGE_STORE or the store built from the data directory
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("search", help="black-box NAS on the benchmark (simulated clock) or by training")
    p.add_argument("--space", default=None, help="search space (default nb201)")
    p.add_argument("--optimizer", default=None,
                   help="optimizer name: rs, rea, ls, hb, sh, tpe, optuna-tpe, ... (default rs)")  # fmt: skip
    p.add_argument("--benchmark", default=None, metavar="DATASET",
                   help="benchmark dataset: cifar10, cifar100, ImageNet16-120 (default cifar10)")  # fmt: skip
    p.add_argument("--train", action="store_true", help="train every arch for real instead of looking it up")
    p.add_argument("--n-iter", type=argtypes.trials, default=None,
                   help=f"number of trials (default {DEFAULT_BENCHMARK_ITERATIONS}; {DEFAULT_TRAIN_ITERATIONS} with "
                        "--train; with --time-budget alone: unlimited)")  # fmt: skip
    p.add_argument("--time-budget", type=argtypes.seconds, default=None, metavar="SECONDS",
                   help="stop when the (simulated) clock reaches this many seconds (--space nats-sss: a whole "
                        "number of trials, each costs 1)")  # fmt: skip
    p.add_argument("--seed", type=argtypes.seed, default=None,
                   help="seed of the optimizer (and of the data split with --train) (default 0)")  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="run directory (study.db, plots)")
    p.add_argument("--resume", action="store_true",
                   help="continue the search recorded in --out, with its stored settings")  # fmt: skip
    p.add_argument("--force", action="store_true", help=SEARCH_RUN.force_help())
    p.add_argument("--optimizer-args", default=None, metavar="KEY=VALUE,...",
                   help="the optimizer's settings, e.g. population_size=20,sample_size=5 for rea (recorded in the "
                        "study; an unknown key's error lists the optimizer's settings)")  # fmt: skip
    p.add_argument("--dataset", default=None, metavar="NAME|PATH",
                   help="--train: cifar10, mnist, or your own image folder / .npz (default cifar10)")  # fmt: skip
    p.add_argument("--image-size", type=argtypes.image_size, default=None, metavar="N",
                   help="--train on your own data: resize every image to NxN")  # fmt: skip
    p.add_argument("--epochs", type=argtypes.epochs, default=None, help="--train: epochs per arch (default 10)")
    p.add_argument("--train-fraction", type=argtypes.fraction, default=None,
                   help="--train: share of CIFAR-10 train (0.05)")  # fmt: skip
    p.add_argument("--valid-fraction", type=argtypes.fraction, default=None,
                   help="--train: share of the training images held out for validation (0.1)")  # fmt: skip
    p.add_argument("--device", default="auto", help="--train: torch device (default auto)")
    p.add_argument("--eval-cost-epochs", type=argtypes.eval_cost_epochs, default=None, metavar="E",
                   help="benchmark: extra epochs of train time charged per trial for validation (0)")  # fmt: skip
    p.add_argument("--workers", type=argtypes.workers, default=None, metavar="K",
                   help="trials in flight (default 1); on the benchmark: K simulated workers on the simulated "
                        "clock")  # fmt: skip
    p.add_argument("--executor", choices=PLACES, default=None,
                   help="where evaluations run: local (in this process), process (worker processes; the default "
                        "for --train with K > 1) or ray")  # fmt: skip
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="--executor ray: join this Ray cluster (default: start a local Ray instance)")  # fmt: skip
    p.add_argument("--max-retries", type=argtypes.retries, default=2, metavar="N",
                   help="restart a trial whose worker died up to N times, then record it as FAIL (default 2)")
    p.add_argument("--cpus-per-trial", type=argtypes.cpus, default=1.0, metavar="N",
                   help="--executor ray: CPUs per trial (1)")
    p.add_argument("--gpus-per-trial", type=argtypes.gpus, default=0.0, metavar="N",
                   help="--executor ray: GPUs per trial (0)")  # fmt: skip
    p.add_argument("--no-plots", action="store_true", help="do not write the plots")
    p.add_argument("--store", default=None, metavar="DIR",
                   help="benchmark store directory, e.g. one built by 'nasforge bench import' from the seed's "
                        "pickle (default: $NASFORGE_STORE or the data)")  # fmt: skip
    p.add_argument("--objective", default=None, metavar="METRIC",
                   help="benchmark: store metric to maximise (default valid_acc_12ep, NB201's protocol; "
                        "valid_acc = the 200-epoch schedule, charged 200 epochs per trial)")  # fmt: skip
    p.add_argument("--objectives", default=None, metavar="METRIC:DIR[,...]",
                   help="benchmark: named objectives with directions, any store metric, e.g. "
                        "valid_acc:max,latency_pixel3:min (latency_DEVICE in ms); prints the front found")  # fmt: skip
    p.add_argument("--constraint", dest="constraints", action="append", default=None, metavar="METRIC<=X",
                   help="benchmark: a constraint such as latency_raspi4<=5 (ms) or params<=1; repeatable; "
                        "infeasible trials are recorded with their violation and never become the incumbent")
    _add_zc_options(p)
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_search)

    p = subparsers.add_parser("compare", help="many seeds of several optimizers on the benchmark: table + plots")
    p.add_argument("--space", choices=("nb201", "nats-sss"), default="nb201",
                   help="benchmarked space (default nb201); nats-sss: 90-epoch validation accuracy, 1 per trial")
    p.add_argument("--optimizers", type=argtypes.names, default=["rs", "rea", "ls", "hb", "tpe"],
                   help="comma-separated optimizer names, each once (default rs,rea,ls,hb,tpe)")  # fmt: skip
    p.add_argument("--seeds", type=argtypes.seeds, default=500, help="number of seeds per optimizer (0..N-1)")
    p.add_argument("--datasets", default="cifar10,cifar100,ImageNet16-120",
                   help="comma-separated benchmark datasets (a dataset may repeat with another budget)")  # fmt: skip
    p.add_argument("--time-budget", type=argtypes.comma_list(argtypes.seconds), default=None, metavar="S[,S...]",
                   help="simulated seconds: one, or one per dataset (default NATS's 20000,40000,120000; nats-sss: "
                        "trials, default 300)")  # fmt: skip
    p.add_argument("--eval-cost-epochs", type=argtypes.comma_list(argtypes.eval_cost_epochs), default="0",
                   metavar="E[,E...]",
                   help="extra epochs of training time charged per trial for the validation pass (NATS charges "
                        "one; ~0.33-0.49 epochs): one value, or one per dataset (default 0)")  # fmt: skip
    p.add_argument("--workers", type=argtypes.comma_list(argtypes.workers), default="1", metavar="K[,K...]",
                   help="simulated workers per search: one value or a list, e.g. 1,4,16 (default 1)")  # fmt: skip
    p.add_argument("--processes", type=argtypes.cpu_threads, default=None, metavar="N",
                   help="processes running the searches (default: all cores)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (results.md, compare.json, plots)")
    p.add_argument("--report", default=None, metavar="FILE", help="also write the markdown report here")
    p.add_argument("--force", action="store_true", help=COMPARE_RUN.force_help())
    p.add_argument("--store", default=None, help="benchmark store directory")
    p.add_argument("--objectives", action="append", default=None, metavar="METRIC:DIR,METRIC:DIR",
                   help="multi-objective rows instead: hypervolume regret against the exact front for this "
                        "objective set (repeatable; default optimizers then rs,morea,nsga2,parego,mols)")
    _add_zc_options(p)
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_compare)


def _add_zc_options(p: argparse.ArgumentParser) -> None:
    """``--zc PROXY --zc-store DIR``, as search and compare take them."""
    p.add_argument("--zc", default=None, metavar="PROXY",
                   help="zero-cost proxy the NAME+zc optimizers (rea+zc, bananas+zc) rank archs by, e.g. synflow: "
                        "read from the store's zc_PROXY metric, its seconds charged to the clock")  # fmt: skip
    p.add_argument("--zc-store", default=None, metavar="DIR",
                   help="zero-cost store directory holding the zc_PROXY scores ('nasforge zc score' writes one; "
                        "the benchmark store (--store) has none)")


# --- search -----------------------------------------------------------------------------------------------------

# The options that a resumed search reads from its study (each may be given again, and must then agree).
_STORED_OPTIONS = (*SEARCH_DEFAULTS, "n_iter", "time_budget", "objectives", "constraints", "zc", "zc_store")


def _flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")  # as nasforge.cli.main spells a SettingError's settings


def _shown(value: Any) -> Any:
    """A setting's value as the user would type it: a whole number without ".0" (a nats-sss --time-budget counts
    whole trials; 30 seconds reads as well as 30.0)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def cmd_search(args: argparse.Namespace) -> int:
    with claim_run_dir(args.out, SEARCH_RUN, resume=args.resume, force=args.force) as run:
        return _search(args, run)


def _search(args: argparse.Namespace, run: RunDir) -> int:
    from nasforge.benchmarks import load_nb201
    from nasforge.optimizers import create_optimizer
    from nasforge.search.study import Study

    _check_flags(args)
    with contextlib.ExitStack() as stack:
        # A resumed study is opened once: its configuration gives the settings, and it is the study continued.
        study = stack.enter_context(Study.open(args.out)) if args.resume else None
        settings = _settings(args, None if study is None else study.config)
        check(settings.space == "nb201" or not settings.train,
              f"--train trains NB201 cells only; search {settings.space} on its benchmark (drop --train)")  # fmt: skip
        check(settings.space == "nb201" or not settings.eval_cost_epochs,
              f"--eval-cost-epochs charges NB201's training time; a {settings.space} trial costs 1 (the time budget "
              "counts trials): drop it")  # fmt: skip
        _check_environment(settings)
        _quiet_optuna([settings.optimizer])
        evaluator = _evaluator(settings)
        _check_own_data(settings, evaluator)
        zc = {}  # a zero-cost-aware optimizer gets its proxy's scores, read as compare reads them
        if settings.uses_zero_cost:
            zc["zc"] = _proxy_table(settings.zc, settings.zc_store, settings.benchmark,
                                    lambda: load_nb201(settings.data_dir, settings.store))  # fmt: skip
        optimizer = create_optimizer(settings.optimizer, settings.seed, space=settings.space,
                                     **settings.optimizer_options, **zc)  # fmt: skip
        if study is None and settings.time_budget is not None and not settings.train:
            # compare's least budget: a search that can end before its first trial would record no incumbent
            # (a zero-cost warm-up is charged before trial 1; a nats-sss budget counts whole trials).
            from nasforge.search.compare import check_budget_fits, zc_warmup

            warmup = zc_warmup(settings.optimizer, zc["zc"], settings.optimizer_options) if zc else 0.0
            check_budget_fits(getattr(evaluator, "tables", evaluator), settings.time_budget,
                              settings.eval_cost_epochs, warmup, settings.optimizer)  # fmt: skip
        _check_fidelities(optimizer, evaluator)
        # Workers start (and may fail) before anything is written.
        executor = stack.enter_context(_executor(settings, evaluator)) if settings.run_executor else None
        run.begin()  # a forced run's old files go now, just before the new study is written
        if study is None:
            config = settings.study_config(optimizer.config(), evaluator.config())
            # claim_run_dir checked (once) that --out holds no other search, or that --force replaces it.
            study = stack.enter_context(Study.create(args.out, config, force=True,
                                                     objectives=settings.study_objectives))  # fmt: skip
        outcome = _run_with_progress(study, optimizer, evaluator, settings, executor)
        summary = _summary(outcome, evaluator, settings, args.out)
        summary["executor"] = settings.executor_name
        if settings.objectives:
            summary["front"] = _front(study, evaluator, settings)
        if not args.no_plots:
            summary["plots"] = _plots(study, settings, args.out, summary["clock_unit"])
    emit(args, summary, lambda: _summary_text(summary))
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other (which flags were given, not what they hold: that is the settings')."""
    check(not (args.train and (args.objectives or args.constraints)),
          "--objectives and --constraint read benchmark metrics; drop them or --train")
    check(not (args.train and (args.objective or args.store)),
          "--objective and --store choose a benchmark; training maximises validation accuracy: drop them or "
          "--train")  # fmt: skip
    if not (args.train or args.resume):  # a training option without --train would be silently ignored
        given = [flag for flag, value, unset in (("--epochs", args.epochs, None), ("--device", args.device, "auto"),
                 ("--train-fraction", args.train_fraction, None), ("--valid-fraction", args.valid_fraction, None),
                 ("--dataset", args.dataset, None), ("--image-size", args.image_size, None))
                 if value != unset]  # fmt: skip
        check(not given, f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to --train; add --train "
              f"to train each arch, or drop {'it' if len(given) == 1 else 'them'}")  # fmt: skip


def _settings(args: argparse.Namespace, stored_config: dict[str, Any] | None) -> Any:
    """The one :class:`SearchSettings` of this run: from the options, or from the stored study with --resume
    (an option given again must agree with it). A bad setting is one line naming its flag."""
    from nasforge.errors import SettingError
    from nasforge.objectives import format_objectives, parse_constraints, parse_objectives
    from nasforge.search.settings import SearchSettings

    given = {k: getattr(args, k) for k in _STORED_OPTIONS if getattr(args, k) is not None}
    # Written the way a study records them, so that a resume compares like with like.
    if "objectives" in given:
        given["objectives"] = format_objectives(parse_objectives(given["objectives"]))
    if "constraints" in given:
        given["constraints"] = tuple(c.name for c in parse_constraints(given["constraints"]))
    if args.train:
        given["train"] = True
    if stored_config is None and given.get("space") == "nats-sss" and not args.train:
        from nasforge.benchmarks.nats_sss import OBJECTIVE as SSS_OBJECTIVE

        given.setdefault("objective", SSS_OBJECTIVE)  # the one accuracy the sss store has for every arch
    for key in ("store", "zc_store"):  # recorded absolute, so that a resume from elsewhere compares equal
        if key in given:
            given[key] = str(Path(given[key]).resolve())
    if "dataset" in given and Path(given["dataset"]).exists():  # your own data: absolute, as the store
        given["dataset"] = str(Path(given["dataset"]).resolve())
    stored: dict[str, Any] = {}
    if stored_config is not None:
        try:
            stored = SearchSettings.stored(stored_config)
        except ConfigError as exc:
            raise ConfigError(f"the study in {args.out} does not record the settings of a nasforge search ({exc}); "
                              "start a new run with --force") from None  # fmt: skip
        conflicts = [f"{_flag(k)} {_shown(v)} given, {_shown(stored[k])} stored" for k, v in given.items()
                     if k in stored and v != stored[k]]  # fmt: skip
        if conflicts:
            raise ConfigError(
                f"{args.out} belongs to a different search ({'; '.join(conflicts)}); drop those options to resume "
                "with the stored settings, choose another --out, or overwrite it with --force"
            )
        # A study from before the store was recorded resumes as it was written (--store then only locates it).
        stored["record_store"] = "store" in stored
    if args.optimizer_args is not None:
        _optimizer_args(args, given, stored)
    run_options = {"device": args.device, "data_dir": args.data_dir, "executor": args.executor,
                   "address": args.address, "max_retries": args.max_retries, "cpus_per_trial": args.cpus_per_trial,
                   "gpus_per_trial": args.gpus_per_trial}  # fmt: skip
    try:
        return SearchSettings(**{**given, **stored, **run_options})
    except SettingError as exc:
        if exc.setting in stored:
            raise ConfigError(
                f"the study in {args.out} records the setting {exc.setting!r} as {stored[exc.setting]!r:.40}, which "
                "is not a valid value; the database was edited or damaged: start a new run with --force or choose "
                "another --out"
            ) from None
        raise


def _optimizer_args(args: argparse.Namespace, given: dict[str, Any], stored: dict[str, Any]) -> None:
    """``--optimizer-args`` checked against the optimizer's declared settings; on a resume, against the study's."""
    from nasforge.optimizers import optimizer_class
    from nasforge.optimizers._base import parse_optimizer_args

    name = stored.get("optimizer") or given.get("optimizer") or SEARCH_DEFAULTS["optimizer"]
    options = parse_optimizer_args(optimizer_class(name), args.optimizer_args)
    if stored:
        recorded = stored.get("optimizer_options", {})
        diffs = [f"{k}={v} given, {recorded.get(k)} stored" for k, v in options.items() if recorded.get(k) != v]
        check(not diffs, f"{args.out} belongs to a search with other optimizer settings ({'; '.join(diffs)}); drop "
              "--optimizer-args to resume, choose another --out, or overwrite it with --force")  # fmt: skip
    given["optimizer_options"] = options


def _check_own_data(settings: Any, evaluator: Any) -> None:
    """Your own images are loaded (decoded once, cached) and checked against the network before any trial, so a
    bad folder or size is one line with nothing written."""
    from nasforge.data.specs import DATASETS

    if settings.train and settings.dataset not in DATASETS:
        from nasforge.train.models import check_input_size

        check_input_size(evaluator.datasets()[0].spec, "NB201")


def _evaluator(settings: Any) -> Any:
    if settings.train:
        from nasforge.search.evaluators import TrainEvaluator, TrainProtocol

        protocol = TrainProtocol(dataset=settings.dataset, image_size=settings.image_size, epochs=settings.epochs,
                                 train_fraction=settings.train_fraction,
                                 valid_fraction=settings.valid_fraction, device=settings.device)  # fmt: skip
        return TrainEvaluator(protocol, seed=settings.seed, data_dir=settings.data_dir)
    if settings.space == "nats-sss":
        from nasforge.benchmarks.nats_sss import SSSBenchmarkEvaluator

        return SSSBenchmarkEvaluator(_sss_store(settings.data_dir, settings.store), settings.benchmark,
                                     objective=settings.objective, objectives=settings.objectives,
                                     constraints=settings.constraints)  # fmt: skip
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import BenchmarkEvaluator

    store = load_nb201(settings.data_dir, settings.store)
    return BenchmarkEvaluator(store, settings.benchmark, objective=settings.objective,
                              eval_cost_epochs=settings.eval_cost_epochs, objectives=settings.objectives,
                              constraints=settings.constraints)  # fmt: skip


def _sss_store(data_dir: str | None, store: str | None) -> Any:
    """The sss store (parameters and FLOPs counted by nasforge's sss networks when it is first built)."""
    from nasforge.benchmarks.nats_sss import load_sss
    from nasforge.spaces.nats_sss_model import cost_table

    return load_sss(data_dir, store, costs=cost_table)


def _quiet_optuna(optimizers: list[str]) -> None:
    """Optuna logs a line per trial by default; this process is ours, so its optimizers log warnings only."""
    if any(name.startswith("optuna-") for name in optimizers):
        from nasforge.integrations.optuna import quiet_logs

        quiet_logs()


def _check_fidelities(optimizer: Any, evaluator: Any) -> None:
    """A multi-fidelity optimizer needs every fidelity it asks for from the store (before anything is written)."""
    wanted = getattr(optimizer, "fidelities", None)
    have = getattr(evaluator, "fidelities", None)
    if wanted is None or have is None or set(wanted) <= set(have):
        return
    raise ConfigError(
        f"--optimizer {optimizer.name} asks for fidelities {', '.join(map(str, wanted))} epochs, but "
        f"objective {evaluator.objective} has only {', '.join(map(str, have))} in this store; use a single-fidelity "
        "optimizer (rs, rea, ls, tpe) or a store with both schedules"
    )


def _check_environment(settings: Any) -> None:
    """What this machine must offer the run (a device, Ray, a reachable cluster), before anything is written."""
    from nasforge.search.executors import check_address, import_ray

    if settings.train and not (settings.executor_name == "ray" and settings.address):
        from nasforge.train import select_device  # a Ray cluster's workers may have other devices

        select_device(settings.device)
    if settings.executor_name == "ray":
        if settings.address is not None:
            check_address(settings.address)
        import_ray()


def _executor(settings: Any, evaluator: Any) -> Any:
    from nasforge.search.executors import create_executor

    # On the benchmark the K workers are simulated: lookups run one at a time, wherever they run.
    slots = settings.workers if settings.train else 1
    return create_executor(settings.executor_name, evaluator, workers=slots, address=settings.address,
                           cpus_per_trial=settings.cpus_per_trial, gpus_per_trial=settings.gpus_per_trial)  # fmt: skip


def _run_with_progress(study: Any, optimizer: Any, evaluator: Any, settings: Any, executor: Any) -> Any:
    limits = settings.limits
    bar = Progress(f"{settings.optimizer} search", total=limits.n_iter, initial=len(study.trials), unit="trials")
    failed = [sum(not t.result.ok for t in study.trials)]
    from nasforge.integrations.optuna import live_mirror, quiet_logs
    from nasforge.search.evaluators import clock_unit

    # The dashboard's Optuna journal follows the study trial by trial (when the optuna extra is installed).
    sync = live_mirror(study.run_dir) if study.run_dir is not None else None
    if sync is not None:
        quiet_logs()  # Optuna would log "A new study created" among the progress lines

    unit = clock_unit(evaluator)

    def update(record: Any, s: Any) -> None:
        if sync is not None:
            sync()
        failed[0] += not record.result.ok
        status = {"failed": failed[0], "clock": f"{s.clock:,.0f}{'s' if unit == 's' else ' ' + unit}"}
        if s.incumbent is not None:
            inc = s.incumbent.result
            status["incumbent"] = f"{inc.objective:.2f}"
            test = inc.metrics.get("test_acc")
            if test is not None:
                status["test"] = f"{test:.2f}"
        bar.update(1, **status)

    try:
        return study.optimize(optimizer, evaluator, limits=limits, executor=executor, callback=update)
    finally:
        bar.close()
        if sync is not None:
            sync(final=True)  # the trials since the last sync


def _summary(outcome: Any, evaluator: Any, settings: Any, out: str) -> dict[str, Any]:
    from nasforge.search.evaluators import clock_unit

    trials = outcome.trials
    summary: dict[str, Any] = {
        "out": str(out),
        "optimizer": settings.optimizer,
        "mode": "train" if settings.train else "benchmark",
        "dataset": evaluator.config()["dataset"],
        "seed": settings.seed,
        "workers": settings.workers,
        "trials": len(trials),
        "failed": sum(not t.result.ok for t in trials),
        "retried": sum(t.attempts > 1 for t in trials),
        "clock_s": outcome.clock,  # in clock_unit: seconds, or trials on nats-sss (the key predates the space)
        "clock_unit": clock_unit(evaluator),
        "stopped": outcome.stopped,
        "incumbent": None,
    }
    if not settings.train:
        # With named objectives, the scalar optimised (and the incumbent's) is the first of them.
        summary["objective"] = settings.objectives[0].name if settings.objectives else evaluator.objective
    inc = outcome.incumbent
    if inc is None:
        return summary
    info: dict[str, Any] = {
        **inc.arch.to_dict(),
        "trial": inc.number,
        "fidelity": inc.fidelity,
        "valid_acc": json_safe(inc.result.objective),
    }
    report = None if settings.train else evaluator.test_report(inc.arch)
    if report is not None:
        info.update(report)
    summary["incumbent"] = info
    return summary


def _front(study: Any, evaluator: Any, settings: Any) -> dict[str, Any]:
    """The front the search found (its ``best_trials``), each point marked whether the true front over the
    whole space dominates it, and the hypervolume regret against the true front (same reference point as
    ``nasforge pareto``: the worst value of each objective over the space)."""
    from nasforge.pareto import TrueFront

    columns = getattr(evaluator, "tables", evaluator).columns  # NB201's lookup tables, or the sss evaluator's own
    true = TrueFront.from_columns(columns, settings.objectives, settings.constraints)
    found = study.best_trials()
    points = [[t.result.value(o.name) for o in settings.objectives] for t in found]
    dominated = true.dominated(points)
    rows = [{"trial": t.number, "index": t.arch.index, "arch": t.arch.to_string(),
             **{o.name: p[i] for i, o in enumerate(settings.objectives)}, "dominated_by_true_front": bool(d)}
            for t, p, d in zip(found, points, dominated, strict=True)]  # fmt: skip
    return {"objectives": [[o.name, o.direction.value] for o in settings.objectives],
            "constraints": [c.name for c in settings.constraints], "points": rows,
            "true_front_size": true.size, "on_true_front": int(sum(not d for d in dominated)),
            **true.indicators(points)}  # fmt: skip


def _front_text(front: dict[str, Any]) -> str:
    names = [name for name, _ in front["objectives"]]
    lines = [f"front found: {len(front['points'])} trials, {front['on_true_front']} of them on the true front "
             f"({front['true_front_size']} points); hypervolume {front['hypervolume']:.6g} of "
             f"{front['true_hypervolume']:.6g} (regret {front['hypervolume_regret']:.6g}), IGD {front['igd']:.4g}",
             f"  {'index':>5}  " + "  ".join(f"{n:>14}" for n in names) + "  dominated  arch"]  # fmt: skip
    for p in front["points"]:
        values = "  ".join(f"{p[n]:>14.4f}" for n in names)
        lines.append(f"  {p['index']:>5}  {values}  {'yes' if p['dominated_by_true_front'] else 'no':>9}  {p['arch']}")
    return "\n".join(lines)


def _summary_text(s: dict[str, Any]) -> str:
    stopped = s["stopped"]
    if stopped == "time_budget" and s["clock_unit"] != "s":  # nats-sss: its budget is no time
        stopped = f"the budget in {s['clock_unit']} (--time-budget)"
    lines = [
        f"{s['optimizer']} on {s['dataset']} ({s['mode']}): {s['trials']} trials ({s['failed']} failed), "
        f"clock {s['clock_s']:,.0f} {s['clock_unit']}, stopped by {stopped}"
    ]
    if s["workers"] > 1 or s["retried"]:
        lines.append(f"{s['workers']} workers ({s.get('executor', 'local')}); {s['retried']} trials retried after "
                     "their worker died")  # fmt: skip
    inc = s["incumbent"]
    if inc is None:
        lines.append("no successful feasible trial: no incumbent")
    else:
        lines.append(f"incumbent (trial {inc['trial']}, index {inc['index']}): {inc['arch']}")
        if "objective" in s:  # a store metric: its name says its schedule (NB201's unsuffixed ones are 200 epochs)
            unit = " %" if "acc" in s["objective"] else ""
            lines.append(f"  {s['objective']} {inc['valid_acc']:.2f}{unit}")
        else:  # trained here: the validation accuracy after the epochs it was trained for
            lines.append(f"  valid acc {inc['valid_acc']:.2f} % ({inc['fidelity']}-epoch schedule)")
        if "test_acc" in inc:
            lines.append(
                f"  test acc {inc['test_acc']:.2f} % (200 epochs, {inc['test_source']}); "
                f"rank {inc['rank_by_test']:,} of {inc['num_archs']:,} by test acc; regret {inc['regret']:.2f} "
                f"to the optimum {inc['best_test_acc']:.2f}"
            )
    if "front" in s:
        lines.append(_front_text(s["front"]))
    for name, path in s.get("plots", {}).items():
        lines.append(f"{name} plot: {path}")
    return "\n".join(lines)


def _plots(study: Any, settings: Any, out: str, unit: str) -> dict[str, str]:
    from nasforge.viz.search import plot_incumbent, plot_params_vs_accuracy

    clock = "training time (s)" if settings.train else "simulated time (s)"
    if unit != "s":  # nats-sss: the clock counts trials
        clock = f"{unit} (the simulated clock: 1 per trial)"
    title = (f"{settings.optimizer} on {'CIFAR-10 (trained)' if settings.train else settings.benchmark}, "
             f"seed {settings.seed}")  # fmt: skip
    return {
        "incumbent": str(plot_incumbent(study.trials, Path(out) / "incumbent.png", title=title, time_label=clock)),
        "params_vs_accuracy": str(plot_params_vs_accuracy(study.trials, Path(out) / "params_vs_accuracy.png",
                                                          title=title)),
    }


# --- compare ----------------------------------------------------------------------------------------------------


def _compare_settings(args: argparse.Namespace) -> list[Any]:
    from nasforge.benchmarks.blackbox import check_benchmark_dataset
    from nasforge.search.compare import Setting

    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    check(bool(datasets), "--datasets is empty; give e.g. cifar10,cifar100")
    for dataset in datasets:
        check_benchmark_dataset(dataset)
    # Each value was range-checked by its argparse type; here one value is broadcast to every dataset.
    given = args.time_budget
    if given is None:  # NATS's budgets; nats-sss charges 1 per trial: its budget counts trials
        given = [20000.0, 40000.0, 120000.0] if args.space == "nb201" else [300.0]
    budgets = _per_dataset(given, "--time-budget", len(datasets))
    extra = _per_dataset(args.eval_cost_epochs, "--eval-cost-epochs", len(datasets))
    workers = list(dict.fromkeys(args.workers))  # each worker count once, in the given order
    return [Setting(d, b, e, k) for d, b, e in zip(datasets, budgets, extra) for k in workers]


def _per_dataset(values: list[float], option: str, count: int) -> list[float]:
    """One value per dataset: a single value is broadcast to ``count``."""
    if len(values) == 1:
        values = values * count
    check(len(values) == count, f"{option} has {len(values)} values for {count} datasets; give one, or one per dataset")
    return values


def cmd_compare(args: argparse.Namespace) -> int:
    if args.report is not None:
        check_output_file(args.report, "--report")
    with claim_run_dir(args.out, COMPARE_RUN, force=args.force) as run:
        return _compare(args, run)


def _compare(args: argparse.Namespace, run: RunDir) -> int:
    from nasforge._io import atomic_write_text
    from nasforge.benchmarks import load_nb201
    from nasforge.benchmarks.blackbox import LookupTables
    from nasforge.optimizers import optimizer_class
    from nasforge.search.compare import compare, markdown_table

    optimizers = args.optimizers
    if args.objectives:
        from nasforge.cli._mocompare import MO_OPTIMIZERS, compare_mo

        default = ["rs", "rea", "ls", "hb", "tpe"]  # the parser's default: the single-objective set
        return compare_mo(args, run, MO_OPTIMIZERS if optimizers == default else optimizers)
    repeated = sorted({name for name in optimizers if optimizers.count(name) > 1})
    check(not repeated, f"--optimizers names {', '.join(repeated)} more than once; give each optimizer once")
    for name in optimizers:
        optimizer_class(name)
    _quiet_optuna(optimizers)
    settings = _compare_settings(args)
    out = Path(args.out)
    if args.space == "nats-sss":
        from nasforge.benchmarks.nats_sss import SSSBenchmarkEvaluator

        multi = [name for name in optimizers if optimizer_class(name).multi_fidelity]
        check(not multi, f"--optimizers {','.join(multi)}: nats-sss has one fidelity (90 epochs); use single-fidelity "
                         "optimizers (rs, rea, ls, tpe)")  # fmt: skip
        check(not any(s.eval_cost_epochs for s in settings),
              "--eval-cost-epochs charges NB201's training time; a nats-sss trial costs 1: drop it")  # fmt: skip
        store = _sss_store(args.data_dir, args.store)
        tables: dict[str, Any] = {s.dataset: SSSBenchmarkEvaluator(store, s.dataset) for s in settings}
    else:
        store = load_nb201(args.data_dir, args.store)
        tables = {s.dataset: LookupTables.from_store(store, s.dataset) for s in settings}
    zc = _zc_scores(args, optimizers, [s.dataset for s in settings], store)
    started = time.perf_counter()
    total = args.seeds * len(optimizers) * len(settings)
    # Thousands of short searches: off a terminal, a line every 10 s rather than one per search.
    with Progress("compare", total=total, unit="searches", min_interval=10.0) as bar:
        comparison = compare(tables, optimizers, settings, range(args.seeds), workers=args.processes,
                             progress=bar.update, zc=zc)  # fmt: skip
    seconds = time.perf_counter() - started
    command = _compare_command(args, optimizers, settings)
    run.begin()  # a forced comparison's old files go only now, when the new results are ready
    plots = _compare_plots(comparison, out)
    atomic_write_text(out / "results.md", _report(comparison, command, seconds, plots, out / "results.md"))
    if args.report is not None:
        atomic_write_text(args.report, _report(comparison, command, seconds, plots, Path(args.report)))
    payload = {
        "command": command,
        "seconds": seconds,
        "workers": comparison.workers,
        "cells": [r.to_dict() for r in comparison.rows],
        "plots": [str(p) for p in plots],
    }
    atomic_write_text(out / "compare.json", json.dumps(payload, indent=1))
    brief = {**payload, "cells": [{k: v for k, v in c.items() if k != "final_test"} for c in payload["cells"]]}
    emit(args, brief, lambda: markdown_table(comparison) + f"\n\nwrote {out / 'results.md'} ({seconds:.1f} s)")
    return 0


def _zc_scores(args: argparse.Namespace, optimizers: list[str], datasets: list[str], store: Any) -> dict[str, Any]:
    """The ``--zc`` proxy's scores per dataset of ``datasets`` for the ``NAME+zc`` optimizers (none: an empty
    dict)."""
    from nasforge.optimizers import is_zc_variant

    variants = [name for name in optimizers if is_zc_variant(name)]
    if not variants:
        check(args.zc is None and args.zc_store is None,
              "--zc/--zc-store feed the NAME+zc optimizers (rea+zc, bananas+zc); add one to --optimizers or drop them")
        return {}
    check(args.space == "nb201", f"--optimizers {','.join(variants)}: zero-cost scores exist for nb201 only")
    check(args.zc is not None, f"--optimizers {','.join(variants)} rank archs by a zero-cost proxy: give --zc PROXY "
                               "(e.g. --zc synflow)")  # fmt: skip
    return {d: _proxy_table(args.zc, args.zc_store, d, lambda: store) for d in dict.fromkeys(datasets)}


def _proxy_table(proxy: str, zc_store: str | None, dataset: str, benchmark_store: Any) -> Any:
    """``proxy``'s scores on ``dataset`` (:class:`~nasforge.optimizers.zerocost.ProxyScores`) from the zero-cost
    store ``zc_store``, or from the benchmark store (``benchmark_store()`` opens it) when none is given; a proxy,
    store or metric that does not exist is one line naming the command that makes it."""
    from nasforge.benchmarks import open_store
    from nasforge.benchmarks.blackbox import proxy_scores
    from nasforge.benchmarks.store import MANIFEST
    from nasforge.zerocost import PROXIES

    check(proxy in PROXIES, f"--zc {proxy}: unknown zero-cost proxy; known: {', '.join(PROXIES)}")
    if zc_store is None:
        # The benchmark store holds no zc_* metrics: the scores come from a zero-cost store.
        store, metric = benchmark_store(), f"zc_{proxy}"
        exact = "'python perf/zc_exact_store.py --out STORE' (flops) or " if proxy == "flops" else ""
        check(dataset in store.datasets and metric in store.metrics(dataset),
              f"the benchmark store has no {metric} on {dataset}: pass --zc-store STORE, a zero-cost store made by "
              f"{exact}'nasforge zc score --dataset {dataset} --proxies {proxy} --archs all --out STORE'")  # fmt: skip
        return proxy_scores(store, dataset, proxy)
    check(not Path(zc_store).is_file(),
          f"--zc-store {zc_store} is a file; give the store directory ({Path(zc_store).parent})")  # fmt: skip
    # open_store's own message would send a user to 'nasforge bench import', which makes no zero-cost scores.
    what = "does not exist" if not Path(zc_store).exists() else f"has no {MANIFEST}"
    exact = f"; for flops, 'python perf/zc_exact_store.py --out {zc_store}' copies them" if proxy == "flops" else ""
    check((Path(zc_store) / MANIFEST).is_file(),
          f"--zc-store {zc_store} {what}: it is not a zero-cost store; make one with 'nasforge zc score --dataset "
          f"{dataset} --proxies {proxy} --archs all --out {zc_store}'{exact}")  # fmt: skip
    return proxy_scores(open_store(zc_store), dataset, proxy)


def _compare_command(args: argparse.Namespace, optimizers: list[str], settings: list[Any]) -> str:
    """The command line that regenerates this comparison, every choice spelled out."""
    from nasforge.search.compare import format_budget

    per_dataset = [s for s in settings if s.workers == settings[0].workers]  # settings repeat per worker count
    argv = ["nasforge", "compare", *(["--space", args.space] if args.space != "nb201" else []),
            "--optimizers", ",".join(optimizers), "--seeds", str(args.seeds),
            "--datasets", ",".join(s.dataset for s in per_dataset),
            "--time-budget", ",".join(format_budget(s.time_budget, "") for s in per_dataset)]  # fmt: skip
    if any(s.eval_cost_epochs for s in settings):
        argv += ["--eval-cost-epochs", ",".join(f"{s.eval_cost_epochs:g}" for s in per_dataset)]
    if any(s.workers > 1 for s in settings):
        argv += ["--workers", ",".join(str(k) for k in dict.fromkeys(s.workers for s in settings))]
    argv += ["--out", str(args.out)]
    if args.report:
        argv += ["--report", str(args.report)]
    if args.data_dir:
        argv += ["--data-dir", str(args.data_dir)]
    if args.store:
        argv += ["--store", str(args.store)]
    if args.zc:
        argv += ["--zc", args.zc]
    if args.zc_store:
        argv += ["--zc-store", str(args.zc_store)]
    return shlex.join([*argv, "--force"])


def _compare_plots(comparison: Any, out: Path) -> list[Path]:
    import numpy as np

    from nasforge.search.compare import format_budget
    from nasforge.viz.search import plot_anytime

    # One plot per dataset and budget; searches with 1, 4, 16 ... simulated workers are curves in it.
    groups: dict[Any, list[Any]] = {}
    for setting in comparison.settings:
        groups.setdefault((setting.dataset, setting.time_budget, setting.eval_cost_epochs), []).append(setting)
    unit = comparison.clock_unit  # nats-sss charges 1 per trial: its budgets and grid count trials
    axes = ({} if unit == "s" else {"xlabel": "trials (the simulated clock: 1 per trial)",
                                    "ylabel": f"incumbent {comparison.metric} (%, validation)"})  # fmt: skip
    paths = []
    for (dataset, budget, eval_cost), settings in groups.items():
        curves = {}
        for setting in settings:
            for name in comparison.optimizers:
                cell = comparison.row(name, setting)
                label = name if len(settings) == 1 else f"{name}, {setting.workers} worker{'s' * (setting.workers > 1)}"
                with warnings.catch_warnings():  # grid points before any run's first result are all-NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    curves[label] = (np.nanmean(cell.curves, axis=0), np.nanstd(cell.curves, axis=0))
        grid = comparison.row(comparison.optimizers[0], settings[0]).grid
        extra = f"_eval{eval_cost:g}" if eval_cost else ""
        name = f"anytime_{dataset}_{format_budget(budget, '')}{unit}{extra}.png"
        label = settings[0].label(unit) if len(settings) == 1 else f"{dataset} @ {format_budget(budget)} {unit}"
        title = f"{label}, {len(comparison.rows[0].seeds)} seeds (mean ± std)"
        paths.append(plot_anytime(curves, grid, out / name, title=title, **axes))
    return paths


def _report(comparison: Any, command: str, seconds: float, plots: list[Path], report: Path) -> str:
    from nasforge.search.compare import markdown_table

    seeds = len(comparison.rows[0].seeds)
    images = "\n".join(
        f"![{p.stem}]({Path(os.path.relpath(p.resolve(), report.resolve().parent)).as_posix()})" for p in plots
    )
    if comparison.metric != "test_acc":
        return _sss_report(comparison, command, seconds, images)
    return f"""# Black-box NAS on NAS-Bench-201: nasforge results

Generated by `nasforge compare` ({seeds} seeds per row, {comparison.workers} processes, {seconds:.0f} s wall).
Regenerate with:

```
{command}
```

## Protocol

The NB201 / NATS-Bench protocol: each trial looks up the **12-epoch-schedule validation accuracy** as the search
objective (CIFAR-10: the `cifar10-valid` net on x-valid; CIFAR-100 and ImageNet16-120: x-valid) and charges NB201's
recorded training time of those 12 epochs to a simulated clock; a trial that would end past the budget is not run.
Reported: the **200-epoch test accuracy** of the final incumbent (CIFAR-10: the net trained on all 50k images, on
ori-test; the others: x-test), mean ± std (ddof=0) over seeds 0..{seeds - 1}. Optimizers (`nasforge.optimizers`):
rs = random search, rea = regularized evolution (population 10, sample size 3), ls = local search (first
improvement, restarts), hb = Hyperband and sh = successive halving over the 12- and 200-epoch schedules (eta 3;
incumbent = best 200-epoch result), tpe = TPE on the six edge choices.

## Results

{markdown_table(comparison)}

"paper": NB201 (Dong & Yang, ICLR 2020), Table 5, CIFAR-10 test accuracy with a 12,000 s budget. No published
numbers for the other rows were available offline to check against, so none are quoted.

## Differences from the original protocol, and their size

* **Seed means instead of a random seed.** NB201/NATS (`simulate_train_eval`, `get_more_info(..., is_random=True)`)
  read the 12-epoch accuracy of one randomly drawn training seed per query; the data here hold the seed mean only,
  so nasforge's objective is less noisy.
* **Validation-pass time.** NATS charges `train-all-time + valid-per-time`; the per-arch validation time is not
  in the available data (only for 3 archs, where it is 0.33-0.49 of one training epoch, about 3 % of a trial).
  Rows with a validation charge of 0 leave it out; the others charge that many epochs of training time per trial
  for it (`--eval-cost-epochs`), which brackets its effect.
* Random search never repeats an arch (NB201's samples with replacement; at about 100 of 15,625 archs the
  difference is negligible); REA re-evaluates a child equal to an earlier arch, as NB201's does.

## Anytime performance

Incumbent test accuracy (mean ± std band over seeds) against simulated time:

{images}
"""


def _sss_report(comparison: Any, command: str, seconds: float, images: str) -> str:
    from nasforge.search.compare import markdown_table

    seeds = len(comparison.rows[0].seeds)
    return f"""# Black-box NAS on the NATS-Bench size space (nats-sss): nasforge results

Generated by `nasforge compare` ({seeds} seeds per row, {comparison.workers} processes, {seconds:.0f} s wall).
Regenerate with:

```
{command}
```

## Protocol

Each trial looks up the **90-epoch validation accuracy of training seed 777** (`{comparison.metric}`; CIFAR-10: the
`cifar10-valid` net on x-valid) and is charged **one unit** (NATS's training times exist for 3 of the 32,768 archs),
so a budget counts trials. **These are validation-set results**: no test accuracy exists for the space, so the number
searched is also the number reported, the final incumbent's, mean ± std (ddof=0) over seeds 0..{seeds - 1}.

## Results

{markdown_table(comparison)}

{images}
"""
