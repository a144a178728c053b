"""Speed and memory of a DARTS search step on the seed's MNIST space, against the original DARTS style.

1. ``step``: milliseconds per first-order search step (α step on a valid batch + weight step on a train
   batch, batch 64, darts-mnist supernet at C=8) of nasforge against a straightforward implementation
   written here in the style of the original DARTS code: a Python list of op modules per edge, the
   mixed op as a Python ``sum(w * op(x))``, NCHW tensors, ``loss.backward()`` for both updates.
   Both variants alternate step by step in one process so that load from other processes hits both alike;
   the table reports medians. Target: >= 1.5x faster.
2. ``memory``: the tensor storage autograd saves for the backward pass of one forward (what a step's
   peak memory grows with), and the peak RSS of a fresh interpreter running 20 steps of each variant.
   Target: no more than the baseline.
3. ``search``: the wall time of the full 5-epoch first-order MNIST search (``--full``, needs the MNIST
   files; ``--data-dir`` or ``NASFORGE_DATA``), evaluation included. Target: <= 300 s on 2 cores.

Usage: ``python perf/bench_darts.py [--steps 30] [--threads 2] [--full --data-dir DIR]``; prints a table
and writes perf/results/darts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.oneshot.architect import Architect
from nasforge.oneshot.search import SearchConfig, weight_step
from nasforge.oneshot.supernet import build_supernet
from nasforge.spaces.darts import MNIST_OPS
from nasforge.spaces.darts_model import cell_layout, make_op, make_stem, preprocess

RESULTS = Path(__file__).resolve().parent / "results" / "darts.json"
TARGETS = {"speedup": 1.5, "memory_ratio": 1.0, "search_s": 300.0}
C = 8
BATCH = 64

# --- the baseline: the original DARTS code's structure ----------------------------------------------------------


class BaselineMixedOp(nn.Module):
    def __init__(self, C: int, stride: int) -> None:
        super().__init__()
        self._ops = nn.ModuleList()
        for name in MNIST_OPS:  # the sheet's ops: pools without BatchNorm
            self._ops.append(make_op(name, C, stride, affine=False))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self._ops, strict=True))


class BaselineCell(nn.Module):
    def __init__(self, shape, steps: int) -> None:
        super().__init__()
        self.preprocess = preprocess(shape.inputs[0][0], shape.C, shape.inputs[0][1], affine=False)
        self.steps = steps
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(1 + i):
                self._ops.append(BaselineMixedOp(shape.C, 2 if shape.reduction and j < 1 else 1))

    def forward(self, s0: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states, offset = [self.preprocess(s0)], 0
        for _ in range(self.steps):
            s = sum(self._ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[1:], dim=1)


class BaselineNetwork(nn.Module):
    def __init__(self, template) -> None:
        super().__init__()
        stem, shapes = cell_layout(template.macro)
        self.stem = make_stem(template.macro, stem)  # none in the sheet's network
        self.cells = nn.ModuleList(BaselineCell(s, template.macro.steps) for s in shapes)
        self.reductions = [s.reduction for s in shapes]
        self.classifier = nn.Linear(template.macro.steps * shapes[-1].C, 10)
        self.alphas_normal = nn.Parameter(template.alpha_normal.detach().clone())
        self.alphas_reduce = nn.Parameter(template.alpha_reduce.detach().clone())

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alphas")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        for cell, reduction in zip(self.cells, self.reductions, strict=True):
            s = cell(s, F.softmax(self.alphas_reduce if reduction else self.alphas_normal, dim=-1))
        return self.classifier(s.mean(dim=(2, 3)))


def baseline_stepper(net: BaselineNetwork):
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def step(train, valid) -> None:
        a_opt.zero_grad()
        F.cross_entropy(net(valid[0]), valid[1]).backward()  # DARTS' first-order architect
        a_opt.step()
        w_opt.zero_grad()
        F.cross_entropy(net(train[0]), train[1]).backward()  # the sheet clips no gradients
        w_opt.step()

    return step


def nasforge_stepper(net):
    architect = Architect(net, order=1)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def step(train, valid) -> None:
        architect.step(valid, train, w_opt)
        weight_step(net, w_opt, train, 0.0)

    return step


def make_pair():
    ours = build_supernet("darts-mnist", "mnist", C=C, seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        base = BaselineNetwork(ours)
    return ours, base


def batches(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(BATCH, 1, 28, 28, generator=g), torch.randint(0, 10, (BATCH,), generator=g)) for _ in range(n)]


# --- measurements -------------------------------------------------------------------------------------------------


def time_steps(steps: int) -> dict[str, float]:
    ours, base = make_pair()
    run = {"nasforge": nasforge_stepper(ours), "baseline": baseline_stepper(base)}
    data = batches(2 * steps + 6)
    times: dict[str, list[float]] = {k: [] for k in run}
    for i in range(steps + 3):
        for name, step in run.items():
            train, valid = data[2 * i], data[2 * i + 1]
            t = time.perf_counter()
            step(train, valid)
            if i >= 3:  # warm-up steps excluded
                times[name].append(time.perf_counter() - t)
    return {name: 1000 * statistics.median(ts) for name, ts in times.items()}


def saved_activation_mib(variant: str) -> float:
    """MiB of distinct tensor storage autograd holds for the backward pass of one training forward.

    This is what a search step's peak memory grows with (parameters and optimizer state are the same in
    both variants); counting storages, not tensors, charges views and shared outputs once.
    """
    ours, base = make_pair()
    net = ours if variant == "nasforge" else base
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    x, y = batches(1)[0]
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(net(x), y)
    loss.backward()
    return sum(storages.values()) / 2**20


def peak_rss_mib(variant: str, threads: int) -> float:
    """Peak resident memory (MiB) of a fresh interpreter that builds both nets and runs 20 steps of one."""
    argv = [sys.executable, __file__, "--rss-of", variant, "--threads", str(threads)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def full_search(data_dir: str) -> dict[str, float]:
    from nasforge.data import load_dataset
    from nasforge.oneshot.search import search

    ds = load_dataset("mnist", "train", data_dir, allow_embedded=False)
    t = time.perf_counter()
    result = search(SearchConfig(epochs=5), ds, progress=False)
    return {"search_s": time.perf_counter() - t, "valid_acc": result.records[-1].valid_acc, "arch": str(result.arch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="also time the full 5-epoch MNIST search")
    parser.add_argument("--data-dir", default=os.environ.get("NASFORGE_DATA"))
    parser.add_argument("--rss-of", choices=("baseline", "nasforge"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_of:  # the child process of peak_rss_mib
        ours, base = make_pair()
        net = ours if args.rss_of == "nasforge" else base
        step = (nasforge_stepper if args.rss_of == "nasforge" else baseline_stepper)(net)
        data = batches(4)
        for i in range(20):
            step(data[i % 2], data[2 + i % 2])
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return

    ms = time_steps(args.steps)
    mem = {v: saved_activation_mib(v) for v in ("baseline", "nasforge")}
    rss = {v: peak_rss_mib(v, args.threads) for v in ("baseline", "nasforge")}
    steps_per_epoch = 30_000 // BATCH
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_avg_1min": os.getloadavg()[0],
        },
        "config": {"space": "darts-mnist", "C": C, "batch": BATCH, "steps": args.steps},
        "step_ms": ms,
        "speedup": ms["baseline"] / ms["nasforge"],
        "saved_activations_mib": mem,
        "peak_rss_mib": rss,
        "memory_ratio": mem["nasforge"] / max(mem["baseline"], 1e-9),
        "projected_5_epoch_train_s": {k: 5 * steps_per_epoch * v / 1000 for k, v in ms.items()},
        "targets": TARGETS,
    }
    if args.full:
        if not args.data_dir:
            raise SystemExit("--full needs --data-dir or NASFORGE_DATA (the full MNIST files)")
        result["full_search"] = full_search(args.data_dir)

    print(
        f"DARTS search step, darts-mnist C={C}, batch {BATCH}, {args.threads} thread(s), "
        f"load avg {result['machine']['load_avg_1min']:.1f}"
    )
    print(f"{'variant':<10} {'ms/step':>9} {'saved activations MiB':>22} {'peak RSS MiB':>13} {'5 epochs (train)':>17}")
    for v in ("baseline", "nasforge"):
        print(f"{v:<10} {ms[v]:>9.1f} {mem[v]:>22.1f} {rss[v]:>13.0f} {result['projected_5_epoch_train_s'][v]:>16.0f}s")
    print(
        f"speedup {result['speedup']:.2f}x (target >= {TARGETS['speedup']}x), memory ratio "
        f"{result['memory_ratio']:.2f} (target <= {TARGETS['memory_ratio']})"
    )
    if "full_search" in result:
        print(
            f"full 5-epoch search incl. evaluation: {result['full_search']['search_s']:.0f}s "
            f"(target <= {TARGETS['search_s']:.0f}s)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
