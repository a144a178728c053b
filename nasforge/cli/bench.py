"""``nasforge bench``: import benchmark files into a store, inspect it, query it, plot it.

nasforge bench import nb201 --data-dir DATA -o STORE          # everything in DATA/nb201/ at once
nasforge bench import nb201-csv nb201_final.csv.gz -o STORE
nasforge bench import latency nb201_hw_latency_help.csv.gz -o STORE --merge
nasforge bench import nats curves/raw/ -o STORE --merge
nasforge bench import nats NATS-tss-v1_0-3ffb9-simple/ -o STORE   # NATS's directory, meta.pickle.pbz2 included
nasforge bench import nats-sss --data-dir DATA -o SSS_STORE  # NATS's size space (nasforge.cli._nats_sss)
nasforge bench info --store STORE
nasforge bench query 6111 --dataset cifar10 --metric test_acc --store STORE
nasforge bench curves 0 --dataset cifar10-valid -o curves.png
nasforge bench plot pareto --dataset cifar100 --cost params -o pareto.png
nasforge bench pack STORE -o nb201.tar.xz          # one compressed file for distribution
nasforge bench unpack nb201.tar.xz -o STORE        # back to a store (checked against every sha256)
nasforge bench upgrade STORE                       # an older schema's store rewritten in the current one
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasforge.cli import _argtypes as argtypes
from nasforge.cli import _nats_sss as _sss
from nasforge.cli._common import add_data_dir, add_json_flag, emit, json_safe
from nasforge.cli._outputs import check_output_dir, check_output_file
from nasforge.viz import figure_format

IMPORT_KINDS = ("nb201", "nb201-csv", "latency", "curves-csv", "naslib-pickle", "nats", "csv", "nats-sss")


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="tabular benchmark: import, info, query, curves, plot")
    sub = bench.add_subparsers(title="bench commands", metavar="COMMAND", parser_class=type(bench))
    sub.required = True

    p = sub.add_parser("import", help="import benchmark files into a store (merging with --merge)")
    p.add_argument("kind", choices=IMPORT_KINDS, help="source format")
    p.add_argument("sources", nargs="*", metavar="FILE", help="source file(s); nats, nats-sss: also folders")
    p.add_argument("-o", "--out", required=True, metavar="STORE", help="store directory to write")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--merge", action="store_true", help="add to the existing store at --out")
    mode.add_argument(
        "--overwrite", action="store_true", help="replace the existing store at --out (a store only, never other files)"
    )
    p.add_argument("--map", action="append", default=[], metavar="COL=DATASET:METRIC[*SCALE]", help="csv: a column")
    p.add_argument("--key", default="arch_str", help="csv: the column holding the arch string (or 'index')")
    p.add_argument("--datasets", default=None, help="latency: comma-separated datasets to attach the latencies to")
    p.add_argument("--dataset", default="cifar10-valid", help="curves-csv: the dataset of the curves")
    p.add_argument("--eval-split", default="valid", choices=("valid", "test"), help="naslib-pickle: eval lists' split")
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("info", help="datasets, metrics, curve coverage and provenance of a store")
    _add_store(p)
    p.add_argument("--verify", action="store_true", help="also check every file's sha256")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("query", help="one value for one arch")
    p.add_argument("arch", help="arch string, official index or op:CODE")
    p.add_argument("--dataset", required=True)
    p.add_argument("--metric", required=True)
    p.add_argument("--epoch", type=argtypes.nonnegative_int, default=None, help="read the per-epoch curve (0-based)")
    p.add_argument("--seed", type=argtypes.seed, default=None, help="a seed position (0, 1, 2) or a real seed id (777)")
    p.add_argument(
        "--cost-epochs", type=argtypes.cost_epochs, default=None, help="also report simulated training seconds"
    )
    _add_store(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("curves", help="plot train/valid/test accuracy and loss over epochs for one arch")
    p.add_argument("arch")
    p.add_argument("--dataset", default="cifar10-valid")
    p.add_argument("-o", "--out", default="curves.png", help="image file (png, pdf, svg)")
    _add_store(p)
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser("plot", help="whole-space plots: valid-test, pareto, rank-12-200")
    p.add_argument("kind", choices=("valid-test", "pareto", "rank-12-200"))
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--cost", default="params", help="pareto: x axis (params, flops, latency, latency_<device>)")
    p.add_argument("--score", default="test_acc", help="pareto: y axis")
    p.add_argument("--split", default="valid", choices=("valid", "test"), help="rank-12-200: which accuracy")
    p.add_argument("-o", "--out", required=True, help="image file (png, pdf, svg)")
    _add_store(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("pack", help="a store as one .tar.xz file for distribution (checked first)")
    p.add_argument("store", help="store directory")
    p.add_argument("-o", "--out", required=True, metavar="FILE.tar.xz", help="file to write")
    p.add_argument("--force", action="store_true", help="replace an existing -o (a 'bench pack' file only)")
    add_json_flag(p)
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("unpack", help="a 'bench pack' file back into a store directory (checked file by file)")
    p.add_argument("archive", help="the .tar.xz file")
    p.add_argument("-o", "--out", required=True, metavar="STORE", help="store directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace the store at --out (a store only)")
    add_json_flag(p)
    p.set_defaults(func=cmd_unpack)

    p = sub.add_parser("upgrade", help="rewrite a store of an older schema in the current one, value for value")
    p.add_argument("store", help="store directory (rewritten in place unless -o is given)")
    p.add_argument("-o", "--out", default=None, metavar="STORE", help="write the upgraded store here instead")
    add_json_flag(p)
    p.set_defaults(func=cmd_upgrade)


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None, help="store directory (default: $NASFORGE_STORE, else from the data)")
    add_data_dir(parser)
    add_json_flag(parser)


def _open(args: argparse.Namespace) -> Any:
    from nasforge.benchmarks import load_nb201

    return load_nb201(args.data_dir, args.store)


# --- import ---------------------------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> None:
    from nasforge.benchmarks import importers as imp
    from nasforge.benchmarks.builder import StoreBuilder
    from nasforge.benchmarks.nb201 import build_nb201_store
    from nasforge.benchmarks.store import MANIFEST, open_store
    from nasforge.errors import BenchmarkError
    from nasforge.paths import require_data_dir

    out = check_output_dir(args.out, "-o")
    if out.exists() and not (args.merge or args.overwrite):
        raise BenchmarkError(f"{out} already exists: pass --merge to add to it or --overwrite to replace it")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        # --overwrite replaces the whole directory: only ever one that nasforge wrote.
        raise BenchmarkError(f"{out} holds files but no nasforge store ({MANIFEST} missing); choose another -o")
    if args.kind == "nb201":
        if args.merge:
            raise BenchmarkError(
                "'import nb201' builds a whole store; use --overwrite, or import single files with --merge"
            )
        root = Path(args.sources[0]) if args.sources else require_data_dir(args.data_dir) / "nb201"
        build_nb201_store(root, out, overwrite=args.overwrite)
        return _report_import(args, out)
    if args.kind == "nats-sss" or (args.kind == "nats" and _sss.is_sss_source(args.sources)):
        _sss.import_sss(args, out)
        return _report_import(args, out)
    if not args.sources:
        raise BenchmarkError(f"'import {args.kind}' needs at least one source file")
    if args.kind != "nats" and len(args.sources) != 1:
        raise BenchmarkError(f"'import {args.kind}' takes one file, got {len(args.sources)}")
    builder = StoreBuilder.from_store(open_store(out)) if args.merge and out.exists() else StoreBuilder()
    source = args.sources[0]
    if args.kind == "nb201-csv":
        imp.import_table(builder, source, imp.NB201_FINAL_MAPPING, name="nb201-csv")
    elif args.kind == "latency":
        datasets = args.datasets.split(",") if args.datasets else imp.HELP_LATENCY_DATASETS
        imp.import_table(builder, source, imp.help_latency_mapping(datasets), name="help-latency")
    elif args.kind == "curves-csv":
        imp.import_curves_csv(builder, source, args.dataset)
    elif args.kind == "naslib-pickle":
        imp.import_naslib_pickle(builder, source, eval_split=args.eval_split)
    elif args.kind == "nats":
        imp.import_nats(builder, args.sources)
    else:
        if not args.map:
            raise BenchmarkError("'import csv' needs --map COLUMN=DATASET:METRIC (one per column to import)")
        imp.import_table(builder, source, [imp.ColumnMap.parse(m) for m in args.map], key=args.key, name="csv")
    builder.write(out, overwrite=out.exists())
    _report_import(args, out)


def _report_import(args: argparse.Namespace, out: Path) -> None:
    from nasforge.benchmarks import open_store

    store = open_store(out)
    payload = {"store": str(out), "datasets": {ds: len(store.metrics(ds)) for ds in store.datasets}}
    text = f"wrote {out}: " + ", ".join(f"{ds} ({n} metrics)" for ds, n in payload["datasets"].items())
    emit(args, payload, text)


# --- info, query ----------------------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> None:
    store = _open(args)
    if args.verify:
        store.verify()
    info = store.info()
    emit(args, info, lambda: _info_text(info))


def _info_text(info: dict[str, Any]) -> str:
    lines = [
        f"store {info['path']} (schema {info['schema_version']}, space {info['space']}, {info['num_archs']} archs)"
    ]
    for ds, metrics in info["datasets"].items():
        lines.append(f"{ds}:")
        latency = [m for m in metrics if m.startswith("latency_")]
        for metric, cov in metrics.items():
            if metric in latency[1:]:
                continue
            name = f"latency_<device> x{len(latency)}" if metric in latency[:1] else metric
            parts = [f"final {cov['final']}"]
            if cov["seeds"]:
                parts.append(f"per-seed {cov['seeds']} ({cov['seed_slots']} slots)")
            if cov["curves"]:
                parts.append(f"curves {cov['curves']} x {cov['epochs']} epochs")
            lines.append(f"  {name:<26} {', '.join(parts)}")
    lines.append("provenance:")
    for p in info["provenance"]:
        lines.append(
            f"  {p['importer']:<14} {p.get('source', '')}  {str(p.get('sha256', ''))[:12]}  {p['imported_at']}"
        )
    return "\n".join(lines)


def cmd_query(args: argparse.Namespace) -> None:
    from nasforge.benchmarks.metrics import metric_unit

    store = _open(args)
    arch = _sss.arch_from_text(store.manifest["space"], args.arch)
    value = store.query(arch, args.dataset, args.metric, epoch=args.epoch, seed=args.seed)
    payload: dict[str, Any] = {
        **arch.to_dict(),
        **{"dataset": args.dataset, "metric": args.metric, "epoch": args.epoch, "seed": args.seed},
        **{"value": json_safe(value), "unit": metric_unit(args.metric)},
    }
    text = f"{args.metric} = {value:.6g} {payload['unit']}".rstrip()
    if args.cost_epochs is not None:
        payload["train_cost_s"] = store.train_cost(arch, args.dataset, args.cost_epochs)
        text += f"\nsimulated training cost for {args.cost_epochs} epochs: {payload['train_cost_s']:.1f} s"
    emit(args, payload, text)


# --- plots ----------------------------------------------------------------------------------------------------


def cmd_curves(args: argparse.Namespace) -> None:
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.viz.benchmark import plot_curves

    check_output_file(args.out, "-o")
    figure_format(args.out)
    store = _open(args)
    drawn = plot_curves(store, NB201Arch.from_any(args.arch), args.dataset, args.out)
    emit(args, {"out": args.out, "curves": drawn}, f"wrote {args.out} ({', '.join(drawn)})")


def cmd_plot(args: argparse.Namespace) -> None:
    from nasforge.viz import benchmark as viz

    check_output_file(args.out, "-o")
    figure_format(args.out)
    store = _open(args)
    if args.kind == "valid-test":
        result = viz.plot_valid_vs_test(store, args.dataset, args.out)
        text = f"Spearman {result['spearman']:.4f}, Kendall {result['kendall']:.4f} over {result['n']} archs"
    elif args.kind == "pareto":
        result = viz.plot_pareto(store, args.dataset, args.cost, args.score, args.out)
        text = f"Pareto front of {len(result['front'])} archs out of {result['n']}: " + ", ".join(
            str(p["index"]) for p in result["front"][:20]
        )
    else:
        result = viz.plot_rank_12_vs_200(store, args.dataset, args.split, args.out)
        text = f"12 vs 200 epochs ({result['dataset']}, {args.split}): Spearman {result['spearman']:.4f}, " + (
            f"Kendall {result['kendall']:.4f} over {result['n']} archs"
        )
    emit(args, {"out": args.out, **result}, f"wrote {args.out}\n{text}")


# --- pack, unpack, upgrade ------------------------------------------------------------------------------------


def cmd_pack(args: argparse.Namespace) -> None:
    from nasforge.benchmarks.packing import pack_store
    from nasforge.errors import BenchmarkError

    out = check_output_file(args.out, "-o")
    if not out.name.endswith(".tar.xz"):
        raise BenchmarkError(f"-o {out}: a packed store is a .tar.xz file; name it e.g. {out.name}.tar.xz")
    result = pack_store(args.store, out, force=args.force)
    ratio = result["packed_bytes"] / max(result["store_bytes"], 1)
    emit(args, result, f"wrote {out}: {result['packed_bytes'] / 1e6:.2f} MB ({ratio:.0%} of the store's "
                       f"{result['store_bytes'] / 1e6:.2f} MB); 'nasforge bench unpack' turns it back into a store")


def cmd_unpack(args: argparse.Namespace) -> None:
    from nasforge.benchmarks.packing import unpack_store
    from nasforge.benchmarks.store import MANIFEST
    from nasforge.errors import BenchmarkError

    out = check_output_dir(args.out, "-o")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        # --overwrite replaces the whole directory: only ever one that nasforge wrote.
        raise BenchmarkError(f"{out} holds files but no nasforge store ({MANIFEST} missing); choose another -o")
    unpack_store(args.archive, out, overwrite=args.overwrite)
    _report_import(args, out)


def cmd_upgrade(args: argparse.Namespace) -> None:
    from nasforge.benchmarks.packing import upgrade_store
    from nasforge.benchmarks.store import MANIFEST
    from nasforge.errors import BenchmarkError

    if args.out is not None:
        out = check_output_dir(args.out, "-o")
        if out.exists():
            raise BenchmarkError(f"{out} already exists; give a new directory for the upgraded store")
    old, new = upgrade_store(args.store, args.out)
    if old == new:  # nothing written, at -o or in place
        emit(args, {"store": str(args.store), "old_schema": old, "schema": new, "written": False},
             f"{args.store} is already at schema {new}; nothing written")  # fmt: skip
        return
    target = args.out or args.store
    if not (Path(target) / MANIFEST).is_file():
        raise BenchmarkError(f"{target}: the upgraded store was not written")
    emit(args, {"store": str(target), "old_schema": old, "schema": new}, f"{target}: schema {new} (was {old})")
