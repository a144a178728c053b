"""``nasforge darts`` (differentiable architecture search) and ``nasforge train-genotype`` (retrain its result).

nasforge darts --space darts-mnist --epochs 5 --out logs/                 # the sheet's run, on embedded MNIST
nasforge darts --space darts-mnist --dataset mnist --epochs 5 --out logs/ --data-dir DATA   # on full MNIST
nasforge darts --space nb201 --dataset cifar10 --epochs 10 --out logs-nb201/ --data-dir DATA
nasforge train-genotype logs/ --dataset mnist --epochs 10 --data-dir DATA
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import (
    add_data_dir,
    add_dataset_options,
    add_json_flag,
    check,
    check_dataset_options,
    emit,
    log_stream,
)
from nasforge.cli._outputs import DARTS_RUN, RETRAIN_RUN, RunDir, claim_run_dir
from nasforge.data.specs import list_datasets
from nasforge.spaces.registry import list_spaces

SPACES = tuple(list_spaces("oneshot"))
DATASETS = tuple(list_datasets(loadable=True))


def register(subparsers: argparse._SubParsersAction) -> None:
    o = subparsers.add_parser(
        "oneshot",
        help="one-shot NAS with a chosen method: darts, gdas, drnas, spos, rsps, setn (shared supernet and loop)",
        description="One-shot search with --method darts (softmax relaxation), gdas (hard Gumbel-softmax "
        "sample per edge, temperature annealed --tau-max -> --tau-min), drnas (Dirichlet mixing weights, "
        "KL anchor), or on nb201 spos / rsps / setn (uniform single-path supernet training, then the cell "
        "selected among --candidates scored with inherited weights: evolution, random search, or sampled from "
        "SETN's evaluator). Same outputs, options and --resume as 'nasforge darts' (which is --method darts).",
    )
    o.add_argument("--method", required=True, help="darts, gdas, drnas, spos, rsps or setn")
    o.add_argument("--tau-max", type=argtypes.temperature, default=10.0, help="GDAS' initial temperature (default 10)")
    o.add_argument("--tau-min", type=argtypes.temperature, default=0.1, help="GDAS' final temperature (default 0.1)")
    o.add_argument(
        "--candidates", type=argtypes.int_range(1, 15625), default=100,  # at most the whole NB201 space
        help="spos/rsps/setn: cells scored with the supernet's weights after each epoch (default 100)",
    )
    o.add_argument(
        "--recalib-batches", type=argtypes.int_range(1, 10000), default=4,
        help="spos/rsps/setn: training batches that recalibrate BatchNorm before each score (default 4)",
    )
    o.add_argument(
        "--partial-channels", type=argtypes.comma_list(argtypes.int_range(1, 4096)), default=[], metavar="K,K,...",
        help="drnas on nb201: DrNAS' progressive schedule, one partial-channel K per stage (DrNAS: 4,2)",
    )
    o.add_argument(
        "--keep-ops", type=argtypes.comma_list(argtypes.int_range(1, 5)), default=[], metavar="N,N,...",
        help="drnas on nb201: ops kept per edge from each stage's start, pruned by α (DrNAS: 5,3)",
    )
    _add_search_arguments(o)
    o.set_defaults(func=cmd_darts)

    p = subparsers.add_parser(
        "darts",
        help="DARTS: differentiable architecture search (MNIST seed space, DARTS CNN space, NB201)",
        description="Bilevel DARTS search. Writes to --out: search.log, search.jsonl (per epoch: losses, "
        "accuracies, softmax(alpha) per edge, genotype), genotype.json, checkpoint.pt (for --resume) and the "
        "DARTS-MNIST sheet's log.txt and architecture. darts-mnist runs the sheet's network and protocol "
        "(constant lr, no clipping, seed 2); darts and nb201 DARTS' refinements (cosine lr, clipping at 5). "
        "On nb201 with CIFAR-10 every epoch's derived arch is looked up in the NB201 benchmark.",
    )
    p.set_defaults(
        method="darts", tau_max=10.0, tau_min=0.1, candidates=100, recalib_batches=4, partial_channels=[], keep_ops=[]
    )
    _add_search_arguments(p)
    p.set_defaults(func=cmd_darts)
    _register_train_genotype(subparsers)


def _add_search_arguments(p: argparse.ArgumentParser) -> None:
    """The options 'nasforge darts' and 'nasforge oneshot' share."""
    p.add_argument("--space", choices=SPACES, default="darts-mnist")
    add_dataset_options(p, "mnist", DATASETS)
    p.add_argument("--epochs", type=argtypes.epochs, default=5)
    p.add_argument("--out", default="logs", metavar="DIR", help="log directory (default: logs)")
    p.add_argument("--order", type=int, choices=(1, 2), default=1, help="1: first-order (default), 2: unrolled")
    p.add_argument("--resume", action="store_true", help="continue the search in --out after its last epoch")
    p.add_argument("--force", action="store_true", help=DARTS_RUN.force_help())
    p.add_argument(
        "--seed", type=argtypes.seed, default=None,
        help="seed of the split, initialization and batches (darts-mnist 2, else 0)",
    )
    p.add_argument("--batch-size", type=argtypes.batch_size, default=64)
    p.add_argument(
        "--arch-lr", type=argtypes.arch_learning_rate, default=None,
        help="Adam lr of the architecture parameters (default 3e-4, DARTS' and GDAS'); methods that train α only",
    )  # fmt: skip
    p.add_argument(
        "--warmup-epochs", type=argtypes.int_range(0, argtypes.MAX_EPOCHS), default=0, metavar="W",
        help="α is not stepped in the first W epochs of each stage (of the run without --partial-channels); "
        "the weights train as usual (default 0; DrNAS' NB201 code: 10 of each 50-epoch stage)",
    )  # fmt: skip
    p.add_argument(
        "--C",
        type=argtypes.channels,
        default=None,
        help="initial channels (default: darts-mnist 8, i.e. the sheet's cells 16, 16, 32 wide; darts 16; "
        "nb201 8; NB201's own: 16)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default=None,
        help="weight lr 0.025 constant (darts-mnist, the sheet) or cosine-annealed to 0.001 (darts, nb201)",
    )
    p.add_argument(
        "--grad-clip",
        type=argtypes.grad_clip,
        default=None,
        help="max gradient norm of the weight step; 0 = no clipping (default: darts-mnist 0, darts/nb201 5)",
    )
    p.add_argument(
        "--stem-multiplier",
        type=argtypes.stem_multiplier,
        default=None,
        help="3x3 conv stem of MULT*C channels; 0 = none (default: darts-mnist 0, as the sheet; darts 3)",
    )
    p.add_argument(
        "--layers",
        type=argtypes.cells,
        default=None,
        help="cells (darts: 8) or, for nb201, cells per stage N (default 1; NB201's own: 5)",
    )
    p.add_argument("--fraction", type=argtypes.fraction, default=1.0, help="class-balanced share of the training split")
    p.add_argument("--device", type=argtypes.device, default="auto", help="auto (CUDA, MPS, else CPU), cpu, cuda, mps")
    p.add_argument(
        "--threads",
        type=argtypes.cpu_threads,
        default=None,
        help="CPU threads for torch (default: torch's; 1 when the load average exceeds the cores)",
    )
    add_data_dir(p)
    add_json_flag(p)


def _register_train_genotype(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser(
        "train-genotype",
        help="train the discrete network of a genotype found by 'nasforge darts'",
        description="Build the discrete network of LOGDIR/genotype.json and train it on the full training "
        "split; reports the test accuracy.",
    )
    t.add_argument("logdir", help="log directory of 'nasforge darts' (or a genotype.json file)")
    add_dataset_options(t, "mnist", DATASETS)
    t.add_argument("--epochs", type=argtypes.epochs, default=10)
    t.add_argument("--C", type=argtypes.channels, default=16, help="initial channels of the retrained network")
    t.add_argument("--batch-size", type=argtypes.batch_size, default=64)
    t.add_argument("--lr", type=argtypes.learning_rate, default=0.05)
    t.add_argument("--fraction", type=argtypes.fraction, default=1.0, help="class-balanced share of the training split")
    t.add_argument("--seed", type=argtypes.seed, default=0)
    t.add_argument("--device", type=argtypes.device, default="auto", help="auto (CUDA, MPS, else CPU), cpu, cuda, mps")
    t.add_argument(
        "--threads",
        type=argtypes.cpu_threads,
        default=None,
        help="CPU threads for torch (default: torch's; 1 when the load average exceeds the cores)",
    )
    t.add_argument("--out", default=None, metavar="DIR", help="checkpoint directory (default: LOGDIR/retrain)")
    t.add_argument("--resume", action="store_true", help="continue the training run in --out")
    t.add_argument("--force", action="store_true", help=RETRAIN_RUN.force_help())
    add_data_dir(t)
    add_json_flag(t)
    t.set_defaults(func=cmd_train_genotype)


def _set_threads(threads: int | None) -> None:
    """``--threads``, else torch's default, except on a machine already busier than its cores.

    There torch's OpenMP workers wait at every op's barrier for a descheduled sibling: on the 2-core project
    machine at load 8, one thread ran the one-epoch embedded search in 13 s and two threads in 350 s.
    """
    import os

    import torch

    if threads is None and os.getloadavg()[0] >= (os.cpu_count() or 1):
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)


def _load_train_split(args: argparse.Namespace, share: float, seed: int, split: str = "train"):
    """The (sub)set to train on, and where its images came from (recorded to check a resume against)."""
    from nasforge.data import class_balanced_subset, load_dataset

    ds = load_dataset(args.dataset, split, args.data_dir, image_size=args.image_size, strict_images=args.strict_images)
    return (ds if share >= 1.0 else class_balanced_subset(ds, share, seed)), ds.source


def _benchmark_lookup(space: str, dataset: str, data_dir: str | None):
    """For nb201 on CIFAR-10: arch -> its true NB201 numbers; None when the benchmark cannot be found."""
    if space != "nb201" or dataset != "cifar10":
        return None, None
    from nasforge.benchmarks import load_nb201
    from nasforge.errors import NasforgeError

    try:
        store = load_nb201(data_dir)
    except NasforgeError as exc:
        return None, f"NB201 benchmark unavailable, derived archs are not looked up: {exc}"

    def lookup(arch) -> dict[str, float]:
        return {
            "cifar10_test_acc": store.query(arch, "cifar10", "test_acc"),
            "cifar10_rank_pct": _rank(store, arch),
        }

    return lookup, None


def _rank(store, arch) -> float:
    # Share of the 15,625 archs that are at least as good: puts a lookup in context (0 = best).
    from nasforge.benchmarks.analysis import whole_space

    values = whole_space(store, "cifar10", "test_acc")
    value = store.query(arch, "cifar10", "test_acc")
    return float(100.0 * (values > value).mean())


def cmd_darts(args: argparse.Namespace) -> int:
    with claim_run_dir(args.out, DARTS_RUN, resume=args.resume, force=args.force) as run:
        return _darts(args, run)


def _darts(args: argparse.Namespace, run: RunDir) -> int:
    import sys

    from nasforge.oneshot.architect import ARCH_LR
    from nasforge.oneshot.methods import get_method
    from nasforge.oneshot.search import SearchConfig, search

    _set_threads(args.threads)
    check_dataset_options(args, DATASETS)
    check(
        not (args.space == "darts-mnist" and args.dataset != "mnist"),
        "the darts-mnist space is built for 28x28 grey digits; use --dataset mnist or --space darts/nb201",
    )
    config = SearchConfig(
        space=args.space,
        dataset=args.dataset,
        epochs=args.epochs,
        order=args.order,
        batch_size=args.batch_size,
        C=args.C,
        layers=args.layers,
        seed=args.seed,
        device=args.device,
        lr_schedule=args.lr_schedule,
        grad_clip=args.grad_clip,
        stem_multiplier=args.stem_multiplier,
        method=args.method,
        tau_max=args.tau_max,
        tau_min=args.tau_min,
        candidates=args.candidates,
        recalib_batches=args.recalib_batches,
        partial_channels=tuple(args.partial_channels),
        keep_ops=tuple(args.keep_ops),
        warmup_epochs=args.warmup_epochs,
        **({} if args.arch_lr is None else {"a_lr": args.arch_lr}),
    )
    from nasforge.train.models import check_input_size

    dataset, data_source = _load_train_split(args, args.fraction, config.seed)
    check_input_size(dataset.spec, "DARTS")
    lookup, warning = _benchmark_lookup(args.space, args.dataset, args.data_dir)
    if warning:
        print(f"nasforge: warning: {warning}", file=sys.stderr)

    def report(record) -> None:
        bench = ""
        if record.benchmark:
            bench = f"  NB201 test acc {record.benchmark['cifar10_test_acc']:.2f}%"
        print(
            f"epoch {record.epoch}: train acc {record.train_acc:.2f}%  valid acc {record.valid_acc:.2f}%  "
            f"({record.seconds:.1f}s)  {record.genotype}{bench}",
            file=log_stream(args),  # with --json on stderr: a long search is never silent
            flush=True,
        )

    settings = {
        "--space": args.space, "--dataset": args.dataset, "--epochs": args.epochs, "--order": args.order,
        "--seed": args.seed, "--batch-size": args.batch_size, "--C": args.C, "--layers": args.layers,
        "--fraction": args.fraction, "data": data_source,
    }  # fmt: skip
    if config.method != "darts":  # absent for DARTS, so run directories of older 'nasforge darts' still resume
        settings.update({"--method": config.method, "--tau-max": config.tau_max, "--tau-min": config.tau_min})
    if get_method(config.method).selection:  # only where they matter: older run directories still resume
        settings.update({"--candidates": config.candidates, "--recalib-batches": config.recalib_batches})
    if config.a_lr != ARCH_LR:  # only when not the default: older run directories still resume
        settings["--arch-lr"] = config.a_lr
    if config.warmup_epochs:  # likewise
        settings["--warmup-epochs"] = config.warmup_epochs
    if config.partial_channels:
        settings.update({"--partial-channels": list(config.partial_channels), "--keep-ops": list(config.keep_ops)})
    # left out for DARTS (older 'nasforge darts' directories still resume), compared against a run that has them
    implied = {"--method": config.method, "--tau-max": config.tau_max, "--tau-min": config.tau_min}
    run.begin(settings, implied=implied)  # checks a resumed search's settings, or clears a forced one's old files
    if not args.json:
        print(
            f"{config.method.upper()} search: space {args.space}, {dataset.source}, {args.epochs} epoch(s), "
            f"order {args.order}, logs in {args.out}",
            flush=True,
        )
    result = search(
        config, dataset, out_dir=args.out, resume=args.resume, progress=not args.json, lookup=lookup, on_epoch=report
    )
    payload = result.to_dict()
    payload["out"] = str(Path(args.out))
    emit(
        args,
        payload,
        lambda: (
            f"found: {result.arch}\n{result.seconds:.1f}s of search; genotype in {Path(args.out) / 'genotype.json'}"
        ),
    )
    return 0


def cmd_train_genotype(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.logdir if Path(args.logdir).is_dir() else ".") / "retrain"
    with claim_run_dir(out, RETRAIN_RUN, resume=args.resume, force=args.force) as run:
        return _train_genotype(args, out, run)


def _train_genotype(args: argparse.Namespace, out: Path, run: RunDir) -> int:
    from nasforge.errors import ConfigError
    from nasforge.oneshot.search import load_genotype
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.train import TrainConfig, train
    from nasforge.train.models import build_darts

    _set_threads(args.threads)
    check_dataset_options(args, DATASETS)
    doc, arch = load_genotype(args.logdir)
    if isinstance(arch, NB201Arch):
        raise ConfigError(
            f"{args.logdir} holds an NB201 arch ({arch.to_string()}); its trained accuracy is in the "
            "benchmark: nasforge bench query, or train it with nasforge train"
        )
    check(
        not (doc["space"] == "darts-mnist" and args.dataset != "mnist"),
        "a darts-mnist genotype is built for 28x28 grey digits; use --dataset mnist",
    )
    train_set, data_source = _load_train_split(args, args.fraction, args.seed)
    test_set, _ = _load_train_split(args, 1.0, args.seed, split="test")
    macro = {"layers": doc.get("layers"), "stem_multiplier": doc.get("stem_multiplier")}
    model = build_darts(arch, train_set.spec, doc["space"], C=args.C, seed=args.seed, **macro)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device)
    # The space, its macro options and the image size are recorded too: 'nasforge export' rebuilds the network.
    run.begin({"genotype": str(arch), "space": doc["space"], **macro, "--dataset": args.dataset,
               "--image-size": args.image_size, "--epochs": args.epochs, "--C": args.C,
               "--batch-size": args.batch_size, "--lr": args.lr, "--fraction": args.fraction, "--seed": args.seed,
               "data": data_source})  # fmt: skip
    if not args.json:
        params = sum(p.numel() for p in model.parameters())
        print(f"training {arch} (C={args.C}, {params:,} parameters) on {train_set.source}", flush=True)
    result = train(
        model,
        train_set,
        test_set,
        config,
        checkpoint_dir=out,
        resume=args.resume,
        progress=not args.json,
        on_epoch=lambda r: print(
            f"epoch {r.epoch}: train acc {r.train_acc:.2f}%  test acc {r.valid_acc:.2f}%  ({r.seconds:.1f}s)",
            file=log_stream(args),
            flush=True,
        ),
    )
    payload = {
        "genotype": str(arch),
        "space": doc["space"],
        "C": args.C,
        "test_acc": result.valid_acc,
        "test_size": len(test_set),
        "train": result.to_dict(),
    }
    emit(
        args,
        payload,
        lambda: (
            f"test accuracy {result.valid_acc:.2f}% on {len(test_set):,} test images "
            f"after {args.epochs} epoch(s) ({result.seconds:.0f}s)"
        ),
    )
    return 0
