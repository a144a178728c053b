"""``nasforge train``: train one NB201 architecture on real data and write its learning curves.

nasforge train 6111 --dataset cifar10 --epochs 10 --fraction 0.05 --data-dir DATA
nasforge train '|nor_conv_3x3~0|+|...|' --dataset mnist --epochs 1 --fraction 0.1     # embedded MNIST, offline
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nasforge.cli import _argtypes as argtypes
from nasforge.cli._common import add_data_dir, add_dataset_options, add_json_flag, check_dataset_options, emit
from nasforge.cli._outputs import TRAIN_RUN, RunDir, claim_run_dir
from nasforge.data.specs import list_datasets

DATASETS = tuple(list_datasets(loadable=True))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one NB201 architecture on CIFAR-10 or MNIST and write its curves",
        description="Train one NB201 architecture (the seed's protocol by default: 5% of the training set, "
        "10 epochs) and write curves.json and curves.png to --out.",
    )
    p.add_argument("arch", help="NB201 arch string, official index (0-15624) or op:CODE")
    add_dataset_options(p, "cifar10", DATASETS)
    p.add_argument("--epochs", type=argtypes.epochs, default=10)
    p.add_argument(
        "--fraction", type=argtypes.fraction, default=0.05, help="class-balanced share of the training split"
    )
    p.add_argument(
        "--eval-size",
        type=argtypes.nonnegative_int,
        default=1000,
        help="class-balanced test images evaluated after each epoch (0 = the whole test split)",
    )
    p.add_argument("--batch-size", type=argtypes.batch_size, default=64)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    p.add_argument(
        "--lr", type=argtypes.learning_rate, default=None, help="learning rate (default: 0.05 SGD, 1e-3 Adam)"
    )
    p.add_argument("--seed", type=argtypes.seed, default=0, help="seed of the data subset, weights and batches")
    p.add_argument("--C", type=argtypes.channels, default=16, help="channels of the first stage (NB201: 16)")
    p.add_argument("--N", type=argtypes.cells, default=5, help="cells per stage (NB201: 5)")
    p.add_argument("--device", type=argtypes.device, default="auto", help="auto (CUDA, MPS, else CPU), cpu, cuda, mps")
    p.add_argument(
        "--threads", type=argtypes.cpu_threads, default=None, help="CPU threads for torch (default: torch's)"
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the network: ~1.15x faster CPU steps after about a minute of compiling (needs a C++ "
        "compiler); pays off from a few minutes of training on",
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output directory (default: nasforge-train/DATASET-INDEX-seedSEED)"
    )
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--force", action="store_true", help=TRAIN_RUN.force_help())
    add_data_dir(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from nasforge.spaces.nb201 import NB201Arch

    check_dataset_options(args, DATASETS)
    arch = NB201Arch.from_any(args.arch)
    default = Path("nasforge-train") / f"{Path(args.dataset).name}-{arch.index}-seed{args.seed}"
    with claim_run_dir(default if args.out is None else args.out, TRAIN_RUN, resume=args.resume,
                       force=args.force) as run:  # fmt: skip
        return _train(args, arch, run.path, run)


def _train(args: argparse.Namespace, arch, out: Path, run: RunDir) -> int:  # noqa: ANN001 - an NB201Arch
    # torch and the data stack load here, not at CLI start-up, so `nasforge --help` stays fast.
    import torch

    from nasforge.data import class_balanced_subset, load_dataset
    from nasforge.train import TrainConfig, train
    from nasforge.train.models import build_nb201
    from nasforge.viz.training import plot_training_curves

    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 0.05)
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=lr,
        weight_decay=5e-4 if args.optimizer == "sgd" else 0.0,
        seed=args.seed,
        device=args.device,
        compile=args.compile,
    )
    own = {"image_size": args.image_size, "strict_images": args.strict_images}
    full_train = load_dataset(args.dataset, "train", args.data_dir, **own)
    test = load_dataset(args.dataset, "test", args.data_dir, **own)
    train_set = class_balanced_subset(full_train, args.fraction, args.seed)
    eval_set = (
        test
        if args.eval_size == 0 or args.eval_size >= len(test)
        else (class_balanced_subset(test, args.eval_size / len(test), args.seed))
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    log = sys.stderr if args.json else sys.stdout
    print(f"arch {arch.index} {arch.to_string()}", file=log)
    print(f"train: {len(train_set):,} images from {full_train.source}", file=log)
    print(f"eval:  {len(eval_set):,} test images from {test.source}", file=log)
    model = build_nb201(arch, full_train.spec, C=args.C, N=args.N, seed=args.seed)
    if args.compile:
        print("torch.compile: the first batch compiles the network (about a minute at C=16, N=5)", file=log)

    def on_epoch(r) -> None:  # noqa: ANN001 - an EpochRecord
        print(
            f"epoch {r.epoch:3d}/{config.epochs}  lr {r.lr:.4f}  train loss {r.train_loss:.4f} acc {r.train_acc:6.2f}%"
            f"  test loss {r.valid_loss:.4f} acc {r.valid_acc:6.2f}%  {r.seconds:6.1f}s",
            file=log,
            flush=True,
        )

    run.begin({"arch": arch.to_string(), "--dataset": args.dataset, "--image-size": args.image_size,
               "--epochs": args.epochs,
               "--fraction": args.fraction, "--eval-size": args.eval_size, "--batch-size": args.batch_size,
               "--optimizer": args.optimizer, "--lr": lr, "--seed": args.seed, "--C": args.C, "--N": args.N,
               "data": full_train.source, "eval data": test.source})  # fmt: skip
    result = train(model, train_set, eval_set, config, checkpoint_dir=out, resume=args.resume, on_epoch=on_epoch)
    payload = {
        "arch": arch.to_string(),
        "index": arch.index,
        "dataset": args.dataset,
        "train_source": train_set.source,
        "eval_source": eval_set.source,
        "eval_split": "test",
        "C": args.C,
        "N": args.N,
        "final_train_acc": result.train_acc,
        "final_test_acc": result.valid_acc,
        **result.to_dict(),
    }
    from nasforge._io import atomic_write_text

    atomic_write_text(out / "curves.json", json.dumps(payload, indent=2, allow_nan=False) + "\n")
    plot_training_curves(
        result.records,
        out / "curves.png",
        eval_label="test",
        title=f"NB201 arch {arch.index} on {Path(args.dataset).name} ({len(train_set):,} training images)",
    )
    payload["curves_json"] = str(out / "curves.json")
    payload["curves_png"] = str(out / "curves.png")
    emit(
        args,
        payload,
        lambda: (
            f"final: train acc {result.train_acc:.2f}%, test acc {result.valid_acc:.2f}% "
            f"({result.seconds / 60:.1f} min on {result.device})\nwrote {out / 'curves.json'} and {out / 'curves.png'}"
        ),
    )
    return 0
