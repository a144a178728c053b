"""The DARTS-MNIST sheet's ``python visualize.py``: draw the cells found by ``train_search.py``.

Reads ``logs/architecture`` (the genotype's printed form) and writes ``normal.pdf`` and ``reduction.pdf``
(with PNG copies) into the current directory, or ``--out``.

    python examples/darts_mnist/visualize.py [--log logs] [--out .]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nasforge.errors import NasforgeError
from nasforge.spaces.darts import Genotype
from nasforge.viz.genotype import draw_genotype


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser("visualize.py", description=__doc__.split("\n")[0])
    parser.add_argument("--log", default="logs", help="log directory of train_search.py (default: logs)")
    parser.add_argument("--out", default=".", help="where normal.pdf and reduction.pdf go (default: .)")
    args = parser.parse_args(argv)
    path = Path(args.log) / "architecture"
    try:
        genotype = Genotype.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"visualize.py: cannot read {path} ({exc.strerror}); run train_search.py first", file=sys.stderr)
        return 2
    except NasforgeError as exc:
        print(f"visualize.py: {path}: {exc}", file=sys.stderr)
        return 2
    for written in draw_genotype(genotype, args.out):
        print(written)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except OSError as exc:  # a place the system refuses to write (read-only, a file where a folder should be)
        print(f"visualize.py: error: {exc.filename}: {exc.strerror}; choose another place", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
