"""Training-step throughput of nasforge's NB201 network vs a naive all-edges baseline, and its GFLOP/s.

Usage::

    python perf/bench_nb201_network.py            # 30 archs + torch.compile, ~2.5 min on an idle 2-core box
    python perf/bench_nb201_network.py --quick    # 3 archs, no compile: a smoke run (~15 s)

What is measured (batch 64, 32x32 CIFAR-10 input, ``torch.set_num_threads(2)``, SGD with momentum), in a
process set up as the ``nasforge`` command sets itself up (:func:`nasforge.runtime.keep_freed_memory`;
``--default-malloc`` leaves glibc's allocator alone):

* for >= 30 fixed-seed random archs, images/s of one training step (forward, backward, optimizer
  step) of :class:`~nasforge.spaces.nb201_model.NB201Network` and of a baseline written below that
  computes every edge as NB201's ``InferCell`` does (``none`` multiplied by zero, NCHW layout, a
  ReLU per conv). Both nets hold the same weights. The two are timed in alternation, step after
  step, and each keeps its fastest step, so a busy machine slows both alike (an arch whose ratio
  looks doubtful, below 1.3, gets up to two more rounds of alternating steps for both nets);
* the all-``nor_conv_3x3`` arch's achieved GFLOP/s, eagerly and with ``torch.compile``. Its FLOPs are
  counted by ``torch.utils.flop_counter`` for forward and backward (84.47 GFLOP per batch-64 step: 28.18
  forward + 56.29 backward; the older estimate, 3 x forward from NB201's MAC count, gives 84.53). The
  reference is the fastest of several GEMM-class float32 kernels timed in alternation with the step (one
  step, then each kernel, ten times; the best of each): ``torch.mm`` at 512, 1024 and 2048, and a 1x1
  convolution in channels_last (oneDNN runs it as a GEMM). A 3x3 convolution as NB201 runs it is timed
  too, not as a reference: if it beat GEMM, oneDNN would be using a cheaper algorithm (Winograd). The
  CPU's theoretical float32 peak is computed from its ISA flags and clock (:func:`theoretical_peak`).

What was tried, and what each gave:

* pruning (skip ``none`` edges and nodes that cannot reach the output): large on degenerate
  cells (up to ~12x here), ~1.0-1.2x on typical ones, as a FLOP count predicts;
* channels_last memory layout: the largest single gain (arch 421211: 283 -> 506 img/s; oneDNN
  convolves NHWC directly instead of reordering every activation to its blocked layout and back);
  NB201Network converts its input;
* one ReLU per node shared by every conv reading it (in place when the node is a fresh sum nothing
  else reads), one average pool shared by every pool reading it, node sums accumulated in place:
  ~1% on the all-3x3 arch;
* sibling convs reading one node fused into one wider convolution with one BatchNorm call: tried and
  removed. It was no faster on any of 9 archs and 4-10% slower on all-3x3 (163 vs 152 img/s
  unfused), as autograd must ``cat`` the siblings' gradients back together in the backward pass;
* a hand-written BatchNorm (per-channel sums as GEMV or as oneDNN's depthwise weight gradient,
  normalisation as ``addcmul``): no faster than PyTorch's channels_last kernels once page faults were
  out of the picture, and less exact, so not used. BatchNorm is still ~30% of the all-3x3 step
  (removing it, as an experiment, made the step 1.4x faster);
* keeping freed memory in the process (glibc ``mallopt``, done by the ``nasforge`` command): a step
  of the all-3x3 arch otherwise faults ~20,000-30,000 pages back in (each zero-filled by the kernel),
  ~4% of the step: 166 -> 172 img/s, 49.9% -> 51.9% of matmul in two runs of this script;
* torch.compile (inductor, C++ backend via gcc): the compiled step is 1.14x faster still (197 vs
  173 img/s, 59% of matmul), after 50-60 s of compiling with a cold cache on the idle machine (5 s
  with the graph already cached; ~1000 s once when the box was busy). Every arch is a new graph, so
  for NAS (many archs, short runs) it is opt-in: ``TrainConfig(compile=True)`` /
  ``nasforge train --compile``.

Recorded run (idle box): mean ratio 2.95x, minimum 1.50x; the all-3x3 step reaches 52.0% of matmul's
GFLOP/s eagerly and 59.1% compiled (three runs: 51.9-52.9% and 58.7-60.7%). Its eager profile: conv
forward and backward ~58%, BatchNorm ~22-30%, the rest ReLU and sums.

Soundness (issue 17): a session reported the step at 147% of matmul (313 vs 213 GFLOP/s). What each
check says, all in the same run:

* the FLOP count is not the cause: ``torch.utils.flop_counter`` counts 84.47 GFLOP per step (28.18 forward +
  56.29 backward), the 3 x forward estimate from NB201's MAC count 84.53 (0.07% apart);
* no cheaper algorithm: oneDNN's own log of the step (``ONEDNN_VERBOSE=1``, :func:`conv_algorithms`) shows
  every convolution run as ``alg:convolution_direct`` (brgconv/jit avx2 kernels), never Winograd; and the
  3x3 convolution alone runs below GEMM;
* the reference: the best of several GEMM-class kernels (mm 512/1024/2048, a 1x1 convolution through
  oneDNN), timed interleaved with the step, so a busy stretch slows all alike. A single 2048 matmul timed
  while other engineers' jobs ran is the likely culprit of the old figure: one slow reference run inflates
  every fraction;
* the peak: this VM (AMD EPYC family 25 = Zen 3, AVX2+FMA, 2 vCPUs, 1 thread per core) shows only a nominal
  2.45 GHz and no "CPU max MHz", so the boost clock cannot be read; at 2.45 GHz the peak is 2 x 32 x 2.45 =
  157 GFLOP/s, which GEMM exceeds. A kernel cannot beat the true peak, so the true peak is at least the best
  kernel's rate (the cores ran at >= ~2.9 GHz), and the step's fraction of the true peak is at most its
  fraction of the best kernel: both are reported (``fraction_of_peak`` at the readable clock,
  ``fraction_of_peak_at_most`` against that bound).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasforge._io import atomic_write_text
from nasforge.runtime import keep_freed_memory
from nasforge.spaces.nb201 import EDGES, NB201Arch, sample
from nasforge.spaces.nb201_model import NB201Cell, NB201Network, count_flops

RESULTS = Path(__file__).resolve().parent / "results" / "nb201_network.json"
ALL_CONV = NB201Arch(("nor_conv_3x3",) * 6)
RETRY_BELOW, RETRY_ROUNDS = 1.3, 2


class NaiveCell(nn.Module):
    """The baseline: NB201's InferCell forward on the same ops, every edge computed."""

    def __init__(self, cell: NB201Cell) -> None:
        super().__init__()
        self.layers = cell.layers  # the same modules, hence the same weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, 4):
            terms = []
            for i in range(j):
                layer = self.layers[EDGES.index((i, j))]
                out = layer(nodes[i])
                terms.append(out * 0.0 if layer.op_name == "none" else out)
            nodes.append(sum(terms))
        return nodes[3]


def make_pair(arch: NB201Arch, seed: int) -> tuple[nn.Module, nn.Module]:
    """(baseline, ours) with identical weights."""
    torch.manual_seed(seed)
    ours = NB201Network(arch, num_classes=10)
    base = NB201Network(arch, num_classes=10, memory_format=torch.contiguous_format)
    base.load_state_dict(ours.state_dict())
    for k, cell in enumerate(base.cells):
        if isinstance(cell, NB201Cell):
            base.cells[k] = NaiveCell(cell)
    return base, ours


class Trainer:
    """One SGD training step on a fixed batch, timed."""

    def __init__(self, net: nn.Module, batch: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.net = net.train()
        self.x = torch.randn(batch, 3, 32, 32, generator=gen)
        self.y = torch.randint(0, 10, (batch,), generator=gen)
        self.opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.times: list[float] = []

    def step(self) -> None:
        start = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.net(self.x), self.y).backward()
        self.opt.step()
        self.times.append(time.perf_counter() - start)

    def images_per_s(self, batch: int) -> float:
        return batch / min(self.times)


def time_pair(arch: NB201Arch, batch: int, steps: int, warmup: int, seed: int) -> dict[str, float]:
    base, ours = make_pair(arch, seed)
    trainers = [Trainer(base, batch, seed), Trainer(ours, batch, seed)]
    for _ in range(warmup):
        for t in trainers:
            t.step()
    for t in trainers:
        t.times.clear()
    rounds = 0
    while rounds <= RETRY_ROUNDS:
        rounds += 1
        for _ in range(steps):  # alternate, so that load changes hit both alike
            for t in trainers:
                t.step()
        base_ips, ours_ips = (t.images_per_s(batch) for t in trainers)
        # On a shared machine one unlucky stretch can hide either net's speed: when the ratio looks
        # doubtful, time both nets again (symmetrically) and keep each one's fastest step overall.
        if ours_ips / base_ips >= RETRY_BELOW:
            break
    return {"baseline_img_s": base_ips, "ours_img_s": ours_ips, "ratio": ours_ips / base_ips, "rounds": rounds}


def counted_step_flops(batch: int) -> dict[str, float]:
    """FLOPs of one all-``nor_conv_3x3`` training step counted by ``torch.utils.flop_counter``.

    Forward and backward are counted separately (the counter counts every convolution, matmul and their
    gradients; BatchNorm, ReLU and sums are not counted, as in NB201's own FLOP figures). Beside it, the
    old estimate: 3 x forward from NB201's MAC count (``count_flops``), 2 FLOPs per MAC.
    """
    from torch.utils.flop_counter import FlopCounterMode

    net = NB201Network(ALL_CONV, num_classes=10).train()
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, 3, 32, 32, generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    with FlopCounterMode(display=False) as forward:
        loss = F.cross_entropy(net(x), y)
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    return {
        "forward_gflop": forward.get_total_flops() / 1e9,
        "backward_gflop": backward.get_total_flops() / 1e9,
        "step_gflop": (forward.get_total_flops() + backward.get_total_flops()) / 1e9,
        "nb201_estimate_gflop": 3 * 2 * count_flops(ALL_CONV, "cifar10") * 1e6 * batch / 1e9,
    }


def reference_kernels() -> dict[str, tuple[float, object]]:
    """GEMM-class float32 kernels: name -> (FLOPs, call). torch.mm at three sizes (MKL/oneDNN sgemm) and a
    1x1 convolution in channels_last, which oneDNN runs as a GEMM; plus, not a reference, a 3x3 convolution
    as NB201 runs it, to see whether oneDNN's 3x3 kernels beat GEMM (which only a cheaper algorithm could)."""
    gen = torch.Generator().manual_seed(0)
    kernels: dict[str, tuple[float, object]] = {}
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
        kernels[f"mm_{n}"] = (2.0 * n**3, functools.partial(torch.mm, a, b))
    x = torch.randn(64, 256, 32, 32, generator=gen).to(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 1, 1, generator=gen).to(memory_format=torch.channels_last)
    kernels["conv1x1_256ch_32px"] = (2.0 * 64 * 32 * 32 * 256 * 256, functools.partial(F.conv2d, x, w))
    x3 = torch.randn(64, 16, 32, 32, generator=gen).to(memory_format=torch.channels_last)
    w3 = torch.randn(16, 16, 3, 3, generator=gen).to(memory_format=torch.channels_last)
    kernels["conv3x3_16ch_32px_not_reference"] = (
        2.0 * 64 * 32 * 32 * 16 * 16 * 9, functools.partial(F.conv2d, x3, w3, padding=1)
    )
    return kernels


def theoretical_peak(threads: int) -> dict[str, object] | None:
    """float32 peak GFLOP/s = cores x FMA pipes x lanes x 2 x clock, from /proc/cpuinfo and lscpu.

    Lanes per pipe: 16 with AVX-512 on Intel, 8 with AVX2 (and on AMD, whose Zen 4 runs AVX-512 as two
    256-bit halves); 2 FMA pipes per core (true of every x86 server core with FMA since Haswell/Zen 1,
    but not readable, so assumed). Cores: the threads used, divided by lscpu's "Thread(s) per core" (two
    hyperthreads share one core's FMA pipes). Clock: lscpu's "CPU max MHz" where the (virtual) CPU shows it
    (``max_clock_readable``), else the nominal "cpu MHz"; a VM usually hides boost clocks, so the peak at the
    nominal clock can be exceeded, and then the measured kernels bound the true peak from below (see main).
    """
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields = dict(
        (k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in info.splitlines() if ":" in line)
    )
    flags = set(fields.get("flags", "").split())
    if "fma" not in flags:
        return None
    amd = fields.get("vendor_id") == "AuthenticAMD"
    lanes = 16 if "avx512f" in flags and not amd else 8
    mhz, source = float(fields.get("cpu MHz", "nan")), "cpuinfo cpu MHz (nominal; no max clock readable)"
    per_core = 1
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("CPU max MHz:"):
                mhz, source = float(line.split(":", 1)[1]), "lscpu CPU max MHz"
            if line.startswith("Thread(s) per core:"):
                per_core = max(1, int(line.split(":", 1)[1]))
    if not mhz == mhz:
        return None
    per_cycle = 2 * lanes * 2  # FMA pipes x lanes x (multiply + add)
    cores = -(-threads // per_core)
    return {"model": fields.get("model name"), "isa": "avx512" if lanes == 16 else "avx2+fma",
            "flop_per_cycle_per_core": per_cycle, "ghz": mhz / 1e3, "clock_source": source,
            "max_clock_readable": source.startswith("lscpu"), "threads": threads, "threads_per_core": per_core,
            "cores": cores, "gflops": cores * per_cycle * mhz / 1e3}  # fmt: skip


CONV_ALGORITHM_PROBE = """
import torch, torch.nn.functional as F
from nasforge.spaces.nb201 import NB201Arch
from nasforge.spaces.nb201_model import NB201Network
torch.set_num_threads({threads})
net = NB201Network(NB201Arch(("nor_conv_3x3",) * 6), num_classes=10).train()
x, y = torch.randn({batch}, 3, 32, 32), torch.randint(0, 10, ({batch},))
for _ in range(2):
    F.cross_entropy(net(x), y).backward()
"""


def conv_algorithms(batch: int, threads: int) -> dict[str, int] | None:
    """Which algorithm oneDNN ran each convolution of the all-3x3 training step with, read from its own log
    (``ONEDNN_VERBOSE=1``, in a subprocess): ``implementation alg:...`` -> count. ``alg:convolution_direct``
    is a direct convolution doing every multiply-add the FLOP count counts; ``alg:convolution_winograd``
    would do fewer, and could then beat GEMM. None when the log cannot be read."""
    code = CONV_ALGORITHM_PROBE.format(batch=batch, threads=threads)
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    counts: dict[str, int] = {}
    for line in out.stdout.splitlines():
        fields = line.split(",")
        if len(fields) > 10 and fields[2:4] == ["primitive", "exec"] and fields[5] == "convolution":
            alg = next((f for f in fields if f.startswith("alg:")), "alg:?")
            key = f"{fields[6]} {fields[7]} {alg}"
            counts[key] = counts.get(key, 0) + 1
    return counts or None


def all_conv_vs_matmul(
    batch: int, rounds: int, warmup: int, seed: int, *, compile: bool = False
) -> dict[str, object]:
    """GFLOP/s of the all-``nor_conv_3x3`` training step and of GEMM-class reference kernels, interleaved.

    One training step, then each kernel of :func:`reference_kernels` once, ``rounds`` times; each keeps its
    fastest time. Timing them in alternation makes the ratios robust: a busy stretch of the shared machine
    slows all alike. The step's FLOPs are counted by ``torch.utils.flop_counter`` (forward + backward); the
    reference is the fastest GEMM-class kernel. ``compile`` runs the step through ``torch.compile`` (as
    ``TrainConfig(compile=True)`` does) and reports the first step, which compiles, as ``compile_s``.
    """
    torch.manual_seed(seed)
    net = NB201Network(ALL_CONV, num_classes=10)
    trainer = Trainer(torch.compile(net, dynamic=False) if compile else net, batch, seed)
    kernels = reference_kernels()
    start = time.perf_counter()
    trainer.step()
    first_step_s = time.perf_counter() - start
    for _ in range(warmup):
        trainer.step()
        for _flop, call in kernels.values():
            call()
    trainer.times.clear()
    kernel_s: dict[str, list[float]] = {name: [] for name in kernels}
    faults = _minor_faults()
    for _ in range(rounds):
        trainer.step()
        for name, (_flop, call) in kernels.items():
            kernel_s[name].append(_timed(call))
    faults = (_minor_faults() - faults) / rounds
    counted = counted_step_flops(batch)
    step_flop = counted["step_gflop"] * 1e9
    step_s = min(trainer.times)
    gflops = {name: kernels[name][0] / min(times) / 1e9 for name, times in kernel_s.items()}
    references = {k: v for k, v in gflops.items() if "not_reference" not in k}
    best = max(references, key=references.get)
    step_gflops = step_flop / step_s / 1e9
    result = {
        "img_s": batch / step_s,
        "step_gflop": step_flop / 1e9,
        "flop_count": counted,
        "gflops": step_gflops,
        "kernel_gflops": gflops,
        "reference": best,
        "reference_gflops": references[best],
        "matmul_gflops": gflops["mm_2048"],
        "fraction_of_reference": step_gflops / references[best],
        "fraction_of_matmul": step_gflops / gflops["mm_2048"],
        "page_faults_per_round": faults,
    }
    if compile:
        result["compile_s"] = first_step_s
    return result


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 archs, few steps")
    parser.add_argument("--archs", type=int, default=30, help="number of random archs (default 30)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per net and arch (default 4)")
    parser.add_argument("--gflops-rounds", type=int, default=10, help="all-3x3 steps vs matmul rounds (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the torch.compile run of the all-3x3 arch (--quick does)"
    )
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc's malloc as it is (the nasforge command does not)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    n_archs, steps, warmup = (3, 2, 1) if args.quick else (args.archs, args.steps, 1)
    torch.set_num_threads(args.threads)
    kept = False if args.default_malloc else keep_freed_memory()  # as the nasforge command does

    rng = np.random.default_rng(args.seed)
    archs = [sample(rng) for _ in range(n_archs)]
    rows = []
    print(f"{'index':>6} {'op_code':>8} {'baseline img/s':>15} {'ours img/s':>11} {'ratio':>6}")
    for arch in archs:
        r = time_pair(arch, args.batch, steps, warmup, args.seed)
        rows.append({"index": arch.index, "op_code": arch.op_code, **r})
        print(
            f"{arch.index:>6} {arch.op_code:>8} {r['baseline_img_s']:>15.1f} {r['ours_img_s']:>11.1f} "
            f"{r['ratio']:>6.2f}"
        )
        sys.stdout.flush()
    ratios = [r["ratio"] for r in rows]
    conv = all_conv_vs_matmul(args.batch, args.gflops_rounds, warmup, args.seed)
    compiled = None
    if not (args.no_compile or args.quick):
        # A cold inductor cache, so compile_s is what a new arch costs (a cached graph loads in ~5 s).
        with tempfile.TemporaryDirectory(prefix="nasforge-inductor-") as cache:
            before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
            try:
                compiled = all_conv_vs_matmul(args.batch, args.gflops_rounds, 2, args.seed, compile=True)
            finally:
                if before is None:
                    del os.environ["TORCHINDUCTOR_CACHE_DIR"]
                else:
                    os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    peak = theoretical_peak(args.threads)
    algorithms = conv_algorithms(args.batch, args.threads)
    conv["fraction_of_peak"] = conv["gflops"] / peak["gflops"] if peak else None
    bound = None
    if peak:
        # No kernel can beat the true peak, so the best measured one bounds it from below: when GEMM beats
        # the peak at the readable clock, the cores ran faster than that clock (boost), by at least this much.
        bound = max(peak["gflops"], conv["reference_gflops"])
        peak["implied_min_ghz"] = conv["reference_gflops"] / (peak["cores"] * peak["flop_per_cycle_per_core"])
        peak["true_peak_at_least_gflops"] = bound
        conv["fraction_of_peak_at_most"] = conv["gflops"] / bound
    if compiled and peak:
        compiled["fraction_of_peak"] = compiled["gflops"] / peak["gflops"]
        compiled["fraction_of_peak_at_most"] = compiled["gflops"] / bound
    summary = {
        "mean_ratio": statistics.fmean(ratios),
        "geometric_mean_ratio": statistics.geometric_mean(ratios),
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "never_slower": min(ratios) >= 1.0,
        "goal_mean_ratio_1_3": statistics.fmean(ratios) >= 1.3,
        "matmul_gflops": conv["matmul_gflops"],
        "all_conv3x3": conv,
        "conv_fraction_of_matmul": conv["fraction_of_matmul"],
        "conv_fraction_of_reference": conv["fraction_of_reference"],
        "reference_gflops": conv["reference_gflops"],
        "theoretical_peak": peak,
        "conv_fraction_of_peak": conv["fraction_of_peak"],
        "conv_fraction_of_peak_at_most": conv.get("fraction_of_peak_at_most"),
        "conv_algorithms": algorithms,
        "winograd_seen": any("winograd" in k for k in algorithms) if algorithms else None,
        "step_exceeds_reference": conv["fraction_of_reference"] > 1.0,
        "all_conv3x3_compiled": compiled,
        "compiled_fraction_of_matmul": compiled["fraction_of_matmul"] if compiled else None,
        "goal_half_of_matmul": conv["fraction_of_matmul"] >= 0.5,
        "goal_half_of_matmul_compiled": compiled["fraction_of_matmul"] >= 0.5 if compiled else None,
        "goal_half_of_reference": conv["fraction_of_reference"] >= 0.5,
    }
    print(
        f"\nratio ours/baseline over {len(rows)} archs: mean {summary['mean_ratio']:.2f}x, "
        f"geometric mean {summary['geometric_mean_ratio']:.2f}x, median {summary['median_ratio']:.2f}x, "
        f"min {summary['min_ratio']:.2f}x"
    )
    counted = conv["flop_count"]
    print(
        f"all-nor_conv_3x3 training step: {counted['step_gflop']:.2f} GFLOP by torch.utils.flop_counter "
        f"(forward {counted['forward_gflop']:.2f} + backward {counted['backward_gflop']:.2f}; the 3x-forward "
        f"estimate from NB201's MAC count: {counted['nb201_estimate_gflop']:.2f})"
    )
    print("kernels (GFLOP/s, interleaved with the step, best of each): " + ", ".join(
        f"{k} {v:.1f}" for k, v in conv["kernel_gflops"].items()))  # fmt: skip
    print(
        f"  step: {conv['img_s']:.1f} img/s, {conv['gflops']:.1f} GFLOP/s = {conv['fraction_of_reference']:.1%} of "
        f"the best GEMM-class kernel ({conv['reference']}, {conv['reference_gflops']:.1f} GFLOP/s)"
        + (f", {conv['fraction_of_peak']:.1%} of the {peak['gflops']:.0f} GFLOP/s peak ({peak['isa']}, "
           f"{peak['ghz']:.2f} GHz from {peak['clock_source']}, {peak['threads']} threads)" if peak else "")
    )
    if peak:
        readable = "" if peak["max_clock_readable"] else " (the max clock is not readable here: no 'CPU max MHz')"
        print(f"  peak at {peak['ghz']:.2f} GHz from {peak['clock_source']}{readable}: {peak['gflops']:.0f} GFLOP/s "
              f"= {peak['cores']} cores x {peak['flop_per_cycle_per_core']} FLOP/cycle ({peak['isa']}, 2 FMA pipes "
              f"assumed); the best kernel ran at {conv['reference_gflops']:.0f}, so the cores ran at >= "
              f"{peak['implied_min_ghz']:.2f} GHz and the step is at most {conv['fraction_of_peak_at_most']:.1%} "
              "of the true peak")  # fmt: skip
    if algorithms:
        print("  oneDNN's own log of the step's convolutions: " + ", ".join(f"{k} x{v}" for k, v in algorithms.items())
              + (" -- Winograd seen" if summary["winograd_seen"] else " -- no Winograd: every multiply-add is done"))
    if compiled:
        print(
            f"  with torch.compile: {compiled['img_s']:.1f} img/s, {compiled['gflops']:.1f} GFLOP/s "
            f"= {compiled['fraction_of_reference']:.1%} of the best GEMM-class kernel "
            f"({compiled['reference_gflops']:.1f} GFLOP/s); "
            f"compiling took {compiled['compile_s']:.0f} s"
        )
    result = {
        "benchmark": "nb201_network_training_step",
        "settings": {
            "batch": args.batch,
            "image_size": 32,
            "threads": args.threads,
            "archs": len(rows),
            "timed_steps": steps,
            "gflops_rounds": args.gflops_rounds,
            "keep_freed_memory": kept,
            "seed": args.seed,
            "quick": args.quick,
        },
        "machine": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "summary": summary,
        "archs": rows,
    }
    if not args.quick or args.out != RESULTS:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
