"""The one place that defines nasforge's benchmark datasets, their splits and every metric name.

Datasets (NB201's names and split semantics)
--------------------------------------------
``cifar10-valid``
    Trained on 25k CIFAR-10 train images. ``valid`` = the other 25k train images (NB201 ``x-valid``),
    ``test`` = the 10k CIFAR-10 test images (``ori-test``). Search on this dataset's ``valid_acc``.
``cifar10``
    Trained on all 50k train images; ``test`` = the 10k test images (``ori-test``). NB201's famous
    "CIFAR-10 test accuracy" (94.37 optimum) is this dataset's ``test_acc``. It has **no** ``valid``
    split: asking for ``valid_acc`` on ``cifar10`` is an error, not a silent switch to ``cifar10-valid``.
``cifar100``, ``ImageNet16-120``
    Trained on the train set. The original test set is split in halves: ``valid`` = ``x-valid``,
    ``test`` = ``x-test``; ``ori_test`` = both halves together (``ori-test``, the only split NATS
    records at every epoch for these datasets).

Metrics (name → source, unit)
-----------------------------
All accuracies are top-1 in percent (0-100); losses are cross-entropy. Without ``epoch`` a metric is
the final value of its schedule, averaged over the seeds present (``seed=`` selects one seed where the
source recorded them); with ``epoch=e`` (0-based) it is read from the per-epoch curve, which exists for
some architectures only. Where an arch has a curve but no separately recorded final value, its final value
is the curve's last entry, so ``query(a, ds, m)`` and ``query(a, ds, m, epoch=last)`` agree.

================  ===========================================================================================
``valid_acc``     200-epoch schedule, accuracy on ``valid`` after epoch 199 (seed mean); curve per epoch
``test_acc``      200-epoch schedule, accuracy on ``test`` after epoch 199 (seed mean); curve per epoch
``ori_test_acc``  cifar100 / ImageNet16-120 only: accuracy on ``ori-test`` (valid+test halves together)
``valid_acc_nats``  NATS-Bench (tss v1_0-3ffb9) ``valid`` accuracy at epoch 199 with its per-seed values;
                  the newest NB201 data, which differs from ``valid_acc`` (NB201 v1_0) for archs that
                  gained seeds between versions
``valid_acc_12ep``, ``test_acc_12ep``  the *separate* 12-epoch schedule (NB201 ``hp='12'``), final values;
                  not epoch 11 of the 200-epoch run. ``train_acc_12ep``, ``valid_loss_12ep``,
                  ``train_time_12ep``, ``valid_time_12ep``, ... likewise (curves of 12 epochs, from the NATS
                  files), and ``params_12ep``, ``flops_12ep``, ``latency_12ep`` (the costs NATS records with
                  that schedule, per seed)
``train_acc``, ``train_loss``  on the training images (200-epoch schedule), curves where present
``valid_loss``, ``test_loss``, ``ori_test_loss``  losses on the splits above
``train_time``    seconds per training epoch, as NB201 records it (one estimate repeated every epoch); from the
                  NATS files also per seed and epoch
``valid_time``, ``test_time``, ``ori_test_time``  seconds per evaluation pass on that split, per seed and
                  epoch, from the NATS files only (NATS's ``eval_times``; recorded at every epoch, also for
                  splits whose accuracy is recorded at the last epoch only)
``params``        millions of parameters as NB201 records them (``cost_info['params']``)
``params_exact``  millions of parameters counted exactly from the network (C=16, N=5); differs from
                  ``params`` for ~95 archs where NB201's stored value belongs to a neighbouring cell
``flops``         millions of FLOPs (multiply-accumulates of conv + linear layers, NB201's counting)
``latency``       seconds per forward pass as NB201 records it (GPU, NB201 protocol)
``zc_<proxy>``     a zero-cost proxy's score of the untrained network (``nasforge zc score``, :mod:`nasforge.zerocost`);
                  ``zc_<proxy>_time`` the CPU seconds it took for that arch
``latency_<device>``  milliseconds per forward pass on one of the 27 HELP devices, e.g. ``latency_pixel3``,
                  ``latency_1080ti_32`` (GPU name + batch size); the input configuration is not stated by HELP
================  ===========================================================================================

NATS-Bench's size space (stores with ``space: "nats-sss"``, :mod:`nasforge.benchmarks.nats_sss`) has its own
schedules, named by suffix (``_01ep``, ``_12ep``, ``_90ep``), the same splits and ``params``/``flops``; the one
accuracy known for all its archs is ``valid_acc_90ep_s777`` (90 epochs, ``valid`` split, seed 777 only).

Per-seed values
---------------
``seed=k`` with ``0 <= k < number of seed slots`` selects the k-th seed *in ascending seed order among
the seeds present for that architecture* (that is all the NB201 CSV records: it does not say which seed
is missing when only two ran). Any other integer is a real seed id (NB201 used 777, 888, 999 and, for
the 12-epoch schedule, 111), answered only where the source recorded ids (the NATS per-arch files).
"""

from __future__ import annotations

from dataclasses import dataclass

DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")

HELP_DEVICES: tuple[str, ...] = (
    "1080ti_1", "1080ti_32", "1080ti_256", "2080ti_1", "2080ti_32", "2080ti_256",
    "titan_rtx_1", "titan_rtx_32", "titan_rtx_256", "titanx_1", "titanx_32", "titanx_256",
    "titanxp_1", "titanxp_32", "titanxp_256", "gold_6226", "gold_6240", "silver_4114", "silver_4210r",
    "pixel2", "pixel3", "samsung_a50", "samsung_s7", "essential_ph_1", "raspi4", "eyeriss", "fpga",
)  # fmt: skip


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str
    description: str


_BASE: tuple[MetricInfo, ...] = (
    MetricInfo("valid_acc", "%", "200-epoch schedule, valid split accuracy at the final epoch, seed mean"),
    MetricInfo("test_acc", "%", "200-epoch schedule, test split accuracy at the final epoch, seed mean"),
    MetricInfo("ori_test_acc", "%", "accuracy on ori-test (valid+test halves), cifar100/ImageNet16-120"),
    MetricInfo("valid_acc_nats", "%", "NATS-Bench valid accuracy at epoch 199, per seed and mean"),
    MetricInfo("valid_acc_12ep", "%", "separate 12-epoch schedule, final valid accuracy, seed mean"),
    MetricInfo("test_acc_12ep", "%", "separate 12-epoch schedule, final test accuracy, seed mean"),
    MetricInfo("train_acc", "%", "training accuracy (200-epoch schedule)"),
    MetricInfo("train_loss", "", "training cross-entropy (200-epoch schedule)"),
    MetricInfo("valid_loss", "", "valid split cross-entropy (200-epoch schedule)"),
    MetricInfo("test_loss", "", "test split cross-entropy (200-epoch schedule)"),
    MetricInfo("ori_test_loss", "", "ori-test cross-entropy, cifar100/ImageNet16-120"),
    MetricInfo("train_time", "s/epoch", "NB201's recorded training time per epoch"),
    MetricInfo("params", "M", "parameters (millions) as NB201 records them"),
    MetricInfo("params_exact", "M", "parameters (millions) counted from the network"),
    MetricInfo("flops", "MFLOPs", "multiply-accumulates of conv + linear layers (NB201's count)"),
    MetricInfo("latency", "s", "NB201's recorded forward latency"),
    MetricInfo("valid_time", "s/epoch", "NATS's recorded time of one evaluation pass on the valid split"),
    MetricInfo("test_time", "s/epoch", "NATS's recorded time of one evaluation pass on the test split"),
    MetricInfo("ori_test_time", "s/epoch", "NATS's recorded time of one evaluation pass on ori-test"),
)
_PER_EPOCH_12: tuple[MetricInfo, ...] = tuple(
    MetricInfo(f"{name}_12ep", unit, f"separate 12-epoch schedule, {name.replace('_', ' ')}")
    for name, unit in (("train_acc", "%"), ("train_loss", ""), ("valid_loss", ""), ("test_loss", ""),
                       ("ori_test_acc", "%"), ("ori_test_loss", ""), ("train_time", "s/epoch"),
                       ("valid_time", "s/epoch"), ("test_time", "s/epoch"), ("ori_test_time", "s/epoch"),
                       ("params", "M"), ("flops", "MFLOPs"), ("latency", "s"))
)  # fmt: skip
# NATS-Bench sss (nasforge.benchmarks.nats_sss): its schedules are 1, 12 and 90 epochs; the one accuracy known
# for every sss arch is one seed's (777) 90-epoch validation accuracy.
_SSS: tuple[MetricInfo, ...] = (
    MetricInfo("valid_acc_90ep_s777", "%", "sss: 90-epoch schedule, valid split accuracy at epoch 89, seed 777 only"),
    *(MetricInfo(f"{name}_{ep}ep", unit, f"sss: {int(ep)}-epoch schedule, {name.replace('_', ' ')}")
      for ep in ("01", "12", "90")
      for name, unit in (("train_acc", "%"), ("train_acc5", "%"), ("train_loss", ""), ("valid_acc", "%"),
                         ("valid_loss", ""), ("test_acc", "%"), ("test_loss", ""), ("ori_test_acc", "%"),
                         ("ori_test_loss", ""), ("train_time", "s/epoch"), ("valid_eval_time", "s"),
                         ("test_eval_time", "s"), ("ori_test_eval_time", "s"))),
)  # fmt: skip
METRICS: dict[str, MetricInfo] = {m.name: m for m in _SSS + _BASE + _PER_EPOCH_12} | {
    f"latency_{d}": MetricInfo(f"latency_{d}", "ms", f"HELP latency on {d}") for d in HELP_DEVICES
}
"""Every metric name a store may hold, with its unit."""

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {"valid_acc", "test_acc", "ori_test_acc", "valid_acc_nats", "valid_acc_12ep", "test_acc_12ep", "train_acc"}
    | {m.name for m in _SSS if m.unit == "%"}
)


def metric_unit(name: str) -> str:
    info = METRICS.get(name)
    return info.unit if info else ""
