"""NATS-Bench's topology API (``nats_bench.create(path, 'tss')``) over a nasforge benchmark store; ``create(path,
'sss')`` gives the size space's API (:mod:`nasforge.compat.nats_size`, the same machinery).

A NATS-Bench script switches by changing its import and nothing else::

    -from nats_bench import create
    +from nasforge.compat.nats import create
    api = create(None, "tss", fast_mode=True, verbose=False)
    acc, latency, time_cost, total_time = api.simulate_train_eval(arch, "cifar10", hp="12")

The calls, their arguments, the keys and values they return and the way ``is_random`` picks a seed are
NATS's (``nats_bench`` 1.8, ``api_topology.py`` and ``api_utils.py``): a test compares every value with the
real package on NATS's own files. Where an arch's NATS-Bench records were imported (``nasforge bench import
nats``; the default store holds archs 0, 11 and 284) every key is there, per seed and per epoch. For the other
archs the store holds the seed-mean final values NB201's tables give; :meth:`NATStopology.get_more_info` then
returns only the keys it has (accuracies, the training time) and has no seeds to draw, and
:meth:`NATStopology.simulate_train_eval` charges the validation pass only where the data has its time.

Differences from NATS, all deliberate:

* ``path`` may also be a nasforge store; ``None`` is the default store (``$NASFORGE_STORE`` or the data
  directory's, see :func:`nasforge.benchmarks.load_nb201`), never ``$TORCH_HOME``. The store is memory-mapped,
  so ``fast_mode`` changes nothing and either a file or a directory is accepted with either value.
* ``is_random=True`` draws from ``rng`` (a :class:`random.Random`). The default is Python's shared ``random``
  generator, as in NATS, so a script that calls ``random.seed(s)`` gets NATS's draws; pass
  ``create(..., rng=random.Random(s))`` to keep the draws private.
* ``verbose=True`` prints one line when the API is created, not one per call.
* Errors are :class:`~nasforge.errors.BenchmarkError` subclasses that keep NATS's exception types: where NATS
  raises ``ValueError`` (an index out of range, a seed or epoch it lacks, an unknown search space or
  ``simulate_train_eval`` dataset) so does this (``BenchmarkError`` is a ``ValueError``); where NATS raises
  ``KeyError`` (an unknown dataset or ``hp``) this raises :class:`NatsLookupError`, a ``KeyError`` too.
* ``query_index_by_arch`` returns ``-1`` for a string or object that is not an arch of the space, as NATS does
  (``get_more_info(-1, ...)`` and the other queries then raise).
"""

from __future__ import annotations

import collections
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.importers import NATS_SPLITS, import_nats, nats_files
from nasforge.benchmarks.nb201 import _cache_key, cached_store, load_nb201, source_tag
from nasforge.benchmarks.store import MANIFEST, BenchmarkStore, open_store
from nasforge.data.specs import DATASETS as DATASET_SPECS
from nasforge.errors import ArchError, BenchmarkError
from nasforge.spaces.nb201 import NUM_ARCHS, NB201Arch

if TYPE_CHECKING:
    from nasforge.spaces.nats_sss_model import SSSNetwork
    from nasforge.spaces.nb201_model import NB201Network

SCHEDULES: dict[str, int] = {"12": 12, "200": 200}
"""NATS's ``hp`` values and the number of epochs each schedule trains."""

_SUFFIX = {"200": "", "12": "_12ep"}  # store metric suffix per schedule
_SIMULATE_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NATS_TSS_NAMES = ("tss", "topology")
NATS_SSS_NAMES = ("sss", "size")


class NatsLookupError(BenchmarkError, KeyError):
    """An unknown dataset or ``hp``: NATS raises ``KeyError`` there, so this is one too."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def _mean(values: list[Any]) -> Any:
    """NATS's ``mean``: the plain sum divided by the count (the same float operations, so equal values)."""
    return sum(values) / len(values)


def _mean_or_none(values: list[Any]) -> Any:
    return _mean(values) if values and values[0] is not None else None


class NATStopology:
    """The NATS-Bench topology API over a :class:`BenchmarkStore`; made by :func:`create`.

    ``rng`` draws the seed of ``is_random=True`` queries (default: Python's shared ``random``, as NATS).
    """

    def __init__(
        self,
        store: BenchmarkStore,
        *,
        fast_mode: bool = False,
        verbose: bool = True,
        rng: random.Random | None = None,
        filename: str | None = None,
    ) -> None:
        self._check_store(store)
        self.store = store
        self.filename = filename
        self.verbose = verbose
        self._fast_mode = fast_mode
        # NATS draws from the module-level ``random``; by default so does this, for identical trajectories.
        self._rng: Any = random if rng is None else rng  # the module's choice/randint use its shared generator
        self._search_space_name = self._SPACE
        self._full_train_epochs = self._PAPER_EPOCHS
        self._used_time = 0.0
        # Per-instance memo of the store's answers (the store is read-only): one record is read many times per call.
        self._memo: dict[tuple, Any] = {}
        if verbose:
            print(f"nasforge NATS-Bench ({self._SPACE}) API over {store.path}: {len(self)} architectures")

    # What differs between NATS's two spaces; NATSsize (compat/nats_size.py) overrides these.
    _SPACE = "topology"
    _NUM_ARCHS = NUM_ARCHS
    _ARCH: Any = NB201Arch
    _SCHEDULES: dict[str, int] = SCHEDULES
    _SUFFIX: dict[str, str] = _SUFFIX
    _PAPER_EPOCHS = 200
    _C10_VALID_SHOWS_TEST = False  # NATS's size API also prints cifar10-valid's test split; its topology API does not

    def _check_store(self, store: BenchmarkStore) -> None:
        if store.num_archs != NUM_ARCHS:
            raise BenchmarkError(f"store {store.path} holds {store.num_archs} archs, not the {NUM_ARCHS} of NB201/tss")

    # --- the space --------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._NUM_ARCHS

    def __getitem__(self, index: int) -> str:
        """The arch string of ``index`` (Python indexing, as NATS's ``meta_archs[index]``)."""
        return self._ARCH.from_index(range(self._NUM_ARCHS)[index]).to_string()

    def __iter__(self) -> Iterator[str]:
        """The arch strings in index order (NATS iterates ``meta_archs`` the same way)."""
        return (self._ARCH.from_index(i).to_string() for i in range(self._NUM_ARCHS))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._NUM_ARCHS} architectures, fast_mode={self._fast_mode}, "
            f"file={self.filename}, store={self.store.path})"
        )

    def arch(self, index: int) -> str:
        """The arch string of ``index``; ``ValueError`` (:class:`BenchmarkError`) outside 0..len - 1."""
        if not 0 <= index < self._NUM_ARCHS:
            raise BenchmarkError(f"invalid index : {index} vs. {self._NUM_ARCHS}.")
        return self._ARCH.from_index(index).to_string()

    def random(self) -> int:
        """A random arch index, drawn from ``rng`` as NATS does (``randint(0, len - 1)``)."""
        return self._rng.randint(0, self._NUM_ARCHS - 1)

    def query_index_by_arch(self, arch: Any) -> int:
        """The index of ``arch`` (an index, an arch string, an :class:`NB201Arch` or an object with ``tostr()``).

        As NATS: an ``int`` outside 0..15624 raises ``ValueError`` (:class:`BenchmarkError`); a string or object
        that is not an arch of the space returns ``-1`` (a string must be NB201's canonical arch string).
        """
        if isinstance(arch, int):
            if 0 <= arch < self._NUM_ARCHS:
                return arch
            raise BenchmarkError(f"Invalid architecture index {arch} vs [0, {self._NUM_ARCHS}].")
        if isinstance(arch, self._ARCH):
            return arch.index
        text = arch if isinstance(arch, str) else arch.tostr() if hasattr(arch, "tostr") else None
        if not isinstance(text, str):
            return -1
        try:
            parsed = self._ARCH.parse(text)
        except ArchError:
            return -1
        return parsed.index if parsed.to_string() == text else -1

    @property
    def used_time(self) -> float:
        """Seconds charged by :meth:`simulate_train_eval` since the last :meth:`reset_time`."""
        return self._used_time

    def reset_time(self) -> None:
        self._used_time = 0

    @property
    def search_space_name(self) -> str:
        return self._search_space_name

    @property
    def fast_mode(self) -> bool:
        return self._fast_mode

    @property
    def full_train_epochs(self) -> int:
        return self._full_train_epochs

    @property
    def full_epochs_in_paper(self) -> int:
        return self._PAPER_EPOCHS

    @property
    def is_topology(self) -> bool:
        return self._SPACE == "topology"

    @property
    def is_size(self) -> bool:
        return self._SPACE == "size"

    # --- NATS's queries --------------------------------------------------------------------------------------

    def get_more_info(
        self, index: Any, dataset: str, iepoch: int | None = None, hp: str = "12", is_random: bool | int = True
    ) -> dict[str, Any]:
        """NATS's flat dict for one arch, dataset and schedule (``hp='12'`` or ``'200'``).

        Keys: ``train-loss``, ``train-accuracy`` (%), ``train-per-time``, ``train-all-time`` (s), and the same
        four for ``valid-``, ``test-`` and ``valtest-`` where the dataset has that split (NATS's choice of split
        per dataset), plus a ``comment`` for the CIFAR-10 datasets. ``iepoch`` (0-based; ``None`` = the last)
        selects the epoch; ``is_random`` is ``True`` (one seed drawn from ``rng``), ``False`` (the seed mean) or
        a seed. Unknown dataset or ``hp``: :class:`NatsLookupError`; a seed or epoch the arch lacks: ``ValueError``.
        """
        index = self._index(index)
        dataset, hp = self._check(dataset, hp)
        seeds = self._seeds(index, dataset, hp)
        if not seeds:
            return self._summary_info(index, dataset, iepoch, hp, is_random)
        if isinstance(is_random, bool) and is_random:
            is_random = self._rng.choice(seeds)
        train_info = self._metrics(index, dataset, hp, "train", iepoch, is_random)
        total = train_info["iepoch"] + 1
        xinfo: dict[str, Any] = {
            "train-loss": train_info["loss"],
            "train-accuracy": train_info["accuracy"],
            "train-per-time": train_info["all_time"] / total if train_info["all_time"] is not None else None,
            "train-all-time": train_info["all_time"],
        }
        valtest_info = None
        if dataset == "cifar10-valid":
            valid_info = self._metrics(index, dataset, hp, "x-valid", iepoch, is_random)
            test_info = self._try_metrics(index, dataset, hp, "ori-test", iepoch, is_random)
            xinfo["comment"] = _COMMENT_C10_VALID.format(hp)
        else:
            if dataset == "cifar10":
                xinfo["comment"] = _COMMENT_C10.format(hp)
            test_set = "ori-test" if dataset == "cifar10" else "x-test"
            test_info = self._try_metrics(index, dataset, hp, test_set, iepoch, is_random)
            valid_info = self._try_metrics(index, dataset, hp, "x-valid", iepoch, is_random)
            if dataset != "cifar10":
                valtest_info = self._try_metrics(index, dataset, hp, "ori-test", iepoch, is_random)
        for prefix, info in (("valid", valid_info), ("test", test_info), ("valtest", valtest_info)):
            if info is not None:
                xinfo[f"{prefix}-loss"] = info["loss"]
                xinfo[f"{prefix}-accuracy"] = info["accuracy"]
                xinfo[f"{prefix}-per-time"] = info["all_time"] / total if info["all_time"] is not None else None
                xinfo[f"{prefix}-all-time"] = info["all_time"]
        return xinfo

    def simulate_train_eval(
        self, arch: Any, dataset: str, iepoch: int | None = None, hp: str = "12", account_time: bool = True
    ) -> tuple[float, float | None, float, float]:
        """``(valid accuracy %, latency s, time cost s, total time s)`` of training ``arch`` as NATS simulates it.

        ``dataset`` is ``cifar10`` (NATS then reads ``cifar10-valid``), ``cifar100`` or ``ImageNet16-120``; a
        random seed's validation accuracy (``valtest`` where the epoch has no ``valid``), and the time cost is
        the training time to ``iepoch`` plus one validation pass, where the data has its time. With
        ``account_time`` the cost is added to :attr:`used_time` (the returned total).
        """
        index = self.query_index_by_arch(arch)
        if dataset not in _SIMULATE_DATASETS:
            raise BenchmarkError(f"Invalid dataset name : {dataset} vs {_SIMULATE_DATASETS}")
        source = "cifar10-valid" if dataset == "cifar10" else dataset
        info = self.get_more_info(index, source, iepoch=iepoch, hp=hp, is_random=True)
        if "train-all-time" not in info:
            raise BenchmarkError(self._no_time(index, source, str(hp)))
        if "valid-accuracy" in info:
            valid_acc, eval_time = info["valid-accuracy"], info.get("valid-per-time")
        else:
            valid_acc = info["valtest-accuracy"]
            eval_time = self.get_more_info(index, dataset, iepoch=None, hp=hp, is_random=True).get("valid-per-time")
        time_cost = info["train-all-time"] + (eval_time if eval_time is not None else 0)
        latency = self.get_latency(index, dataset, hp=hp)
        if account_time:
            self._used_time += time_cost
        return valid_acc, latency, time_cost, self._used_time

    def get_cost_info(self, index: Any, dataset: str, hp: str = "12") -> dict[str, Any]:
        """NATS's costs: ``flops`` (M), ``params`` (M), ``latency`` (s, or ``None``) and the times
        ``T-train@epoch``/``T-train@total`` and ``T-<split>@epoch``/``@total`` (s), each the seed mean."""
        index = self._index(index)
        dataset, hp = self._check(dataset, hp)
        seeds = self._seeds(index, dataset, hp)
        if not seeds:
            return self._summary_costs(index, dataset, hp)
        sfx = self._SUFFIX[hp]

        def per_seed(metric: str) -> list[float]:
            return [self.store.query(index, dataset, metric + sfx, seed=s) for s in seeds]

        def legacy_fix(raw: list[float]) -> list[float]:  # NATS: a cost that differs across seeds is seed 888's
            if len(raw) > 1 and len({f"{x:.5f}" for x in raw}) > 1:
                if 888 not in seeds:
                    raise BenchmarkError(f"{888} is not in list")
                return [raw[seeds.index(888)]]
            return raw

        latencies = [x for x in per_seed("latency") if x > 0]
        info: dict[str, Any] = {
            "flops": _mean(legacy_fix(per_seed("flops"))),
            "params": _mean(legacy_fix(per_seed("params"))),
            "latency": _mean(latencies) if latencies else None,
        }
        times: dict[str, list[Any]] = collections.defaultdict(list)
        for seed in seeds:
            for key, value in self._times(index, dataset, hp, seed).items():
                times[key].append(value)
        info.update({key: _mean_or_none(values) for key, values in times.items()})
        return info

    def get_latency(self, index: Any, dataset: str, hp: str = "12") -> float | None:
        """The network's latency in seconds (``get_cost_info(...)['latency']``)."""
        return self.get_cost_info(index, dataset, hp)["latency"]

    def query_info_str_by_arch(self, arch: Any, hp: str = "12") -> str | None:
        """NATS's text summary of ``arch`` under schedule ``hp``; ``None`` when the store has no record of it."""
        index = self._index(arch)
        hps = self._hps(index)
        if not hps:
            return None  # NATS warns and returns None for an arch without records
        if str(hp) not in hps:
            raise BenchmarkError(f"The {index}-th architecture only has hyper-parameters of {hps} instead of {hp}.")
        return "\n".join(self._information(index, str(hp), f"arch-index={index}"))

    def query_by_arch(self, arch: Any, hp: str = "12") -> str | None:
        """NB201's older name of :meth:`query_info_str_by_arch`."""
        return self.query_info_str_by_arch(arch, hp)

    def show(self, index: int = -1) -> None:
        """Print NATS's summary of arch ``index`` under each schedule; ``index < 0``: every arch with records."""
        if index < 0:
            print(self)
            for i in range(self._NUM_ARCHS):
                if self._hps(i):
                    print("\n" + "-" * 10 + f" The {i:06d}-th architecture! " + "-" * 10)
                    self.show(i)
            return
        if index >= self._NUM_ARCHS:
            print(f"This index ({index}) is out of range (0~{self._NUM_ARCHS}).")
            return
        hps = self._hps(index)
        if not hps:
            print(f"The {index}-th architecture has not been evaluated or not saved.")
            return
        for hp in hps:
            print(">" * 40 + f" {self._SCHEDULES[hp]:03d} epochs " + ">" * 40)
            print("\n".join(self._information(index, hp, None)))
        print("<" * 40 + "------------" + "<" * 40)

    def find_best(
        self,
        dataset: str,
        metric_on_set: str,
        flop_max: float | None = None,
        param_max: float | None = None,
        hp: str = "12",
        enforce_all: bool | None = None,
    ) -> tuple[int, float | None]:
        """NATS's ``find_best``: ``(index, accuracy)`` of the arch with the highest seed-mean final accuracy on
        ``metric_on_set`` (``'train'``, ``'valid'``, ``'test'`` or a NATS split name, remapped as NATS does:
        ``('cifar10', 'valid')`` reads ``cifar10-valid``'s ``x-valid``) among those within ``flop_max`` MFLOPs and
        ``param_max`` M params; ``(-1, None)`` if none. Every arch the store answers for takes part (NATS's
        ``enforce_all``, which only matters for what NATS has loaded, is accepted and ignored); ties keep the
        lowest index, as NATS's ascending scan does.
        """
        dataset, setname = _remap(dataset, metric_on_set)
        dataset, hp = self._check(dataset, hp)
        sfx = self._SUFFIX[hp]
        stem = "train" if setname == "train" else NATS_SPLITS[dataset].get("x-valid" if setname == "valid" else setname)
        column = self._column
        accuracy = column(dataset, f"{stem}_acc{sfx}") if stem else np.full(self._NUM_ARCHS, np.nan)
        accuracy = self._summary_accuracy(accuracy, dataset, stem, hp)
        flops, params = column(dataset, "flops"), column(dataset, "params")
        try:
            recorded = self.store.curve_archs(dataset, "train_acc" + sfx)
        except BenchmarkError:
            recorded = np.zeros(0, dtype=int)
        for index in (int(i) for i in recorded if self._seeds(int(i), dataset, hp)):
            cost = self.get_cost_info(index, dataset, hp)
            flops[index], params[index] = cost["flops"], cost["params"]
            info = self._try_metrics(index, dataset, hp, setname, None, False)
            accuracy[index] = np.nan if info is None else info["accuracy"]
        keep = ~np.isnan(accuracy)
        if flop_max is not None:
            keep &= ~(flops > flop_max)
        if param_max is not None:
            keep &= ~(params > param_max)
        if not keep.any():
            return -1, None
        best = int(np.flatnonzero(keep)[np.argmax(accuracy[keep])])  # argmax: the first of equal maxima
        return best, float(accuracy[best])

    def get_net_config(self, index: int, dataset: str) -> dict[str, Any]:
        """``{'name': 'infer.tiny', 'C': 16, 'N': 5, 'arch_str': ..., 'num_classes': ...}``, as NATS; build the
        network with :func:`get_cell_based_tiny_net`."""
        if dataset not in NATS_SPLITS:
            raise NatsLookupError(f"unknown dataset {dataset!r}; NATS-Bench datasets: {', '.join(NATS_SPLITS)}")
        return {
            "name": "infer.tiny",
            "C": 16,
            "N": 5,
            "arch_str": self.arch(self._index(index)),
            "num_classes": DATASET_SPECS[dataset].num_classes,
        }

    # --- internals: records ---------------------------------------------------------------------------------

    def _column(self, dataset: str, metric: str) -> np.ndarray:
        """``metric`` of every arch on ``dataset`` (NaN where the store lacks it)."""
        try:
            return self.store.query_many(np.arange(self._NUM_ARCHS), dataset, metric, missing="nan")
        except BenchmarkError:
            return np.full(self._NUM_ARCHS, np.nan)

    def _summary_accuracy(self, accuracy: np.ndarray, dataset: str, stem: str | None, hp: str) -> np.ndarray:
        """find_best's accuracies for archs without NATS records (NB201's tables hold seed means: as they are)."""
        return accuracy

    def _no_time(self, index: int, dataset: str, hp: str) -> str:
        return (f"this store holds no training time of arch {index} on {dataset} ({hp} epochs): import its "
                "NATS-Bench file with 'nasforge bench import nats'")  # fmt: skip

    def _index(self, arch: Any) -> int:
        index = self.query_index_by_arch(arch)
        if index < 0:
            why = ""
            if isinstance(arch, str):  # say what is wrong with it: the parser's message names the valid choices
                try:
                    why = f": the canonical string is {self._ARCH.parse(arch).to_string()!r}"
                except ArchError as exc:
                    why = f": {exc}"
            raise BenchmarkError(f"{arch!r:.120} is not an architecture of the NATS-Bench {self._SPACE} space{why}")
        return index

    def _check(self, dataset: str, hp: Any) -> tuple[str, str]:
        if str(hp) not in self._SCHEDULES:
            names = ", ".join(repr(h) for h in self._SCHEDULES)
            raise NatsLookupError(f"unknown hp {hp!r}; NATS-Bench {self._SPACE} schedules: {names}")
        if dataset not in NATS_SPLITS:
            raise NatsLookupError(f"unknown dataset {dataset!r}; NATS-Bench datasets: {', '.join(NATS_SPLITS)}")
        return dataset, str(hp)

    def _seeds(self, index: int, dataset: str, hp: str) -> list[int]:
        """The seeds of the arch's NATS record (ascending), or [] where the store holds seed means only."""
        key = ("seeds", index, dataset, hp)
        if key not in self._memo:
            try:
                seeds = self.store.seeds(index, dataset, "train_acc" + self._SUFFIX[hp], curve=True)
            except BenchmarkError:
                seeds = []
            self._memo[key] = seeds if seeds and all(s > len(seeds) for s in seeds) else []  # ids, not positions
        return list(self._memo[key])

    def _hps(self, index: int) -> list[str]:
        """The schedules with data for ``index``, in NATS's file order."""
        return [hp for hp in self._SCHEDULES if any(self._has(index, ds, hp) for ds in NATS_SPLITS)]

    def _has(self, index: int, dataset: str, hp: str) -> bool:
        if self._seeds(index, dataset, hp):
            return True
        return self._final(index, dataset, "valid_acc" + self._SUFFIX[hp]) is not None or (
            self._final(index, dataset, "test_acc" + self._SUFFIX[hp]) is not None
        )

    def _datasets(self, index: int, hp: str) -> list[str]:
        return [ds for ds in NATS_SPLITS if self._has(index, ds, hp)]

    def _final(self, index: int, dataset: str, metric: str, seed: int | None = None) -> float | None:
        try:
            return self.store.query(index, dataset, metric, seed=seed)
        except BenchmarkError:
            return None

    def _curve(self, index: int, dataset: str, metric: str, seed: int) -> list[float] | None:
        key = ("curve", index, dataset, metric, seed)
        if key not in self._memo:
            try:
                self._memo[key] = self.store.curve(index, dataset, metric, seed=seed).tolist()
            except BenchmarkError:
                self._memo[key] = None
        return self._memo[key]

    def _metrics(self, index: int, dataset: str, hp: str, setname: str, iepoch: int | None, is_random: Any) -> dict:
        """NATS's ``ArchResults.get_metrics``: per-seed values, then one seed, a random one or the mean."""
        seeds = self._seeds(index, dataset, hp)
        infos: dict[str, list[Any]] = collections.defaultdict(list)
        for seed in seeds:
            info = self._one_seed(index, dataset, hp, seed, setname, iepoch)
            for key, value in info.items():
                infos[key].append(value)
        if isinstance(is_random, bool) and is_random:
            pick = self._rng.randint(0, len(seeds) - 1)
            return {key: values[pick] for key, values in infos.items()}
        if isinstance(is_random, bool):
            return {key: _mean_or_none(values) for key, values in infos.items()}
        if isinstance(is_random, int):
            if is_random not in seeds:
                raise BenchmarkError(f"can not find random seed ({is_random}) from {seeds}")
            return {key: values[seeds.index(is_random)] for key, values in infos.items()}
        raise BenchmarkError(f"invalid value for is_random: {is_random}")

    def _try_metrics(self, *args: Any) -> dict | None:
        try:  # NATS leaves out a split the record lacks at that epoch (its broad except)
            return self._metrics(*args)
        except BenchmarkError:  # _Missing included
            return None

    def _one_seed(self, index: int, dataset: str, hp: str, seed: int, setname: str, iepoch: int | None) -> dict:
        """NATS's ``ResultsCount.get_train`` / ``get_eval`` for one seed."""
        epochs, sfx = self._SCHEDULES[hp], self._SUFFIX[hp]
        iepoch = epochs - 1 if iepoch is None else iepoch
        if iepoch < 0 or iepoch >= epochs:
            raise BenchmarkError(f"invalid iepoch={iepoch} < {epochs}")
        if setname == "train":
            stem = "train"
        else:
            stem = NATS_SPLITS[dataset].get("x-valid" if setname == "valid" else setname)
            if stem is None:
                raise _Missing(f"{setname}@{iepoch}")
        times = self._curve(index, dataset, f"{stem}_time{sfx}", seed)
        if setname != "train" and times is None:
            raise _Missing(f"{setname}@{iepoch} has no time")
        values = []
        for kind in ("loss", "acc"):
            curve = self._curve(index, dataset, f"{stem}_{kind}{sfx}", seed)
            value = curve[iepoch] if curve is not None else None
            if value is None and iepoch == epochs - 1:
                value = self._final(index, dataset, f"{stem}_{kind}{sfx}", seed)
            if value is None:
                raise _Missing(f"{setname}@{iepoch}")
            values.append(value)
        return {
            "iepoch": iepoch,
            "loss": values[0],
            "accuracy": values[1],
            "cur_time": times[iepoch] if times is not None else None,
            "all_time": sum(times[: iepoch + 1]) if times is not None else None,
        }

    def _times(self, index: int, dataset: str, hp: str, seed: int) -> dict[str, Any]:
        """NATS's ``ResultsCount.get_times`` for one seed."""
        sfx = self._SUFFIX[hp]
        info: dict[str, Any] = {}
        for name, stem in (("train", "train"), *NATS_SPLITS[dataset].items()):
            times = self._curve(index, dataset, f"{stem}_time{sfx}", seed)
            if times is None and name != "train" and not self._evaluated(index, dataset, stem + "_acc" + sfx, seed):
                continue  # NATS lists only the splits the record evaluated
            info[f"T-{name}@epoch"] = _mean(times) if times is not None else None
            info[f"T-{name}@total"] = sum(times) if times is not None else None
        return info

    def _evaluated(self, index: int, dataset: str, metric: str, seed: int) -> bool:
        return self._curve(index, dataset, metric, seed) is not None or (
            self._final(index, dataset, metric, seed) is not None
        )

    # --- internals: archs with seed means only -------------------------------------------------------------

    def _summary_info(self, index: int, dataset: str, iepoch: int | None, hp: str, is_random: Any) -> dict[str, Any]:
        epochs, sfx = SCHEDULES[hp], _SUFFIX[hp]  # NB201's seed means: no seed to draw (is_random is moot)
        if iepoch is not None and iepoch != epochs - 1:
            raise BenchmarkError(
                f"arch {index} has no per-epoch records on {dataset} in this store (only final seed means): "
                f"query iepoch=None, or import its NATS-Bench file with 'nasforge bench import nats'"
            )
        xinfo: dict[str, Any] = {}
        per_epoch = self._final(index, dataset, "train_time")
        if per_epoch is not None:
            xinfo["train-per-time"], xinfo["train-all-time"] = per_epoch, per_epoch * epochs
        splits = {"valid": "valid", "test": "test", "valtest": "ori_test"}
        for prefix, stem in splits.items():
            value = self._final(index, dataset, f"{stem}_acc{sfx}")
            if value is not None:
                xinfo[f"{prefix}-accuracy"] = value
        if not any(k.endswith("-accuracy") for k in xinfo):
            raise BenchmarkError(f"this store holds no {hp}-epoch results of arch {index} on {dataset}")
        return xinfo

    def _summary_costs(self, index: int, dataset: str, hp: str) -> dict[str, Any]:
        info: dict[str, Any] = {key: self._final(index, dataset, key) for key in ("flops", "params", "latency")}
        per_epoch = self._final(index, dataset, "train_time")
        info["T-train@epoch"] = per_epoch
        info["T-train@total"] = per_epoch * SCHEDULES[hp] if per_epoch is not None else None
        return info

    def _information(self, index: int, hp: str, extra_info: str | None) -> list[str]:
        """NATS's ``print_information`` lines."""
        datasets = self._datasets(index, hp)
        strings = [self.arch(index), f"datasets : {datasets}, extra-info : {extra_info}"]

        def metric2str(info: dict | None) -> str:
            if info is None:
                return "n/a"
            return f"loss = {info['loss']:.3f} & top1 = {info['accuracy']:.2f}%"

        for dataset in datasets:
            cost = self.get_cost_info(index, dataset, hp)
            latency = cost["latency"]
            shown = f"{latency * 1000:.2f}" if latency is not None and latency > 0 else None
            strings.append(
                f"{dataset:14s} FLOP={cost['flops']:6.2f} M, Params={cost['params']:.3f} MB, latency={shown} ms."
            )
            seeded = bool(self._seeds(index, dataset, hp))

            def metrics(setname: str, dataset: str = dataset, seeded: bool = seeded) -> dict | None:
                return self._try_metrics(index, dataset, hp, setname, None, False) if seeded else None

            train = f"{dataset:14s} train : [{metric2str(metrics('train'))}]"
            if dataset == "cifar10-valid":
                test = f", test : [{metric2str(metrics('ori-test'))}]" if self._C10_VALID_SHOWS_TEST else ""
                strings.append(f"{train}, valid : [{metric2str(metrics('x-valid'))}]{test}")
            elif dataset == "cifar10":
                strings.append(f"{train}, test  : [{metric2str(metrics('ori-test'))}]")
            else:
                valid, test = metric2str(metrics("x-valid")), metric2str(metrics("x-test"))
                strings.append(f"{train}, valid : [{valid}], test : [{test}]")
        return strings


class _Missing(NatsLookupError):
    """A split or epoch one NATS record lacks (NATS's KeyError/ValueError, caught where NATS catches it)."""


_COMMENT_C10_VALID = (
    "In this dict, train-loss/accuracy/time is the metric on the train set of CIFAR-10. The test-loss/accuracy/time "
    "is the performance of the CIFAR-10 test set after training on the train set by {:} epochs. The per-time and "
    "total-time indicate the per epoch and total time costs, respectively."
)
_COMMENT_C10 = (
    "In this dict, train-loss/accuracy/time is the metric on the train+valid sets of CIFAR-10. The test-loss/"
    "accuracy/time is the performance of the CIFAR-10 test set after training on the train+valid sets by {:} epochs. "
    "The per-time and total-time indicate the per epoch and total time costs, respectively."
)


class NASBench201API(NATStopology):
    """NAS-Bench-201's older API names (``nas_201_api`` 1.x): ``use_12epochs_result`` instead of ``hp``, and its
    default of the 200-epoch results (NATS's default is ``hp='12'``).

    ``NASBench201API(path_or_None, verbose=True)``; ``path`` as in :func:`create`.
    """

    def __init__(self, file_path_or_dict: str | os.PathLike | None = None, verbose: bool = True, **kwargs: Any) -> None:
        super().__init__(open_source(file_path_or_dict), verbose=verbose, **kwargs)

    def get_more_info(  # type: ignore[override]
        self,
        index: Any,
        dataset: str,
        iepoch: int | None = None,
        use_12epochs_result: bool = False,
        is_random: bool | int = True,
        *,
        hp: str | None = None,
    ) -> dict[str, Any]:
        return super().get_more_info(index, dataset, iepoch, _hp(use_12epochs_result, hp), is_random)

    def get_cost_info(  # type: ignore[override]
        self, index: Any, dataset: str, use_12epochs_result: bool = False, *, hp: str | None = None
    ) -> dict[str, Any]:
        return super().get_cost_info(index, dataset, _hp(use_12epochs_result, hp))

    def get_latency(  # type: ignore[override]
        self, index: Any, dataset: str, use_12epochs_result: bool = False, *, hp: str | None = None
    ) -> float | None:
        return super().get_latency(index, dataset, _hp(use_12epochs_result, hp))

    def query_by_arch(  # type: ignore[override]
        self, arch: Any, use_12epochs_result: bool = False, *, hp: str | None = None
    ) -> str | None:
        return super().query_info_str_by_arch(arch, _hp(use_12epochs_result, hp))


def _remap(dataset: str, metric_on_set: str) -> tuple[str, str]:
    """NATS's ``remap_dataset_set_names``: CIFAR-10's valid split is ``cifar10-valid``'s ``x-valid``, etc."""
    if dataset == "cifar10" and metric_on_set == "valid":
        return "cifar10-valid", "x-valid"
    if dataset == "cifar10" and metric_on_set == "test":
        return "cifar10", "ori-test"
    if dataset in ("cifar100", "ImageNet16-120") and metric_on_set in ("valid", "test"):
        return dataset, "x-" + metric_on_set
    return dataset, metric_on_set


def _hp(use_12epochs_result: Any, hp: str | None) -> str:
    if hp is not None:
        return str(hp)
    if isinstance(use_12epochs_result, str):  # nas_201_api 2.x passes hp in this position
        return use_12epochs_result
    return "12" if use_12epochs_result else "200"


# --- creating an API -------------------------------------------------------------------------------------------


def open_source(
    path: str | os.PathLike | None,
    *,
    default: Callable[[], BenchmarkStore] = load_nb201,
    builder: Callable[[], StoreBuilder] = StoreBuilder,
    importer: Callable[[StoreBuilder, list[Path]], Any] = import_nats,
) -> BenchmarkStore:
    """The store behind the API: ``None`` = the default store; a store directory; else NATS-Bench's own files.

    ``default``, ``builder`` and ``importer`` are the space's (NB201/tss here; the size space passes its own).

    NATS's files (its ``NATS-tss-v1_0-3ffb9-simple/`` directory with ``meta.pickle.pbz2``, per-arch files, or the
    one-file benchmark) are imported once into a store cached under ``$NASFORGE_CACHE``, keyed by the files'
    names, sizes and modification times. A path that is neither a file nor a directory raises ``ValueError``
    (:class:`BenchmarkError`), as in NATS.
    """
    if path is None:
        return default()
    if isinstance(path, dict):
        raise BenchmarkError("a dict loaded from NATS's file is not accepted: pass the file's or directory's path")
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise BenchmarkError(f"{path} is neither a file or a dir.")
    if (path / MANIFEST).is_file():
        return open_store(path)
    files = nats_files([path])

    def write(target: Path, overwrite: bool) -> None:
        new = builder()
        importer(new, files)
        new.write(target, overwrite=overwrite)

    return cached_store(f"nats-{path.name[:40]}-{source_tag(path)}", _cache_key(files), write)


def create_topology(
    path: str | os.PathLike | None, fast_mode: bool, verbose: bool, rng: random.Random | None
) -> NATStopology:
    return NATStopology(
        open_source(path), fast_mode=fast_mode, verbose=verbose, rng=rng, filename=Path(path).name if path else None
    )


def create_size(path: str | os.PathLike | None, fast_mode: bool, verbose: bool, rng: random.Random | None) -> Any:
    from nasforge.compat.nats_size import create_size as create  # the size space lives beside, on this machinery

    return create(path, fast_mode, verbose, rng)


# search-space name -> the function that opens its API
_SPACES: dict[str, Callable[[Any, bool, bool, Any], Any]] = {
    **dict.fromkeys(NATS_TSS_NAMES, create_topology),
    **dict.fromkeys(NATS_SSS_NAMES, create_size),
}


def create(
    file_path_or_dict: str | os.PathLike | None,
    search_space: str,
    fast_mode: bool = False,
    verbose: bool = True,
    *,
    rng: random.Random | None = None,
) -> NATStopology:
    """NATS-Bench's ``create``: the API of ``search_space`` over ``file_path_or_dict``: ``'tss'``/``'topology'``
    (:class:`NATStopology`) or ``'sss'``/``'size'`` (:class:`nasforge.compat.nats_size.NATSsize`).

    ``file_path_or_dict``: ``None`` (the space's default store), a nasforge store directory, NATS's directory
    (with ``meta.pickle.pbz2``) or one of its files. ``rng`` draws ``is_random`` seeds (default: Python's shared
    ``random``, as NATS). An unknown search space raises ``ValueError`` (:class:`BenchmarkError`) as in NATS.
    """
    factory = _SPACES.get(search_space)
    if factory is None:
        raise BenchmarkError(f"invalid search space : {search_space}")
    return factory(file_path_or_dict, fast_mode, verbose, rng)


def get_cell_based_tiny_net(config: dict[str, Any]) -> NB201Network | SSSNetwork:
    """The network of a ``get_net_config`` dict (NATS's ``xautodl.models`` function of this name), imports torch:
    ``'infer.tiny'`` (topology) is NB201's ``TinyNetwork`` as :class:`~nasforge.spaces.nb201_model.NB201Network`;
    ``'infer.shape.tiny'`` (size) is NATS's ``DynamicShapeTinyNet`` as
    :class:`~nasforge.spaces.nats_sss_model.SSSNetwork`."""
    from nasforge.spaces.nb201_model import NB201Network

    if config.get("name") == "infer.shape.tiny":
        from nasforge.compat.nats_size import size_network

        return size_network(config)
    if config.get("name") != "infer.tiny":
        raise ArchError(f"unsupported network config name {config.get('name')!r}; NATS-Bench's are 'infer.tiny' "
                        "(topology) and 'infer.shape.tiny' (size)")  # fmt: skip
    arch = NB201Arch.parse(config["arch_str"])
    return NB201Network(arch, num_classes=int(config["num_classes"]), C=int(config["C"]), N=int(config["N"]))
