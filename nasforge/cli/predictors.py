"""``nasforge predictors evaluate``: the "how powerful are performance predictors" protocol on NB201.

nasforge predictors evaluate --dataset cifar10-valid --model gbt --encoding zc --zc naslib --seeds 5
nasforge predictors evaluate --dataset cifar100 --model mlp --encoding path --train-sizes 10,20,50,100,200,400
nasforge predictors evaluate --dataset cifar10 --target test_acc --model rf --encoding onehot+zc --zc STORE
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_data_dir, add_json_flag, emit
from nasforge.errors import ConfigError, ProxyError

DEFAULT_TARGET = "valid_acc"  # the protocol's target (docs/zerocost.md), on the datasets that have it


def register(subparsers: argparse._SubParsersAction) -> None:
    from nasforge.predictors.encodings import ENCODINGS
    from nasforge.predictors.models import MODELS

    top = subparsers.add_parser("predictors", help="performance predictors: evaluate encodings and models")
    sub = top.add_subparsers(title="predictors commands", metavar="COMMAND", parser_class=type(top))
    sub.required = True
    p = sub.add_parser("evaluate", help="Spearman on held-out archs for growing training sets")
    p.add_argument("--dataset", default="cifar10-valid", help="store dataset (cifar10-valid, cifar10, cifar100, ...)")
    p.add_argument("--target", default=None, help=f"store metric to predict (default {DEFAULT_TARGET})")
    p.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    p.add_argument("--encoding", required=True, help=f"one of {', '.join(ENCODINGS)}")
    p.add_argument("--zc", default=None, metavar="naslib|STORE",
                   help="ZC features: NASLib's published scores, or the zc_<proxy> metrics of a store")  # fmt: skip
    p.add_argument("--proxies", default=None, help="with --zc: which proxies (default: all the source has)")
    p.add_argument("--train-sizes", type=argtypes.comma_list(argtypes.int_range(2, 15_625)), default=None,
                   help="comma-separated (default 10,20,50,100,200,400)")  # fmt: skip
    p.add_argument("--test-size", type=argtypes.int_range(3, 15_625), default=None,
                   help="held-out archs (default 1000, or what the pool leaves)")  # fmt: skip
    p.add_argument("--seeds", type=argtypes.int_range(1, 1000), default=1, help="repetitions 0..K-1 (default 1)")
    p.add_argument("--store", default=None, help="NB201 store (default: $NASFORGE_STORE, else from the data)")
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_evaluate)


def zc_table(source: str, dataset: str, proxies: str | None, data_dir: Any) -> Any:
    """A :class:`ZCTable` from ``naslib`` (NASLib's published scores) or from a store's ``zc_<proxy>`` metrics."""
    from nasforge import paths
    from nasforge.predictors.encodings import ZCTable

    wanted = None if proxies is None else [p.strip() for p in proxies.split(",") if p.strip()]
    columns: dict[str, np.ndarray] = {}
    if source == "naslib":
        from nasforge.zerocost.reference import naslib_scores

        scores = naslib_scores(paths.require_data_dir(data_dir), dataset)
        scores.pop("val_accuracy", None)
        for name in wanted or sorted(scores):
            if name not in scores:
                raise ConfigError(f"NASLib's scores have no proxy {name!r}; they have {', '.join(sorted(scores))}")
            col = np.full(15_625, np.nan)
            col[list(scores[name])] = list(scores[name].values())
            columns[name] = col
        return ZCTable(columns)
    from nasforge.benchmarks.store import open_store

    with open_store(source) as store:
        have = sorted(m[3:] for m in store.metrics(dataset) if m.startswith("zc_") and not m.endswith("_time")) \
            if dataset in store.datasets else []  # fmt: skip
        for name in wanted or have:
            if name not in have:
                raise ProxyError(
                    f"store {source} has no zc_{name} on {dataset} (it has {', '.join(have) or 'no zc scores'}); "
                    f"score it with 'nasforge zc score --dataset {dataset} --proxies {name} --out {source}'"
                )
            columns[name] = store.query_many(np.arange(store.num_archs), dataset, f"zc_{name}", missing="nan")
    if not columns:
        raise ProxyError(f"store {source} has no zc scores on {dataset}; run 'nasforge zc score' first")
    return ZCTable(columns)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nasforge.benchmarks import load_nb201
    from nasforge.predictors.evaluate import TRAIN_SIZES, EvalSettings, evaluate
    from nasforge.predictors.models import Predictor

    settings = EvalSettings(args.model, args.encoding, tuple(args.train_sizes or TRAIN_SIZES), args.test_size,
                            tuple(range(args.seeds)))  # fmt: skip
    zc_key = "cifar10" if args.dataset == "cifar10-valid" and args.zc == "naslib" else args.dataset
    table = zc_table(args.zc, zc_key if args.zc == "naslib" else args.dataset, args.proxies, args.data_dir) \
        if args.zc else None  # fmt: skip
    Predictor(args.model, args.encoding, zc=table)  # unknown model/encoding, or zc without --zc: before any work
    target = args.target or DEFAULT_TARGET
    with load_nb201(args.data_dir, args.store) as store:
        if args.target is None and args.dataset in store.datasets and target not in store.metrics(args.dataset):
            _refuse_default_target(store, args.dataset)
        targets = store.query_many(np.arange(store.num_archs), args.dataset, target, missing="nan")
    result = evaluate(targets, settings, table)
    result.update(dataset=args.dataset, target=target, zc=args.zc,
                  proxies=list(table.proxies) if table else [])  # fmt: skip
    emit(args, result, lambda: _table(result))
    return 0


def _refuse_default_target(store: Any, dataset: str) -> None:
    """The user never typed the default target: name it, and the options that work (cifar10 has no valid_acc)."""
    metrics = store.metrics(dataset)
    usable = "test_acc" if "test_acc" in metrics else sorted(metrics)[0]
    other = f" (or use --dataset {dataset}-valid)" if f"{dataset}-valid" in store.datasets else ""
    raise ConfigError(f"the default --target {DEFAULT_TARGET} is not in {dataset}'s metrics; "
                      f"pass --target {usable}{other}")  # fmt: skip


def _table(r: dict[str, Any]) -> str:
    head = (f"{r['model']} on {r['encoding']} ({', '.join(r['proxies']) or 'no ZC'}), {r['dataset']} {r['target']}: "
            f"pool {r['pool']}, {r['test_size']} held out, {len(r['seeds'])} seed(s)")  # fmt: skip
    lines = [head, "train  spearman (std)  kendall"]
    for c in r["curve"]:
        lines.append(f"{c['train_size']:>5}  {c['spearman']:8.3f} ({c['spearman_std']:.3f})  {c['kendall']:7.3f}")
    return "\n".join(lines)
