"""Training throughput of the NB201 network: nasforge's engine against a bare hand-written loop.

Measures, on the seed's data (a class-balanced 5% of CIFAR-10 when ``--data-dir`` holds it, else random
CIFAR-shaped images) and with the seed's batch size 64:

* images/s of ``nasforge.train.train`` and of a bare loop (zero_grad, forward, loss, backward, step) over the
  same model, the same batches and the same optimizer: engine overhead = bare / engine throughput - 1;
* the share of a training step spent producing the batch (index, crop + flip, normalize);
* minutes per architecture for the seed protocol (2,500 images × 10 epochs) from the measured throughput.

The two loops alternate and each figure is the best of ``--repeats`` runs, so load from other processes on
the machine hurts both alike. Usage::

    python perf/bench_training.py [--data-dir DATA] [--threads 2] [--steps 12] [--repeats 3]

Writes perf/results/training.json (one entry per --threads value).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasforge._io import atomic_write_text
from nasforge.data import BatchLoader, ImageDataset, class_balanced_subset, load_dataset
from nasforge.runtime import keep_freed_memory
from nasforge.spaces.nb201 import NB201Arch, sample
from nasforge.train import TrainConfig, train
from nasforge.train.models import build_nb201

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"
BATCH = 64
SEED_PROTOCOL_IMAGES = 2_500 * 10  # 5% of CIFAR-10 for 10 epochs


def seed_data(data_dir: str | None) -> ImageDataset:
    try:
        return class_balanced_subset(load_dataset("cifar10", "train", data_dir, allow_embedded=False), 0.05, 0)
    except Exception as exc:  # no data directory: same shapes, random pixels
        print(f"(no CIFAR-10 files: {exc}; using random images)")
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (2500, 3, 32, 32), generator=gen, dtype=torch.uint8)
        return ImageDataset(images, torch.arange(2500) % 10, "cifar10", "random CIFAR-shaped images")


def engine_seconds(model: nn.Module, data: ImageDataset, config: TrainConfig) -> float:
    """Training time of one epoch of ``data`` with the engine (no evaluation)."""
    result = train(model, data, None, config, progress=False)
    return result.records[0].seconds


def bare_seconds(model: nn.Module, data: ImageDataset, config: TrainConfig) -> float:
    """The same epoch as a bare loop: what anyone would write by hand."""
    loader = BatchLoader(data, config.batch_size, shuffle=True, augment=True, seed=config.seed)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                          weight_decay=config.weight_decay)  # fmt: skip
    model.train()
    start = time.perf_counter()
    for x, y in loader:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def loader_seconds(data: ImageDataset) -> float:
    start = time.perf_counter()
    for _ in BatchLoader(data, BATCH, shuffle=True, augment=True, seed=0):
        pass
    return time.perf_counter() - start


def step_overhead_ms(data: ImageDataset, repeats: int) -> float:
    """The engine's fixed cost per step (lr update, loss check, accuracy count, AMP/clip plumbing) in ms.

    Timed on a one-layer model, where a step costs almost nothing, so the difference to the bare loop is the
    engine's own work and not noise from a long convolution step on a shared machine.
    """
    config = TrainConfig(epochs=1, batch_size=BATCH, seed=0)
    tiny = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(data.image_shape)), 10))
    eng = min(engine_seconds(copy.deepcopy(tiny), data, config) for _ in range(repeats))
    bare = min(bare_seconds(copy.deepcopy(tiny), data, config) for _ in range(repeats))
    steps = -(-len(data) // BATCH)
    return 1000 * (eng - bare) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=12, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--archs", type=int, default=3, help="random archs timed besides 6111 (for minutes/arch)")
    parser.add_argument("--step-overhead-only", action="store_true", help="only add the per-step overhead figure")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the nasforge command does; both loops below share the setting
    full = seed_data(args.data_dir)
    overhead_ms = step_overhead_ms(full, repeats=5)
    print(f"engine fixed cost per step (one-layer model): {overhead_ms:+.2f} ms")
    if args.step_overhead_only:
        runs = _previous_runs()
        entry = runs[str(args.threads)]
        _add_step_overhead(entry, overhead_ms)
        print(f"= {100 * entry['engine_step_overhead_share_6111']:.3f}% of an NB201 (6111) step")
        atomic_write_text(RESULTS, json.dumps({"runs": runs}, indent=2) + "\n")
        return
    data = full.subset(torch.arange(args.steps * BATCH), "timing slice")
    config = TrainConfig(epochs=1, batch_size=BATCH, seed=0)

    best = NB201Arch.from_index(6111)
    rng = np.random.default_rng(1)
    archs = [best] + [sample(rng) for _ in range(args.archs)]
    rows = []
    for arch in archs:
        base = build_nb201(arch, "cifar10", seed=0)
        # Warm-up (allocator, lazy imports) outside the timings.
        engine_seconds(copy.deepcopy(base), data.subset(torch.arange(2 * BATCH), "warm-up"), config)
        eng, bare = [], []
        for _ in range(args.repeats):
            eng.append(engine_seconds(copy.deepcopy(base), data, config))
            if arch == best:
                bare.append(bare_seconds(copy.deepcopy(base), data, config))
        row = {"arch": arch.to_string(), "index": arch.index, "op_code": arch.op_code,
               "engine_img_s": len(data) / min(eng)}  # fmt: skip
        if bare:
            row["bare_img_s"] = len(data) / min(bare)
            row["engine_overhead"] = min(eng) / min(bare) - 1
        row["seed_protocol_minutes"] = SEED_PROTOCOL_IMAGES / row["engine_img_s"] / 60
        rows.append(row)
        line = f"{arch.index:6d} {arch.op_code}  engine {row['engine_img_s']:7.1f} img/s"
        if bare:
            line += f"  bare {row['bare_img_s']:7.1f} img/s  overhead {100 * row['engine_overhead']:+.1f}%"
        print(f"{line}  seed protocol {row['seed_protocol_minutes']:.1f} min", flush=True)

    load = min(loader_seconds(data) for _ in range(args.repeats))
    step = min(len(data) / r["engine_img_s"] for r in rows)  # the cheapest arch: the worst case for the share
    load_share = load / step
    minutes = [r["seed_protocol_minutes"] for r in rows]
    summary = {
        "data": data.source,
        "threads": args.threads,
        "batch_size": BATCH,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "rows": rows,
        "loader_seconds_per_epoch_slice": load,
        "data_loading_share_of_step": load_share,
        "engine_overhead_6111": rows[0]["engine_overhead"],
        "seed_protocol_minutes_mean": float(np.mean(minutes)),
        "targets": {"engine_overhead": "<= 0.05", "data_loading_share_of_step": "<= 0.10"},
    }
    _add_step_overhead(summary, overhead_ms)
    print()
    print("| measure | value | target |")
    print("|---|---:|---:|")
    print(f"| engine throughput, arch 6111 | {rows[0]['engine_img_s']:.1f} img/s | |")
    print(f"| bare loop throughput, arch 6111 | {rows[0]['bare_img_s']:.1f} img/s | |")
    print(f"| engine overhead, measured on 6111 | {100 * rows[0]['engine_overhead']:+.1f}% | <= 5% |")
    print(f"| engine fixed cost per step | {overhead_ms:+.2f} ms = "
          f"{100 * summary['engine_step_overhead_share_6111']:.3f}% of a 6111 step | <= 5% |")
    print(f"| data loading share of a step (cheapest timed arch) | {100 * load_share:.1f}% | <= 10% |")
    print(f"| seed protocol, minutes per arch (mean of {len(rows)}; 6111: {minutes[0]:.1f}) "
          f"| {np.mean(minutes):.1f} | |")  # fmt: skip
    # One entry per thread count, so runs with --threads 1 and 2 sit side by side.
    runs = _previous_runs()
    runs[str(args.threads)] = summary
    atomic_write_text(RESULTS, json.dumps({"runs": runs}, indent=2) + "\n")


def _previous_runs() -> dict:
    if not RESULTS.is_file():
        return {}
    old = json.loads(RESULTS.read_text())
    return old.get("runs", {str(old.get("threads")): old})


def _add_step_overhead(entry: dict, overhead_ms: float) -> None:
    step_ms = 1000 * BATCH / entry["rows"][0]["engine_img_s"]
    entry["engine_step_overhead_ms"] = overhead_ms
    entry["engine_step_overhead_share_6111"] = overhead_ms / step_ms


if __name__ == "__main__":
    main()
