"""The DARTS-MNIST sheet's ``python train_search.py``: 5 epochs of first-order DARTS on MNIST, logs in ``logs/``.

The same run as ``nasforge darts --space darts-mnist --out logs``: the sheet's network (46,234 weights)
and protocol (SGD lr 0.025 constant, momentum 0.9, weight decay 3e-4, batch 64, the training set's first
half for the weights and a random batch of its second half for each α step, seed 2). ``logs/`` gets the
sheet's ``log.txt`` and ``architecture`` and nasforge's ``search.log``, ``search.jsonl``, ``genotype.json``
and ``checkpoint.pt``.

    python examples/darts_mnist/train_search.py                   # MNIST from NASFORGE_DATA, else embedded
    python examples/darts_mnist/train_search.py --data DATA_DIR   # DATA_DIR/mnist/*-idx?-ubyte.gz
    python examples/darts_mnist/visualize.py                      # -> normal.pdf, reduction.pdf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nasforge.data import load_dataset
from nasforge.errors import NasforgeError
from nasforge.oneshot import SearchConfig, search
from nasforge.oneshot.search import OUTPUT_NAMES


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser("train_search.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="data directory (default: NASFORGE_DATA, else embedded MNIST)")
    parser.add_argument("--batch_size", type=int, default=64, help="batch size")
    parser.add_argument("--learning_rate", type=float, default=0.025, help="weight learning rate (constant)")
    parser.add_argument("--weight_decay", type=float, default=3e-4, help="weight decay")
    parser.add_argument("--epochs", type=int, default=5, help="number of search epochs")
    parser.add_argument("--save", default="logs", help="log directory")
    parser.add_argument("--seed", type=int, default=2, help="random seed")
    parser.add_argument("--force", action="store_true", help="replace a search already in --save")
    args = parser.parse_args(argv)
    taken = [name for name in OUTPUT_NAMES if (Path(args.save) / name).exists()]
    if taken and not args.force:
        print(f"train_search.py: {args.save} already holds a search ({taken[0]}); add --force", file=sys.stderr)
        return 2
    try:
        config = SearchConfig(
            space="darts-mnist",
            epochs=args.epochs,
            batch_size=args.batch_size,
            w_lr=args.learning_rate,
            w_weight_decay=args.weight_decay,
            seed=args.seed,
        )
        train = load_dataset("mnist", "train", args.data)
        print(f"searching on {train.source} ({len(train):,} images)", flush=True)
        result = search(
            config,
            train,
            out_dir=args.save,
            progress=False,
            on_epoch=lambda r: print(
                f"epoch {r.epoch}: train_acc {r.train_acc:.2f}  valid_acc {r.valid_acc:.2f}  ({r.seconds:.0f}s)",
                flush=True,
            ),
        )
    except NasforgeError as exc:
        print(f"train_search.py: {exc}", file=sys.stderr)
        return 2
    print(f"genotype = {result.arch}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except OSError as exc:  # a place the system refuses to write (read-only, a file where a folder should be)
        print(f"train_search.py: error: {exc.filename}: {exc.strerror}; choose another place", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
