"""Speed of one search step of each one-shot method on the NB201 supernet, against the papers' style.

A step is a first-order α step on a valid batch plus a weight step on a train batch (batch 64, 32x32
CIFAR-sized random images, NB201 supernet at C, N). nasforge's step (``Architect`` + ``weight_step`` with
the method set on the supernet) is timed against a straightforward implementation written here in the
style of the original papers' code: a Python list of op modules per edge, every op computed then weighted
with a Python ``sum(w * op(x))`` (GDAS too: hard Gumbel weights times all ops), NCHW tensors,
``loss.backward()`` for both updates. The single-path methods' baseline is their papers' code (xautodl's
RSPS/SETN cells): the sampled op of each edge called from its edge's op list, ``sum`` over the edges; SPOS
and RSPS have no α step, SETN's α step mixes every op (its ``'joint'`` mode). Variants alternate step by
step in one process so that load from other processes hits all alike; the table reports medians of wall time
and of the process' CPU time (with ``--threads 1`` on a shared machine the CPU time leaves out the time other
processes held the core; with more threads it also counts OpenMP workers spinning at barriers).

Targets (issue 18): GDAS's step >= 3x cheaper than nasforge's DARTS step; each method >= 1.5x faster than
its baseline.

Usage: ``python perf/bench_oneshot.py [--steps 10] [--C 8] [--N 1] [--threads 2] [--out FILE]``; prints a table and
writes perf/results/oneshot.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.oneshot.architect import Architect
from nasforge.oneshot.methods import METHODS, dirichlet_sample, gumbel_hard
from nasforge.oneshot.search import weight_step
from nasforge.oneshot.supernet import build_supernet
from nasforge.spaces.nb201 import OPS
from nasforge.spaces.nb201_model import ResNetBasicblock

RESULTS = Path(__file__).resolve().parent / "results" / "oneshot.json"
TARGETS = {"gdas_vs_darts": 3.0, "speedup": 1.5}
BATCH = 64
METHOD_NAMES = ("darts", "gdas", "drnas", "spos", "rsps", "setn")
SINGLE_PATH = ("spos", "rsps", "setn")  # weight step on a uniformly drawn path
KEYS = ("nasforge", "baseline", "nasforge_cpu", "baseline_cpu")

# --- the baseline: the papers' code structure ----------------------------------------------------------------


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _rcb(C: int, k: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C, affine=False))


def _op(name: str, C: int) -> nn.Module:
    return {
        "none": lambda: _Zero(),
        "skip_connect": lambda: nn.Identity(),
        "nor_conv_1x1": lambda: _rcb(C, 1),
        "nor_conv_3x3": lambda: _rcb(C, 3),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
    }[name]()


class BaselineCell(nn.Module):
    def __init__(self, C: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(_op(n, C) for n in OPS) for _ in range(6))

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, path: list[int] | None = None) -> torch.Tensor:
        nodes, k = [x], 0
        for j in range(1, 4):
            terms = []
            for i in range(j):
                if path is not None:  # xautodl's single path: the edge's sampled op only
                    terms.append(self.edges[k][path[k]](nodes[i]))
                else:
                    terms.append(sum(w * op(nodes[i]) for w, op in zip(weights[k], self.edges[k], strict=True)))
                k += 1
            nodes.append(sum(terms))
        return nodes[-1]


class BaselineSupernet(nn.Module):
    def __init__(self, C: int, N: int, method: str) -> None:
        super().__init__()
        self.method, self.gen = method, torch.Generator().manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage:
                cells.append(ResNetBasicblock(width // 2, width))
            cells.extend(BaselineCell(width) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, 10)
        self.alpha = nn.Parameter(1e-3 * torch.randn(6, len(OPS)))

    def forward(self, x: torch.Tensor, path: list[int] | None = None) -> torch.Tensor:
        if path is not None:
            weights = None
        elif self.method == "gdas":
            weights = gumbel_hard(self.alpha, 10.0, self.gen)
        elif self.method == "drnas":
            weights = dirichlet_sample(self.alpha, self.gen)
        else:
            weights = F.softmax(self.alpha, dim=-1)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights, path) if isinstance(cell, BaselineCell) else cell(x)
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))


def baseline_step(net: BaselineSupernet, w_opt, a_opt, train, valid) -> None:
    if net.method not in ("spos", "rsps"):
        a_opt.zero_grad()
        F.cross_entropy(net(valid[0]), valid[1]).backward()
        a_opt.step()
    w_opt.zero_grad()
    path = torch.randint(len(OPS), (6,), generator=net.gen).tolist() if net.method in SINGLE_PATH else None
    F.cross_entropy(net(train[0], path), train[1]).backward()
    nn.utils.clip_grad_norm_([p for p in net.parameters() if p is not net.alpha], 5.0)
    w_opt.step()


# --- the bench -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (default perf/results/oneshot.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)

    def batch():
        return torch.randn(BATCH, 3, 32, 32, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen)

    steps = {}
    for name in METHOD_NAMES:
        net = build_supernet("nb201", "cifar10", C=args.C, layers=args.N, seed=0)
        net.method, net.tau, net.sample_gen = METHODS[name], 10.0, torch.Generator().manual_seed(0)
        arch = Architect(net, regularizer=net.method.regularizer)
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

        def ours(net=net, arch=arch, w_opt=w_opt):
            net.train()
            if net.method.trains_alpha:  # as the search loop: SPOS and RSPS have no α step
                arch.step(batch())
            weight_step(net, w_opt, batch(), 5.0)

        base = BaselineSupernet(args.C, args.N, name)
        b_w = torch.optim.SGD([p for p in base.parameters() if p is not base.alpha], lr=0.025, momentum=0.9)
        b_a = torch.optim.Adam([base.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

        def theirs(base=base, b_w=b_w, b_a=b_a):
            base.train()
            baseline_step(base, b_w, b_a, batch(), batch())

        steps[name] = (ours, theirs)
    # Wall time, and the process' CPU time: with one thread on a shared machine the CPU time leaves out the
    # time other processes held the core (with two threads it also counts OpenMP workers spinning at barriers).
    times: dict[str, dict[str, list[float]]] = {n: {k: [] for k in KEYS} for n in METHOD_NAMES}
    for n in METHOD_NAMES:  # warm-up
        steps[n][0]()
        steps[n][1]()
    for _ in range(args.steps):
        for n in METHOD_NAMES:
            for key, fn in zip(("nasforge", "baseline"), steps[n], strict=True):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                times[n][key].append(1000 * (time.perf_counter() - t0))
                times[n][f"{key}_cpu"].append(1000 * (time.process_time() - c0))
    rows = {}
    for n in METHOD_NAMES:
        ms = {k: statistics.median(v) for k, v in times[n].items()}
        rows[n] = {
            "nasforge_ms": ms["nasforge"],
            "baseline_ms": ms["baseline"],
            "speedup": ms["baseline"] / ms["nasforge"],
            "nasforge_cpu_ms": ms["nasforge_cpu"],
            "baseline_cpu_ms": ms["baseline_cpu"],
            "cpu_speedup": ms["baseline_cpu"] / ms["nasforge_cpu"],
        }
    gdas_vs_darts = rows["darts"]["nasforge_ms"] / rows["gdas"]["nasforge_ms"]
    gdas_vs_darts_cpu = rows["darts"]["nasforge_cpu_ms"] / rows["gdas"]["nasforge_cpu_ms"]
    print(f"NB201 supernet C={args.C} N={args.N}, batch {BATCH}, {args.threads} threads, {args.steps} steps (median)")
    header = ("nasforge ms", 12), ("baseline ms", 12), ("speedup", 8), ("cpu ms", 8), ("base cpu", 9), ("cpu x", 7)
    print(f"{'method':8}" + "".join(f" {name:>{width}}" for name, width in header))
    for n, r in rows.items():
        print(
            f"{n:8} {r['nasforge_ms']:12.1f} {r['baseline_ms']:12.1f} {r['speedup']:7.2f}x "
            f"{r['nasforge_cpu_ms']:8.1f} {r['baseline_cpu_ms']:9.1f} {r['cpu_speedup']:6.2f}x"
        )
    print(
        f"GDAS step vs DARTS step (nasforge): {gdas_vs_darts:.2f}x cheaper, CPU time {gdas_vs_darts_cpu:.2f}x "
        f"(target >= {TARGETS['gdas_vs_darts']}x)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "settings": {"C": args.C, "N": args.N, "batch": BATCH, "threads": args.threads, "steps": args.steps},
        "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__},
        "targets": TARGETS,
        "methods": rows,
        "gdas_vs_darts": gdas_vs_darts,
        "gdas_vs_darts_cpu": gdas_vs_darts_cpu,
        "load_average": list(os.getloadavg()),
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
