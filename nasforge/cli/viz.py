"""``nasforge viz``: drawings of search results (matplotlib only, no graphviz binary).

nasforge viz genotype logs/ -o figs/     # figs/normal.pdf, figs/reduction.pdf (+ .png)
nasforge viz alphas logs/ -o figs/       # figs/alphas_normal.pdf, ... softmax(alpha) over the epochs, figs/drift.pdf
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from nasforge.cli._common import ArgumentParser, add_json_flag, emit
from nasforge.cli._outputs import check_output_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("viz", help="draw search results: DARTS cells, alpha over epochs")
    inner = p.add_subparsers(title="drawings", metavar="DRAWING", parser_class=ArgumentParser)
    inner.required = True

    g = inner.add_parser(
        "genotype",
        help="draw the normal and reduction cell of a DARTS genotype",
        description="Writes normal.pdf and reduction.pdf (and PNGs) to -o.",
    )
    g.add_argument("logdir", help="log directory of 'nasforge darts' (or its genotype.json)")
    g.add_argument("-o", "--out", default="figs", metavar="DIR", help="output directory (default: figs)")
    add_json_flag(g)
    g.set_defaults(func=cmd_genotype)

    a = inner.add_parser(
        "alphas",
        help="plot softmax(alpha) of every edge over the search epochs",
        description="Reads LOGDIR/search.jsonl; writes alphas_<normal|reduce|cell>.pdf/.png, drift.pdf/.png (the "
        "weight on parameter-free ops and their count in the derived cell per epoch) and, for NB201 searches, "
        "benchmark.pdf/.png with the derived archs' true accuracy. --json adds the drift per epoch.",
    )
    a.add_argument("logdir", help="log directory of 'nasforge oneshot' or 'nasforge darts'")
    a.add_argument("-o", "--out", default="figs", metavar="DIR", help="output directory (default: figs)")
    add_json_flag(a)
    a.set_defaults(func=cmd_alphas)


def cmd_genotype(args: argparse.Namespace) -> int:
    from nasforge.errors import ConfigError
    from nasforge.oneshot.search import load_genotype
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.viz.genotype import draw_genotype

    check_output_dir(args.out, "-o")
    doc, arch = load_genotype(args.logdir)
    if isinstance(arch, NB201Arch):
        raise ConfigError(
            f"{args.logdir} holds an NB201 cell ({arch.to_string()}), not a DARTS genotype; "
            "'viz genotype' draws DARTS cells"
        )
    paths = draw_genotype(arch, args.out)
    emit(args, {"genotype": str(arch), "files": [str(p) for p in paths]}, lambda: "\n".join(str(p) for p in paths))
    return 0


def cmd_alphas(args: argparse.Namespace) -> int:
    from nasforge.errors import StudyError
    from nasforge.oneshot.collapse import drift, trend
    from nasforge.oneshot.search import CHECKPOINT_NAME, LOG_NAME, RECORDS_NAME
    from nasforge.oneshot.supernet import space_edge_names
    from nasforge.spaces.registry import get_space
    from nasforge.viz.genotype import plot_alphas, plot_drift

    check_output_dir(args.out, "-o")
    path = Path(args.logdir) / RECORDS_NAME
    if not path.is_file():
        if (Path(args.logdir) / CHECKPOINT_NAME).is_file() or (Path(args.logdir) / LOG_NAME).is_file():
            raise StudyError(f"{path} not found: the search has not finished an epoch yet; draw it after its first")
        raise StudyError(f"{path} not found: give a log directory written by 'nasforge oneshot' or 'nasforge darts'")
    try:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        space = search_space_of(Path(args.logdir))
        ops = get_space(space).ops
        if not records or any(len(row) != len(ops) for r in records for rows in r["alphas"].values() for row in rows):
            raise ValueError("no epochs or rows of the wrong length")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise StudyError(
            f"{args.logdir} holds no readable search records ({exc}); rerun the search ('nasforge oneshot')"
        ) from None
    points = drift(records, ops)
    paths = plot_alphas(records, ops, args.out, space_edge_names(space))
    paths += plot_drift(points, Path(args.out) / "drift")
    doc: dict = {"epochs": len(records), "files": [str(p) for p in paths], "drift": [asdict(p) for p in points]}
    if len(points) > 1:
        epochs = [p.epoch for p in points]
        doc["trend"] = {k: asdict(trend(epochs, [getattr(p, k) for p in points])) for k in ("free_mass", "skip_mass")}
    emit(args, doc, lambda: "\n".join(str(p) for p in paths))
    return 0


def search_space_of(logdir: Path) -> str:
    """The space a search in ``logdir`` ran in: from its genotype.json, or, where that is missing (a search
    stopped early, a file moved away), from the run record the search wrote first (ValueError if neither)."""
    from nasforge.cli._outputs import read_run_record
    from nasforge.oneshot.search import GENOTYPE_NAME, load_genotype

    if (logdir / GENOTYPE_NAME).is_file():
        return load_genotype(logdir)[0]["space"]
    record = read_run_record(logdir)
    space = None if record is None else record["settings"].get("--space")
    if not isinstance(space, str):
        raise ValueError(f"neither {GENOTYPE_NAME} nor a run record naming the space")
    return space
