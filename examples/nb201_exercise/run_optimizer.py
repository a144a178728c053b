"""The NB201 exercise sheet's ``run_optimizer.py`` on nasforge: random search over the NB201 cell.

By default 5 sampled networks are trained with the sheet's protocol (5 % of CIFAR-10, 10 epochs; one
epoch took 105 s of CPU time here, so about 1.5 CPU-hours in all). ``--use-api --n-iter 100`` looks 100
archs up in the benchmark instead: the sheet's pickle (``--benchmark nb201_cifar10_full_training.pickle``)
or, by default, nasforge's NB201 store built from the data directory. Writes a scatter of parameters vs
validation accuracy (``--plot``).

    python examples/nb201_exercise/run_optimizer.py --data-dir DATA
    python examples/nb201_exercise/run_optimizer.py --use-api --n-iter 100 --data-dir DATA
"""

from __future__ import annotations

import argparse
import math
import sys

from nasforge.benchmarks import load_nb201
from nasforge.errors import ConfigError, NasforgeError
from nasforge.exercises.nb201 import (
    Dataset,
    NASBench201CellSearchSpace,
    NASBench201MacroGraph,
    NB201BenchmarkAPI,
    RandomSearchOptimizer,
)
from nasforge.paths import require_data_dir
from nasforge.search.evaluators import TrainProtocol


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use-api", action="store_true", help="look archs up in the benchmark instead of training")
    parser.add_argument("--n-iter", type=int, default=5, help="number of archs to sample (default 5)")
    parser.add_argument("--data-dir", help="data directory (default: $NASFORGE_DATA)")
    parser.add_argument("--benchmark", help="the sheet's pickle or a nasforge store (default: the data dir's NB201)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs per arch (sheet: 10)")
    parser.add_argument("--train-fraction", type=float, default=0.05, help="share of CIFAR-10 trained on (sheet: 0.05)")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="share of the images held out to validate")
    parser.add_argument("--cells", type=int, default=5, help="cells per stage, N (sheet: 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="run_optimizer.png", help="scatter plot to write (default run_optimizer.png)")
    args = parser.parse_args(argv)
    try:
        if args.n_iter < 1 or args.epochs < 1 or args.cells < 1:
            raise ConfigError("--n-iter, --epochs and --cells must be >= 1")
        data_dir = require_data_dir(args.data_dir) if not args.benchmark else args.data_dir
        api = None
        if args.use_api:
            api = NB201BenchmarkAPI(args.benchmark or load_nb201(data_dir).path, Dataset.CIFAR10)
        protocol = TrainProtocol(
            train_fraction=args.train_fraction, valid_fraction=args.valid_fraction, epochs=args.epochs
        )
        optimizer = RandomSearchOptimizer(
            NASBench201CellSearchSpace.get_configuration_space(),
            lambda config: NASBench201MacroGraph(config, N=args.cells),
            seed=args.seed,
            protocol=protocol,
            data_dir=data_dir,
        )
        trajectory, incumbent = optimizer.search(n_iter=args.n_iter, api=api)
    except NasforgeError as exc:
        print(f"run_optimizer.py: error: {exc}", file=sys.stderr)
        return 2
    for k, (config, result) in enumerate(trajectory, start=1):
        arch = NASBench201CellSearchSpace(16, config).get_string_representation()
        print(f"{k:3d}  val_acc {result['val_acc']:6.2f}  params {result['params']:.3f} M  {arch}")
    missing = sorted({key for _, result in trajectory for key, value in result.items() if math.isnan(value)})
    if missing:
        print(f"not recorded in this benchmark for some archs (NaN): {', '.join(missing)}")
    print(f"The best architecture configuration found is {dict(incumbent[0])}")
    print(f"Results of the model are {incumbent[1]}")
    scatter(trajectory, args.plot)
    print(f"wrote {args.plot}")
    return 0


def scatter(trajectory: list, path: str) -> None:
    """The sheet's scatter plot: parameters vs validation accuracy, coloured by training time per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [result for _, result in trajectory]
    fig, ax = plt.subplots(figsize=(6, 4))
    points = ax.scatter([r["params"] for r in results], [r["val_acc"] for r in results],
                        c=[r["train_time"] for r in results], cmap="viridis")  # fmt: skip
    fig.colorbar(points, ax=ax, label="training time (s / epoch)")
    ax.set_xlabel("parameters (M)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"random search, {len(results)} archs")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except OSError as exc:  # a place the system refuses to write (read-only, a file where a folder should be)
        print(f"run_optimizer.py: error: {exc.filename}: {exc.strerror}; choose another place", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
