"""argparse value types for every numeric and device option: a bad value is one error line before any work.

Each type takes the option's text and returns the value, or raises ``argparse.ArgumentTypeError`` naming
the value and the valid range; :class:`nasforge.cli._common.ArgumentParser` prints that as one line and
exits with code 2. Counts have upper bounds: an absurd count (``space sample --n 99999999999``, ``--layers
99999999999``) would otherwise fill memory or run for years before anything could fail. The bounds sit far
above every published setting (named beside each one), so no real run meets them.

>>> seed("7"), fraction("0.05"), comma_list(finite_float(0, 10))("1,2.5")
(7, 0.05, [1.0, 2.5])
>>> seed("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: '-1' is outside 0..4294967295; give a whole number in that range
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# numpy's legacy RandomState, sklearn and most tools take 32-bit seeds; every seed we pass on fits in it.
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 10_000  # NB201 trains 200 epochs, DARTS' final evaluation 600
MAX_BATCH_SIZE = 65_536  # above MNIST's 60,000 training images, the largest split here
MAX_CHANNELS = 256  # initial channels: NB201 16, DARTS 16 (search) and 36/48 (evaluation)
MAX_STEM_MULTIPLIER = 16  # the stem's channels in units of C: DARTS 3, the DARTS-MNIST sheet 0 (no stem)
MAX_CELLS = 100  # cells per stage (NB201 5) or in the network (DARTS 8 to search, 20 to evaluate)
MAX_TRIALS = 1_000_000  # NATS-Bench's longest searches run a few thousand trials
MAX_SAMPLES = 100_000  # archs printed by `space sample`: 6.4x the 15,625 archs of NB201
MAX_SEEDS = 100_000  # NATS-Bench repeats each search 500 times
MAX_WORKERS = 4096  # trials in flight: simulated workers, or processes on a Ray cluster
MAX_RETRIES = 1000
MAX_SECONDS = 1e9  # a time budget: 32 years, real or simulated (NATS: 20,000-120,000 s)
MAX_EVAL_COST_EPOCHS = 1000.0  # NATS charges one epoch of training time per validation pass
MAX_GRAD_NORM = 1e6  # DARTS clips the weight gradient's norm at 5; 0 = no clipping
MAX_RESOURCES = 4096.0  # CPUs or GPUs a Ray trial asks for
MAX_METRIC_BOUND = 1e9  # a bound on a store metric (ms, M params, MFLOPs): NB201's largest is 220 MFLOPs
# Optimizers apply the learning rate to float32 weights: a larger one overflows inside torch.
MAX_LEARNING_RATE = 3.4028234663852886e38


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``low..high`` (no upper bound when ``high`` is None)."""

    def parse(text: str) -> int:
        value = _parse(int, text, "a whole number")
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{_show(text)} is outside {span}; give a whole number in that range")
        return value

    parse.__name__ = f"int_{low}_{high}"  # argparse names the type in some of its own messages
    return parse


def finite_float(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``); never NaN or infinite."""

    def parse(text: str) -> float:
        value = _parse(float, text, "a number")
        above_low = value > low if low_open else value >= low
        if not (math.isfinite(value) and above_low and value <= high):
            span = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"{_show(text)} is outside {span}; give a finite number in that range")
        return value

    parse.__name__ = f"float_{low:g}_{high:g}"
    return parse


def comma_list(item: Callable[[str], T]) -> Callable[[str], list[T]]:
    """``1,4,16``: a non-empty comma-separated list, every item checked by ``item``."""

    def parse(text: str) -> list[T]:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} has an empty item; give values separated by commas, e.g. 1,4")
        return [item(part) for part in parts]

    parse.__name__ = "comma_list"
    return parse


def positive_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{_show(text)} is not a positive whole number")
    return value


def nonnegative_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{_show(text)} is negative; expected 0 or more")
    return value


def positive_float(text: str) -> float:
    value = _parse(float, text, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{_show(text)} is not a positive number")
    return value


def fraction(text: str) -> float:
    """A fraction in (0, 1]."""
    value = _parse(float, text, "a number")
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"{_show(text)} is outside (0, 1]; give a fraction such as 0.05")
    return value


def cpu_threads(text: str) -> int:
    """Threads or processes on this machine: 1 up to its cores (more only make torch wait at every barrier)."""
    cores = os.cpu_count() or 1
    value = _parse(int, text, "a whole number")
    if not 1 <= value <= cores:
        raise argparse.ArgumentTypeError(f"{_show(text)} is outside 1..{cores}: this machine has {cores} CPU cores")
    return value


def device(text: str) -> str:
    """A torch device this torch build can use on this machine (checked by :func:`nasforge.train.select_device`);
    kept as text, so that ``auto`` is resolved where the work runs."""
    if text == "auto":  # the default: no torch import just to parse arguments
        return text
    from nasforge.errors import ConfigError
    from nasforge.train import select_device

    try:
        select_device(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


seed = int_range(0, MAX_SEED)
epochs = int_range(1, MAX_EPOCHS)
batch_size = int_range(1, MAX_BATCH_SIZE)
channels = int_range(1, MAX_CHANNELS)
stem_multiplier = int_range(0, MAX_STEM_MULTIPLIER)
cells = int_range(1, MAX_CELLS)
image_size = int_range(1, 4096)  # your own data's resize target (pixels per side)
trials = int_range(1, MAX_TRIALS)
samples = int_range(1, MAX_SAMPLES)
seeds = int_range(1, MAX_SEEDS)
workers = int_range(1, MAX_WORKERS)
retries = int_range(0, MAX_RETRIES)
cost_epochs = int_range(0, MAX_EPOCHS)
seconds = finite_float(0, MAX_SECONDS, low_open=True)
eval_cost_epochs = finite_float(0, MAX_EVAL_COST_EPOCHS)
learning_rate = finite_float(0, MAX_LEARNING_RATE, low_open=True)
# Adam moves α by about its lr every step and a softmax is one-hot to float precision well before α differs by
# 100: an α lr above 10 only saturates the mixing in a step or two.
arch_learning_rate = finite_float(0, 10, low_open=True)
cpus = finite_float(0, MAX_RESOURCES, low_open=True)
gpus = finite_float(0, MAX_RESOURCES)
grad_clip = finite_float(0, MAX_GRAD_NORM)
metric_bound = finite_float(0, MAX_METRIC_BOUND, low_open=True)  # pareto --budgets: 0 or less selects nothing
temperature = finite_float(0, 1e6, low_open=True)  # a Gumbel-softmax temperature (GDAS: 10 -> 0.1)
names = comma_list(str)  # a list of names (optimizers): no empty item


def _parse(kind: Callable[[str], T], text: str, what: str) -> T:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_show(text)} is not {what}") from None


def _show(text: str, limit: int = 40) -> str:
    # A 400-digit value would make the one error line unreadable.
    return repr(text if len(text) <= limit else f"{text[:limit]}...")
