"""The NB201 exercise sheet's ``plot_curves.py`` on nasforge: one arch's learning curves from the benchmark.

The sheet plots ``|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|`` from its
pickle (``--benchmark nb201_cifar10_full_training.pickle --arch '<that string>'``). The offline NB201 data
holds all four curves for archs 0, 11 and 284 only (accuracy curves for archs 0-199), so the default is
arch 11 from the data directory's store.

    python examples/nb201_exercise/plot_curves.py --data-dir DATA -o curves.png
"""

from __future__ import annotations

import argparse
import sys

from nasforge.benchmarks import load_nb201
from nasforge.errors import NasforgeError
from nasforge.exercises.nb201 import Dataset, Metric, NB201BenchmarkAPI
from nasforge.paths import require_data_dir
from nasforge.viz.training import plot_training_curves

DEFAULT_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"  # index 11


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=DEFAULT_ARCH, help="NB201 arch string or index (default: arch 11)")
    parser.add_argument("--data-dir", help="data directory (default: $NASFORGE_DATA)")
    parser.add_argument("--benchmark", help="the sheet's pickle or a nasforge store (default: the data dir's NB201)")
    parser.add_argument("-o", "--out", default="curves.png", help="image to write (default curves.png)")
    args = parser.parse_args(argv)
    arch = int(args.arch) if args.arch.isdigit() else args.arch
    try:
        api = NB201BenchmarkAPI(args.benchmark or load_nb201(require_data_dir(args.data_dir)).path, Dataset.CIFAR10)
        # Query the API for the learning curves, as the sheet does.
        train_losses = api.query(arch, Metric.TRAIN_LOSS, last_epoch_only=False)
        train_accs = api.query(arch, Metric.TRAIN_ACCURACY, last_epoch_only=False)
        val_losses = api.query(arch, Metric.VAL_LOSS, last_epoch_only=False)
        val_accs = api.query(arch, Metric.VAL_ACCURACY, last_epoch_only=False)
    except NasforgeError as exc:
        print(f"plot_curves.py: error: {exc}", file=sys.stderr)
        return 2
    epochs = len(train_accs)
    records = [
        {"epoch": e + 1, "train_loss": train_losses[e], "train_acc": train_accs[e],
         "valid_loss": val_losses[e], "valid_acc": val_accs[e]}
        for e in range(epochs)
    ]  # fmt: skip
    plot_training_curves(records, args.out, title=f"{api.query(arch, Metric.PARAMS):.3f} M params, cifar10-valid")
    print(f"epoch {epochs}: train acc {train_accs[-1]:.2f} %, valid acc {val_accs[epochs - 1]:.2f} %")
    if len(val_accs) > epochs:  # NB201 appends the final ori-test value to the eval lists
        print(f"entry {len(val_accs)} of the eval list (NB201's ori-test value): {val_accs[-1]:.2f} %")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except OSError as exc:  # a place the system refuses to write (read-only, a file where a folder should be)
        print(f"plot_curves.py: error: {exc.filename}: {exc.strerror}; choose another place", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
