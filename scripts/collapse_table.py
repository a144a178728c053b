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

import argparse
import json
from pathlib import Path

from nasforge.oneshot.collapse import drift, trend
from nasforge.oneshot.search import RECORDS_NAME, load_genotype
from nasforge.spaces.registry import get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="log directory of a one-shot search")
    parser.add_argument("--every", type=int, default=10, help="print every N-th epoch (and the last)")
    args = parser.parse_args()
    records = [json.loads(x) for x in (args.run / RECORDS_NAME).read_text(encoding="utf-8").splitlines() if x.strip()]
    ops = get_space(load_genotype(args.run)[0]["space"]).ops
    points = drift(records, ops)
    print(f"| epoch | Σ param-free | Σ skip | {' | '.join(ops)} | free / skip ops in cell | NB201 test % |")
    print("|---" * (len(ops) + 5) + "|")
    for record, p in zip(records, points, strict=True):
        if p.epoch % args.every and p is not points[-1] and p.epoch != 1:
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


if __name__ == "__main__":
    main()
