"""NATS-Bench's size API (``nats_bench.create(path, 'sss')``) over a nasforge sss store.

    -from nats_bench import create
    +from nasforge.compat.nats import create
    api = create(None, "sss", fast_mode=True, verbose=False)
    api.get_more_info(284, "cifar100", hp="90", is_random=777)["valid-accuracy"]

:class:`NATSsize` is :class:`~nasforge.compat.nats.NATStopology`'s machinery with the size space's parts:
:class:`~nasforge.spaces.nats_sss.SSSArch` strings and indices (``64:64:64:64:64``, 32,768 archs), NATS's
schedules ``hp='01'``, ``'12'``, ``'90'`` (default ``'12'``, as NATS), the sss store (:func:`load_sss`) and
NATS's ``infer.shape.tiny`` network config. Where the store holds an arch's official per-arch file (NATS's
directory, or the default store's archs 0, 11 and 284) every call answers exactly as ``nats_bench`` 1.8 does;
tests compare every value with the real package on the same files.

For the other 32,765 archs the data holds one number per dataset: the **90-epoch validation accuracy of
training seed 777** (``x-valid@89``, no test accuracy, no seed mean, no time or latency) and the parameters and
FLOPs nasforge counts (equal to NATS's for the official files). The API answers what that data answers and
raises a :class:`~nasforge.errors.BenchmarkError` (a ``ValueError``, as NATS) naming what exists for the rest:

* ``get_more_info(i, ds, hp='90', is_random=777)`` (or ``True``: a draw among the seeds the store holds, which
  is 777 alone, as NATS draws in a one-seed record) returns ``{'valid-accuracy': ...}`` for ``cifar10-valid``,
  ``cifar100`` and ``ImageNet16-120``; ``is_random=False`` (a seed mean), another ``hp``, an earlier ``iepoch``
  or ``cifar10`` (train+valid: no validation split) raise.
* ``get_cost_info`` returns ``flops`` and ``params`` only; ``get_latency`` and ``simulate_train_eval`` (which
  charges training time) raise.
* ``find_best(ds, 'valid', hp='90')`` ranks the official files' seed means (one seed, 777, in all three) with
  the seed-777 values of the other archs; any other split or schedule raises, rather than rank 3 archs.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np

from nasforge.benchmarks.importers import NATS_SPLITS
from nasforge.benchmarks.nats_sss import OBJECTIVE, SSS_SCHEDULES, import_sss_files, load_sss, sss_builder
from nasforge.benchmarks.store import BenchmarkStore
from nasforge.compat.nats import NatsLookupError, NATStopology, open_source
from nasforge.data.specs import DATASETS as DATASET_SPECS
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces import nats_sss
from nasforge.spaces.nats_sss import SSSArch

if TYPE_CHECKING:
    from nasforge.spaces.nats_sss_model import SSSNetwork

SEED = 777
"""The training seed of the 90-epoch validation table (and of every 90-epoch record in NATS's sss files)."""
_TABLE_DATASETS = ("cifar10-valid", "cifar100", "ImageNet16-120")


class NATSsize(NATStopology):
    """The NATS-Bench size API over an sss :class:`BenchmarkStore`; made by ``create(path, 'sss')``.

    ``rng`` draws the seed of ``is_random=True`` queries (default: Python's shared ``random``, as NATS).
    """

    _SPACE = "size"
    _NUM_ARCHS = nats_sss.NUM_ARCHS
    _ARCH = SSSArch
    _SCHEDULES = {hp: int(hp) for hp in SSS_SCHEDULES}  # '01', '12', '90', in NATS's file order
    _SUFFIX = dict(SSS_SCHEDULES)
    _PAPER_EPOCHS = 90
    _C10_VALID_SHOWS_TEST = True

    def _check_store(self, store: BenchmarkStore) -> None:
        if store.manifest.get("space") != nats_sss.SPACE_NAME or store.num_archs != nats_sss.NUM_ARCHS:
            raise BenchmarkError(
                f"store {store.path} is a {store.manifest.get('space')!r} store of {store.num_archs} archs, not the "
                f"{nats_sss.SPACE_NAME!r} store of the size space: build one with 'nasforge bench import nats-sss'"
            )

    def get_net_config(self, index: int, dataset: str) -> dict[str, Any]:
        """``{'name': 'infer.shape.tiny', 'channels': '8:8:40:32:40', 'genotype': <the fixed cell>,
        'num_classes': ...}``, as NATS; build the network with :func:`nasforge.compat.nats.get_cell_based_tiny_net`."""
        if dataset not in NATS_SPLITS:
            raise NatsLookupError(f"unknown dataset {dataset!r}; NATS-Bench datasets: {', '.join(NATS_SPLITS)}")
        return SSSArch.from_index(self._index(index)).net_config(DATASET_SPECS[dataset].num_classes)

    def get_latency(self, index: Any, dataset: str, hp: str = "12") -> float | None:
        """The network's latency in seconds, where the store holds the arch's official file (else it raises)."""
        cost = self.get_cost_info(index, dataset, hp)
        if "latency" not in cost:
            raise BenchmarkError(
                f"no latency for sss arch {self._index(index)}: NATS measured it in its per-arch files only "
                f"({self._recorded_text()}); get_cost_info gives params and FLOPs for every arch"
            )
        return cost["latency"]

    # --- archs with the 90-epoch validation table only ----------------------------------------------------------

    def _summary_info(self, index: int, dataset: str, iepoch: int | None, hp: str, is_random: Any) -> dict[str, Any]:
        value = self._final(index, dataset, OBJECTIVE)
        if value is None:
            raise BenchmarkError(f"this store holds no result of sss arch {index} on {dataset}: {self._exists()}")
        if hp != "90" or (iepoch is not None and iepoch != self._SCHEDULES[hp] - 1):
            at = "the last epoch" if iepoch is None else f"iepoch={iepoch}"
            raise BenchmarkError(
                f"sss arch {index} on {dataset} has no hp={hp!r} result at {at} in this store: {self._exists()}"
            )
        if isinstance(is_random, bool) and is_random:
            is_random = self._rng.choice([SEED])  # NATS draws among the record's seeds; the store holds one
        if isinstance(is_random, bool):
            raise BenchmarkError(
                f"the seed mean of sss arch {index} is unknown (the store holds seed {SEED} only): "
                f"pass is_random={SEED} (or True)"
            )
        if is_random != SEED:
            raise BenchmarkError(f"can not find random seed ({is_random}) from [{SEED}] for sss arch {index}")
        return {"valid-accuracy": value}

    def _summary_costs(self, index: int, dataset: str, hp: str) -> dict[str, Any]:
        info = {key: value for key in ("flops", "params") if (value := self._final(index, dataset, key)) is not None}
        if not info:
            raise BenchmarkError(f"this store holds no params or FLOPs of sss arch {index} on {dataset}")
        return info

    def _summary_accuracy(self, accuracy: np.ndarray, dataset: str, stem: str | None, hp: str) -> np.ndarray:
        # archs the table covers (on any dataset: cifar10's train+valid network has no validation split)
        known = np.any([~np.isnan(self._column(ds, OBJECTIVE)) for ds in _TABLE_DATASETS], axis=0)
        missing = np.isnan(accuracy) & known
        if not missing.any():
            return accuracy
        if hp == "90" and stem == "valid" and dataset in _TABLE_DATASETS:
            # one seed for every arch: the official records' 90-epoch seed too
            return np.where(missing, self._column(dataset, OBJECTIVE), accuracy)
        raise BenchmarkError(
            f"find_best: this store holds {stem or 'that split'} accuracies (hp={hp!r}) on {dataset} for "
            f"{int((~np.isnan(accuracy)).sum())} archs only; for all {self._NUM_ARCHS}: {self._exists()}"
        )

    def _no_time(self, index: int, dataset: str, hp: str) -> str:
        return (f"no training time for sss arch {index} on {dataset}: NATS's times are in its per-arch files only "
                f"({self._recorded_text()}); {self._exists()}")  # fmt: skip

    def _exists(self) -> str:
        return (f"the 32,768-arch data is the 90-epoch validation accuracy of seed {SEED} on "
                f"{', '.join(_TABLE_DATASETS)}: get_more_info(i, dataset, hp='90', is_random={SEED}), "
                "find_best(dataset, 'valid', hp='90'), and params/FLOPs in get_cost_info")  # fmt: skip

    def _recorded_text(self) -> str:
        key = ("recorded",)
        if key not in self._memo:
            try:
                archs = self.store.curve_archs("cifar10-valid", "train_acc" + self._SUFFIX["90"])
            except BenchmarkError:
                archs = np.zeros(0, dtype=int)
            self._memo[key] = [int(i) for i in archs]
        archs = self._memo[key]
        return f"this store has them for arch{'s' * (len(archs) != 1)} {', '.join(map(str, archs))}" if archs \
            else "this store has none"  # fmt: skip


def create_size(
    path: str | os.PathLike | None, fast_mode: bool, verbose: bool, rng: random.Random | None
) -> NATSsize:
    """The size API over ``path``: ``None`` (the data directory's sss store, built once into the cache), an sss
    store directory, or NATS's sss files (its ``NATS-sss-v1_0-50262-simple/`` directory or per-arch files)."""
    from pathlib import Path

    store = open_source(path, default=_default_store, builder=sss_builder, importer=import_sss_files)
    return NATSsize(store, fast_mode=fast_mode, verbose=verbose, rng=rng, filename=Path(path).name if path else None)


def _default_store() -> BenchmarkStore:
    from nasforge.spaces.nats_sss_model import cost_table  # torch counts the parameters once, when first built

    return load_sss(costs=cost_table)


def size_network(config: dict[str, Any]) -> SSSNetwork:
    """The :class:`~nasforge.spaces.nats_sss_model.SSSNetwork` of an ``infer.shape.tiny`` config (imports torch)."""
    from nasforge.spaces.nats_sss_model import SSSNetwork

    if config.get("genotype") != nats_sss.GENOTYPE:
        raise ArchError(f"the size space's cell is {nats_sss.GENOTYPE}, not {config.get('genotype')!r:.120}")
    return SSSNetwork(SSSArch.parse(str(config.get("channels"))), num_classes=int(config["num_classes"]))
