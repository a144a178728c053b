"""The NAS-Bench-201 exercise sheet's API: its class names, signatures and return types, over nasforge's parts.

Nothing here is a second implementation. The ops are the modules of :data:`nasforge.spaces.nb201_model.OPS`,
the cell computes with :class:`~nasforge.spaces.nb201_model.NB201Cell`'s forward pass, the macro graph is
:class:`~nasforge.spaces.nb201_model.NB201Network`, random search asks nasforge's
:class:`~nasforge.optimizers.RandomSearch`, training is :func:`nasforge.train.train` under the
:class:`~nasforge.search.evaluators.TrainProtocol` (5 % of CIFAR-10, 10 epochs), and the benchmark API reads a
nasforge store (a seed-format pickle is imported into one once, as by :mod:`nasforge.benchmarks.api`).

>>> cell = NASBench201CellSearchSpace(in_channels=16)          # the sheet's default: skip_connect everywhere
>>> cell.get_string_representation()
'|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
>>> sorted(cell.nodes), type(cell.edges[0, 3]["op"]).__name__
([0, 1, 2, 3], 'CategoricalOp')

Where the sheet's reference code and NAS-Bench-201 differ, these classes keep NAS-Bench-201 (the sheet's
macro graph lacks the final BatchNorm + ReLU; its average pool counts the zero padding): see
``docs/exercises.md`` for the list and for what it changes in the sheet's test values.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any

import networkx as nx
from ConfigSpace import Configuration, ConfigurationSpace
from torch import nn

from nasforge.benchmarks.api import NB201BenchmarkAPI as _StoreAPI
from nasforge.errors import ArchError, BenchmarkError, ConfigError
from nasforge.search.evaluators import TrainProtocol
from nasforge.spaces.nb201 import EDGES, NUM_NODES, NB201Arch, config_space, edge_name
from nasforge.spaces.nb201_model import OPS, NB201Cell, NB201Network, Zero, relu_conv_bn
from nasforge.spaces.nb201_model import CategoricalOp as _EdgeOp

__all__ = [
    "BenchmarkAPI",
    "CategoricalOp",
    "Dataset",
    "Identity",
    "Metric",
    "NASBench201CellSearchSpace",
    "NASBench201MacroGraph",
    "NB201BenchmarkAPI",
    "RandomSearchOptimizer",
    "ReLUConvBN",
    "Zero",
]

Identity = nn.Identity
"""The sheet's ``skip_connect`` op (NB201's identity)."""

SHEET_DEFAULT_OP = "skip_connect"  # the sheet's configuration space lists skip_connect first: its default


# --- ops, cell, macro graph -----------------------------------------------------------------------------------


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv2d ('same' padding, no bias) → BatchNorm2d: NB201's conv op, as the sheet names it.

    The modules are those of :func:`nasforge.spaces.nb201_model.relu_conv_bn`; the sheet reads them as
    ``.seq[0..2]`` and the conv's geometry as ``.kernel_size`` and ``.stride`` (ints).
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(*relu_conv_bn(C_in, C_out, kernel_size, stride))
        self.kernel_size = kernel_size
        self.stride = stride

    @property
    def seq(self) -> nn.Sequential:
        return self


class CategoricalOp(_EdgeOp):
    """``CategoricalOp(in_channels=16, op="skip_connect")``: one cell edge holding the op named ``op`` at ``.op``.

    ``.op`` is a :class:`ReLUConvBN` for ``nor_conv_1x1`` / ``nor_conv_3x3``, ``nn.AvgPool2d`` for
    ``avg_pool_3x3`` (NB201's: padding not counted), ``nn.Identity`` for ``skip_connect`` and :class:`Zero`
    for ``none``. An unknown op name raises :class:`~nasforge.errors.ArchError`.
    """

    ops = MappingProxyType(
        {**OPS, "nor_conv_1x1": lambda C: ReLUConvBN(C, C, 1), "nor_conv_3x3": lambda C: ReLUConvBN(C, C, 3)}
    )

    def __init__(self, in_channels: int = 16, op: str = SHEET_DEFAULT_OP) -> None:
        super().__init__(op, in_channels)
        self.in_channels = in_channels


def _arch_of(config: Configuration | Mapping[str, str] | NB201Arch | None) -> NB201Arch:
    if config is None:
        return NB201Arch((SHEET_DEFAULT_OP,) * len(EDGES))
    if isinstance(config, NB201Arch):
        return config
    return NB201Arch.from_config(config)


class NASBench201CellSearchSpace(nx.DiGraph, NB201Cell):
    """``NASBench201CellSearchSpace(in_channels=16, config=None)``: an NB201 cell that is both an ``nn.Module``
    and a ``networkx.DiGraph``.

    Nodes 0..3; each of the six edges carries its :class:`CategoricalOp` under ``'op'`` (the same module
    objects that compute the forward pass, so re-initialising ``cell.edges[0, 2]['op'].op.seq[1].weight``
    changes the output). ``config`` is a configuration of :meth:`get_configuration_space` (a ConfigSpace
    ``Configuration`` or a dict ``edge_i-j -> op``), or an :class:`NB201Arch`; ``None`` is the sheet's
    default (every edge ``skip_connect``). ``forward`` maps ``(batch, in_channels, H, W)`` to the same shape.
    """

    # DiGraph keeps its graph-attribute dict in ``self.graph``; this class *is* the graph, so NB201Cell's
    # ``graph`` view property is shadowed by a plain (instance) attribute.
    graph: dict[str, Any] = None  # type: ignore[assignment]

    def __init__(self, in_channels: int = 16, config: Configuration | Mapping[str, str] | None = None) -> None:
        nx.DiGraph.__init__(self)
        arch = _arch_of(config)
        NB201Cell.__init__(self, arch, in_channels)
        self.in_channels = in_channels
        self.config = arch.to_config()
        self.add_nodes_from(range(NUM_NODES))
        for name in sorted(self.config):  # the sheet's edge order: its configuration's (sorted) names
            k = [edge_name(e) for e in EDGES].index(name)
            self.add_edge(*EDGES[k], op=self.layers[k])

    def _make_op(self, op_name: str, C: int) -> CategoricalOp:
        return CategoricalOp(in_channels=C, op=op_name)

    @staticmethod
    def get_configuration_space() -> ConfigurationSpace:
        """Six categorical hyperparameters ``edge_0-1`` ... ``edge_2-3``, choices the five NB201 ops, each
        defaulting to ``skip_connect`` (as in the sheet)."""
        return config_space(default_op=SHEET_DEFAULT_OP)

    def get_string_representation(self) -> str:
        """NB201's arch string, e.g. ``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|``."""
        return self.arch.to_string()


class NASBench201MacroGraph(NB201Network):
    """``NASBench201MacroGraph(config, C=16, N=5, num_classes=10)``: NB201's network with every cell a
    :class:`NASBench201CellSearchSpace` of ``config``. Input ``(batch, 3, 32, 32)``, output logits
    ``(batch, num_classes)``. Unlike the sheet's reference macro graph it keeps NB201's BatchNorm + ReLU
    before the global pooling (``docs/exercises.md``)."""

    def __init__(
        self, config: Configuration | Mapping[str, str] | None, C: int = 16, N: int = 5, num_classes: int = 10
    ) -> None:
        super().__init__(_arch_of(config), num_classes=num_classes, C=C, N=N)

    def _make_cell(self, arch: NB201Arch, C: int) -> nn.Module:
        return NASBench201CellSearchSpace(C, arch)


# --- the benchmark API ----------------------------------------------------------------------------------------


class Metric(Enum):
    """The sheet's metric names; each value is the key of that list in the seed-format pickle."""

    TRAIN_ACCURACY = "train_acc1es"
    VAL_ACCURACY = "eval_acc1es"
    TRAIN_LOSS = "train_losses"
    VAL_LOSS = "eval_losses"
    TRAIN_TIME = "train_time"
    PARAMS = "params"


class Dataset(Enum):
    """The sheet's datasets. ``CIFAR10`` is NB201's ``cifar10-valid`` (trained on 25k images)."""

    CIFAR10 = "cifar10-valid"
    CIFAR100 = "cifar100"
    IMAGENET = "ImageNet16-120"


# metric -> (store metric of the per-epoch list or number, store metric of the entry NB201 appends to eval lists)
_STORE_NAMES: dict[Metric, tuple[str, str | None]] = {
    Metric.TRAIN_ACCURACY: ("train_acc", None),
    Metric.TRAIN_LOSS: ("train_loss", None),
    Metric.VAL_ACCURACY: ("valid_acc", "test_acc"),
    Metric.VAL_LOSS: ("valid_loss", "test_loss"),
    Metric.TRAIN_TIME: ("train_time", None),
    Metric.PARAMS: ("params", None),
}


class BenchmarkAPI:
    """The sheet's base class of benchmark APIs: it only remembers the dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset


class NB201BenchmarkAPI(BenchmarkAPI):
    """``NB201BenchmarkAPI(path, Dataset.CIFAR10).query(arch, metric, last_epoch_only=False)``: the seed file's
    lists exactly as stored.

    ``path`` is the sheet's pickle (``nb201_cifar10_full_training.pickle``: imported once, safely, into a
    store cached under ``$NASFORGE_CACHE``) or a nasforge store directory. Train lists hold 200 epochs. The
    eval lists of ``cifar10-valid`` hold **201** entries: epochs 0..199 on the validation split, then the one
    value NB201 appends, the final accuracy (loss) on ``ori-test``. This API returns all 201 and, with
    ``last_epoch_only=True``, the 201st, as the sheet's reference solution does; nasforge's own
    :class:`nasforge.benchmarks.NB201BenchmarkAPI` names the splits instead (200 ``valid`` + ``test``).
    ``TRAIN_TIME`` (seconds per epoch) and ``PARAMS`` (millions) are numbers. An arch or metric the file
    lacks raises :class:`~nasforge.errors.BenchmarkError` / :class:`~nasforge.errors.ArchError`.
    """

    def __init__(self, data_file_path: str | os.PathLike, dataset: Dataset | str = Dataset.CIFAR10) -> None:
        try:
            dataset = Dataset(dataset)
        except ValueError:
            known = ", ".join(f"Dataset.{d.name} ({d.value})" for d in Dataset)
            raise BenchmarkError(f"unknown dataset {dataset!r}; the sheet's datasets are {known}") from None
        super().__init__(dataset)
        self.data_file_path = data_file_path
        self.store = _StoreAPI(data_file_path, dataset.value).store

    def query(self, arch: str | NB201Arch, metric: Metric | str, last_epoch_only: bool = False) -> Any:
        """A metric's per-epoch list (``last_epoch_only=False``) or its last stored entry; see the class docs."""
        try:
            metric = Metric[metric] if isinstance(metric, str) and metric in Metric.__members__ else Metric(metric)
        except ValueError:
            raise BenchmarkError(f"unknown metric {metric!r}; use one of {', '.join(Metric.__members__)}") from None
        name, appended = _STORE_NAMES[metric]
        dataset = self.dataset.value
        if metric in (Metric.TRAIN_TIME, Metric.PARAMS):
            return self.store.query(arch, dataset, name)
        values = self.store.curve(arch, dataset, name).tolist()
        if appended is not None and dataset == Dataset.CIFAR10.value and appended in self.store.metrics(dataset):
            # NB201 appends the ori-test value to cifar10-valid's eval lists; the importer stored it as `appended`.
            final = self.store.query_many([arch], dataset, appended, missing="nan")[0]
            if final == final:
                values.append(float(final))
        return values[-1] if last_epoch_only else values


# --- random search --------------------------------------------------------------------------------------------


class RandomSearchOptimizer:
    """``RandomSearchOptimizer(search_config_space, init_model_fn)``: the sheet's random search.

    Archs are asked from nasforge's :class:`~nasforge.optimizers.RandomSearch` (seeded by ``seed``; an arch
    is never sampled twice) and turned into configurations of ``search_config_space``; ``init_model_fn``
    builds the network (e.g. ``lambda config: NASBench201MacroGraph(config, N=5)``). Training follows
    ``protocol`` (default: the sheet's, 5 % of CIFAR-10 for 10 epochs, from ``data_dir`` or ``NASFORGE_DATA``).
    """

    def __init__(
        self,
        search_config_space: ConfigurationSpace,
        init_model_fn: Callable[[Configuration], nn.Module],
        *,
        seed: int = 0,
        protocol: TrainProtocol | None = None,
        data_dir: str | os.PathLike | None = None,
    ) -> None:
        from nasforge.optimizers import RandomSearch
        from nasforge.search.evaluators import TrainEvaluator

        missing = [edge_name(e) for e in EDGES if edge_name(e) not in search_config_space]
        if missing:
            raise ConfigError(f"the search space lacks {', '.join(missing)}: use get_configuration_space()")
        self.search_config_space = search_config_space
        self.model_init_fn = init_model_fn
        self.seed = seed
        self._optimizer = RandomSearch(seed)
        self._trainer = TrainEvaluator(protocol, seed=seed, data_dir=None if data_dir is None else str(data_dir))

    def search(
        self, n_iter: int = 1000, api: NB201BenchmarkAPI | None = None
    ) -> tuple[list[tuple[Configuration, dict[str, float]]], tuple[Configuration, dict[str, float]]]:
        """Sample and evaluate ``n_iter`` archs; returns ``(trajectory, incumbent)``.

        ``trajectory`` lists ``(configuration, result)`` in evaluation order and ``incumbent`` is the entry
        with the highest ``val_acc``; ``result`` is :meth:`evaluate`'s dict.
        """
        from nasforge.trial import Result

        if not isinstance(n_iter, int) or n_iter < 1:
            raise ConfigError(f"n_iter must be a positive integer, got {n_iter!r}")
        trajectory = []
        for _ in range(n_iter):
            request = self._optimizer.ask()
            config = Configuration(self.search_config_space, values=request.arch.to_config())
            result = self.evaluate(self.model_init_fn(config), api)
            self._optimizer.tell(request, Result.complete(result["val_acc"], cost=result["train_time"]))
            trajectory.append((config, result))
        return trajectory, max(trajectory, key=lambda entry: entry[1]["val_acc"])

    def evaluate(self, model: nn.Module, api: NB201BenchmarkAPI | None = None) -> dict[str, float]:
        """``train_acc``, ``train_loss``, ``val_acc``, ``val_loss`` (%, cross-entropy) of the last epoch,
        ``train_time`` (seconds per epoch) and ``params`` (millions).

        With ``api`` they are looked up for ``model.arch``; ``val_acc``/``val_loss`` are then the last
        *validation* epoch (entry 200 of the file's list, not the appended ``ori-test`` entry), and a metric
        the benchmark does not record for the arch is NaN (a missing ``val_acc`` raises
        :class:`~nasforge.errors.BenchmarkError`). Without ``api`` the model is trained in place under the
        protocol.
        """
        if api is not None:
            return self._lookup(model, api)
        from nasforge.train import TrainConfig, train

        p = self._trainer.protocol
        train_set, valid_set = self._trainer.datasets()
        config = TrainConfig(epochs=p.epochs, batch_size=p.batch_size, seed=self.seed, device=p.device)
        start = time.perf_counter()
        final = train(model, train_set, valid_set, config, progress=False).final
        return {
            "train_acc": final.train_acc,
            "train_loss": final.train_loss,
            "val_acc": float(final.valid_acc),
            "val_loss": float(final.valid_loss),
            "train_time": (time.perf_counter() - start) / p.epochs,
            "params": sum(t.numel() for t in model.parameters()) / 1e6,
        }

    @staticmethod
    def _lookup(model: nn.Module, api: NB201BenchmarkAPI) -> dict[str, float]:
        arch = getattr(model, "arch", None)
        if not isinstance(arch, NB201Arch):
            raise ArchError(f"cannot look up a {type(model).__name__}: the benchmark knows NASBench201MacroGraph nets")
        store, dataset = api.store, api.dataset.value
        # Final values: each list's last epoch (for eval lists epoch 199, before NB201's appended ori-test entry).
        # A metric the benchmark lacks for this arch is NaN (the offline NB201 data records losses for 3 archs).
        result = {
            key: float(store.query_many([arch], dataset, metric, missing="nan")[0])
            if metric in store.metrics(dataset)
            else math.nan
            for key, metric in _RESULT_METRICS.items()
        }
        if math.isnan(result["val_acc"]):
            raise BenchmarkError(f"{api.data_file_path} has no validation accuracy for {arch.to_string()} on {dataset}")
        return result


_RESULT_METRICS = {"train_acc": "train_acc", "train_loss": "train_loss", "val_acc": "valid_acc",
                   "val_loss": "valid_loss", "train_time": "train_time", "params": "params"}  # fmt: skip
