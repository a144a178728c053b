"""The drift table of docs/oneshot.md's "DARTS' collapse": a search's weight on parameter-free ops, epoch by epoch.

Reads RUN/search.jsonl (any one-shot search) through :func:`nasforge.oneshot.collapse.drift` and prints a
markdown table every ``--every`` epochs (and the last): the summed mixing weight on parameter-free ops and on
``skip_connect``, each op's weight summed over the edges, the count of parameter-free / skip ops in the derived
cell, its NB201 test accuracy; then the trend of the skip weight (least-squares slope, share of rising epochs).
The drawing is ``nasforge viz alphas RUN -o DIR`` (DIR/drift.png).

Usage::

    python scripts/collapse_table.py /tmp/oneshot-table/darts-long-s0 --every 10
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nasforge.cli._argtypes import positive_int
from nasforge.cli._common import ArgumentParser
from nasforge.cli.viz import search_space_of
from nasforge.errors import NasforgeError
from nasforge.oneshot.collapse import drift, trend
from nasforge.oneshot.search import RECORDS_NAME
from nasforge.spaces.registry import get_space


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])  # bad options: one line, exit 2
    parser.add_argument("run", type=Path, help="log directory of a one-shot search")
    parser.add_argument("--every", type=positive_int, default=10, help="print every N-th epoch (and the last)")
    args = parser.parse_args()
    try:
        return _table(args.run, args.every)
    except NasforgeError as exc:
        print(f"collapse_table: error: {exc}", file=sys.stderr)
        return 2


def _table(run: Path, every: int) -> int:
    path = run / RECORDS_NAME
    if not path.is_file():
        print(f"collapse_table: error: {path} not found: give the log directory of a one-shot search "
              "that finished an epoch", file=sys.stderr)  # fmt: skip
        return 2
    try:
        records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        ops = get_space(search_space_of(run)).ops
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        print(f"collapse_table: error: {run} holds no readable search ({exc}); give another run", file=sys.stderr)
        return 2
    points = drift(records, ops)
    print(f"| epoch | Σ param-free | Σ skip | {' | '.join(ops)} | free / skip ops in cell | NB201 test % |")
    print("|---" * (len(ops) + 5) + "|")
    for record, p in zip(records, points, strict=True):
        if p.epoch % every and p is not points[-1] and p.epoch != 1:
            continue
        rows = record["alphas"].get("alpha") or record["alphas"]["alpha_normal"]
        per_op = " | ".join(f"{sum(row[o] for row in rows):.3f}" for o in range(len(ops)))
        acc = "—" if p.test_acc is None else f"{p.test_acc:.2f}"
        print(f"| {p.epoch} | {p.free_mass:.3f} | {p.skip_mass:.3f} | {per_op} | {p.free_ops} / {p.skip_ops} | {acc} |")
    if len(points) > 1:
        epochs = [p.epoch for p in points]
        for name in ("skip_mass", "free_mass"):
            t = trend(epochs, [getattr(p, name) for p in points])
            print(
                f"\n{name}: {t.first:.3f} -> {t.last:.3f}, slope {100 * t.slope:+.3f} per 100 epochs, rising in "
                f"{100 * t.rising:.0f}% of epochs, longest rise {t.longest_rise} epochs, max at epoch {t.argmax_epoch}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
