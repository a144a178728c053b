"""Tiny benchmark files in the real formats (NB201 CSV, NASLib pickle, NATS pbz2), written to tmp dirs.

Every value is a simple function of (arch, epoch, seed) that the tests recompute by hand.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

from nasforge.spaces.nb201 import NB201Arch

# The header of the real nb201_final.csv.gz (a real-data test checks it is still the same).
_PREFIX_COLUMNS = (
    "val_acc_200", "test_acc_200", "val_acc_200_nats_mean", "val_acc_200_nats_nseeds", "val_acc_200_nats_s1",
    "val_acc_200_nats_s2", "val_acc_200_nats_s3", "train_time_200ep_s", "latency_s", "params_M_nb201",
    "params_nb201_seed_inconsistent", "params_M", "flops_M", "val_acc_12ep", "test_acc_12ep",
)  # fmt: skip
NB201_HEADER = (
    ["index", "arch_str", "op_code", "naslib_code"]
    + [f"{p}_{c}" for p in ("c10", "c100", "in16") for c in _PREFIX_COLUMNS]
    + ["c10_test_acc_200_v11", "c10_val_acc_200_v11", "c10_valtest_acc_200_v11"]
)

CSV_ARCHS = (0, 6111, 9930)  # official indices of the tiny table's rows


def csv_cell(row: int, column: str) -> str:
    """The value the tiny table holds in ``column`` of row ``row`` (as text)."""
    if column.endswith("_nats_nseeds"):
        return "2" if row == 1 else "3"
    if column.endswith("_nats_s3") and row == 1:
        return ""  # arch 6111 has two seeds, as 7,456 real archs do
    if column.endswith("_seed_inconsistent"):
        return "0"
    return f"{row * 100 + NB201_HEADER.index(column) + 0.25:.2f}"


def write_nb201_csv(path: Path, *, drop: str | None = None, bad_cell: tuple[int, str, str] | None = None) -> Path:
    """A gzipped table with the real header and 3 rows; ``drop`` removes a column, ``bad_cell`` replaces one."""
    header = [c for c in NB201_HEADER if c != drop]
    with gzip.open(path, "wt", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, index in enumerate(CSV_ARCHS):
            arch = NB201Arch.from_index(index)
            cells = {"index": str(index), "arch_str": arch.to_string(), "op_code": arch.op_code, "naslib_code": "0"}
            values = [cells.get(c) or csv_cell(row, c) for c in header]
            if bad_cell and bad_cell[0] == row:
                values[header.index(bad_cell[1])] = bad_cell[2]
            writer.writerow(values)
    return path


# --- NASLib pickle --------------------------------------------------------------------------------------------

NASLIB_ARCHS = (0, 1, 2)


def naslib_value(kind: str, k: int, epoch: int) -> float:
    """Arch number k (0..2), epoch e: train acc 10 + e/10 + k, eval acc 5 + e/10 + k; losses = 1/(e+1) + k."""
    if kind == "train_acc1es":
        return 10 + epoch / 10 + k
    if kind == "eval_acc1es":
        return 99.0 - k if epoch == 200 else 5 + epoch / 10 + k  # entry 200: NB201's final ori-test
    if kind == "train_losses":
        return 1 / (epoch + 1) + k
    return 50.0 + k if epoch == 200 else 2 / (epoch + 1) + k


def naslib_cost(k: int) -> dict[str, float]:
    return {"flops": 15.5 + k, "params": 0.125 + k, "latency": 0.0125 * (k + 1), "train_time": 7.25 + k}


def write_naslib_pickle(path: Path, dataset: str = "cifar10-valid", archs: tuple[int, ...] = NASLIB_ARCHS) -> Path:
    """The seed's benchmark format; arch number k (0, 1, ...) of ``archs`` (official indices) holds k's values."""
    data = {}
    for k, index in enumerate(archs):
        record = {kind: [naslib_value(kind, k, e) for e in range(201 if kind.startswith("eval") else 200)]
                  for kind in ("train_losses", "eval_losses", "train_acc1es", "eval_acc1es")}  # fmt: skip
        record["cost_info"] = naslib_cost(k)
        data[NB201Arch.from_index(index).to_string()] = {dataset: record}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def write_seed_store(root: Path, n: int = 5) -> tuple[Path, list[NB201Arch]]:
    """A store imported (by ``nasforge bench import``) from a seed-format pickle holding the first ``n`` archs
    that random search with seed 0 asks, arch number k with k's values; returns the store and those archs."""
    from nasforge.cli.main import main
    from nasforge.optimizers import create_optimizer

    optimizer = create_optimizer("rs", 0)  # which archs to record; their values are fixed by hand above
    archs = [optimizer.ask().arch for _ in range(n)]
    pickle = write_naslib_pickle(root / "nb201_cifar10_full_training.pickle", archs=tuple(a.index for a in archs))
    if main(["bench", "import", "naslib-pickle", str(pickle), "-o", str(root / "store")]) != 0:
        raise RuntimeError("importing the seed-format fixture failed")
    return root / "store", archs


# --- NATS-Bench per-arch file ---------------------------------------------------------------------------------

NATS_INDEX = 11
NATS_SEEDS = {"200": (777, 888, 999), "12": (111, 777)}
NATS_SPLIT_NAMES = {
    "cifar10-valid": ["x-valid", "ori-test"],
    "cifar10": ["ori-test"],
    "cifar100": ["ori-test", "x-valid", "x-test"],
    "ImageNet16-120": ["ori-test", "x-valid", "x-test"],
}


def nats_acc(ds: str, split: str, seed: int, epoch: int) -> float:
    """Accuracy = dataset offset + split offset + epoch/10 + seed/1000."""
    return 10 * list(NATS_SPLIT_NAMES).index(ds) + 3 * NATS_SPLIT_NAMES[ds].index(split) + epoch / 10 + seed / 1000


def _nats_record(ds: str, seed: int, epochs: int) -> dict:
    names = NATS_SPLIT_NAMES[ds]
    full = names[0]  # NATS records the first split at every epoch and the others at the last one (hp=200)
    evals: dict[str, float] = {}
    for split in names:
        for e in range(epochs) if (split == full or epochs == 12) else [epochs - 1]:
            evals[f"{split}@{e}"] = nats_acc(ds, split, seed, e)
    return {
        "name": ds,
        "train_acc1es": {e: 20 + e / 10 + seed / 1000 for e in range(epochs)},
        "train_acc5es": None,
        "train_losses": {e: 3 - e / 100 for e in range(epochs)},
        "train_times": OrderedDict((e, 7.5) for e in range(epochs)),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": NB201Arch.from_index(NATS_INDEX).to_string()},
        "params": np.float64(0.25),
        "flop": 30.5,
        "seed": f"{seed:04d}",
        "epochs": epochs,
        "latency": [np.float64(0.0125)],
        "eval_names": names,
        "eval_acc1es": evals,
        "eval_times": {k: 0.5 for k in evals},
        "eval_losses": {k: v / 100 for k, v in evals.items()},
        "net_state_dict": None,
    }


def write_nats_file(directory: Path, index: int = NATS_INDEX) -> Path:
    arch_str = NB201Arch.from_index(index).to_string()
    data = OrderedDict()
    for hp, epochs in (("12", 12), ("200", 200)):
        datasets = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
        results = {}
        for ds in datasets:
            seeds = NATS_SEEDS[hp] if (hp == "200" or ds == "cifar10-valid") else (111,)
            for seed in seeds:
                results[(ds, seed)] = _nats_record(ds, seed, epochs)
        data[hp] = {"arch_index": index, "arch_str": arch_str, "all_results": results,
                    "dataset_seed": {}, "clear_net_done": True}  # fmt: skip
    path = directory / f"{index:06d}.pickle.pbz2"
    path.write_bytes(bz2.compress(pickle.dumps(data, protocol=4)))
    return path


class CodeRunner:
    """Unpickling this runs ``os.system('touch <marker>')`` — unless the unpickler refuses it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))
