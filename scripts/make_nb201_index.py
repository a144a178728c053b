"""Regenerate ``nasforge/spaces/nb201_index.bin``: the official NB201 index order of the 15,625 cells.

NB201 numbers its architectures in a shuffled order that only its benchmark files record, so nasforge
ships that permutation (15,625 little-endian uint16 values, 31,250 bytes; value = the cell's base-5
op code in arch-string edge order). Usage::

    python scripts/make_nb201_index.py ../shared/data/nb201/nb201_final.csv.gz
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

import numpy as np

from nasforge.spaces.nb201 import NB201Arch

OUT = Path(__file__).resolve().parents[1] / "nasforge" / "spaces" / "nb201_index.bin"


def main(csv_path: str) -> None:
    codes = np.full(15625, -1, dtype=np.int64)
    with gzip.open(csv_path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            codes[int(row["index"])] = NB201Arch.parse(row["arch_str"]).code
    assert (codes >= 0).all() and len(set(codes.tolist())) == 15625, "the CSV does not hold a permutation"
    OUT.write_bytes(codes.astype("<u2").tobytes())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
