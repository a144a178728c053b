"""One black-box search's settings as one frozen value, checked once, built from options or from a stored study.

``nasforge search`` builds a :class:`SearchSettings` from its arguments (or, with ``--resume``, from the
configuration the study recorded, with any option given again checked against it) and passes it down unchanged:
the evaluator, the optimizer, the study's configuration and the loop's :class:`~nasforge.search.loop.RunLimits`
are all built from it. A bad value raises :class:`~nasforge.errors.SettingError` naming the setting (``workers``,
``time_budget``, ...); the CLI says which of its flags that is.

>>> settings = SearchSettings(optimizer="rea", time_budget=12000.0)
>>> settings.limits.n_iter, settings.limits.time_budget, settings.executor_name
(None, 12000.0, 'local')
>>> SearchSettings(workers=0)
Traceback (most recent call last):
...
nasforge.errors.SettingError: workers must be a whole number >= 1, got 0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nasforge.benchmarks.blackbox import DEFAULT_OBJECTIVE, check_benchmark_dataset
from nasforge.errors import ConfigError, SettingError
from nasforge.objectives import format_objectives, parse_constraints, parse_objectives
from nasforge.search.executors import PLACES
from nasforge.search.loop import RunLimits
from nasforge.trial import DEFAULT_OBJECTIVES, Objective

DEFAULT_TRAIN_ITERATIONS = 5  # the seed exercise trains 5 models
DEFAULT_BENCHMARK_ITERATIONS = 100  # the seed's --use-api --n-iter 100


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SearchSettings:
    """Everything one ``nasforge search`` run is: what is searched, how trials are evaluated, when it stops and
    where trials run. ``n_iter`` and ``time_budget`` both ``None`` means the mode's default trial count
    (100 lookups, 5 trainings); ``executor`` ``None`` means ``process`` for training with K > 1, else ``local``."""

    space: str = "nb201"
    optimizer: str = "rs"
    optimizer_options: Mapping[str, Any] = field(default_factory=dict)  # non-default options (stored ones)
    seed: int = 0
    train: bool = False
    # benchmark mode
    benchmark: str = "cifar10"
    objective: str = DEFAULT_OBJECTIVE
    # Named objectives with directions and constraints (any store metric): "test_acc:max,latency_pixel3:min"
    # or a sequence of Objective; "latency_raspi4<=5" strings or Constraint values. Kept parsed.
    objectives: Any = ()
    constraints: Any = ()
    eval_cost_epochs: float = 0.0
    store: str | None = None  # absolute path; None: $NASFORGE_STORE or the store built from the data
    # The zero-cost proxy a NAME+zc optimizer (or one given zc_pool / zc_features) ranks archs by, and the store
    # holding its scores (absolute path; None: the benchmark store, which holds none unless one was merged in).
    zc: str | None = None
    zc_store: str | None = None
    record_store: bool = True  # False: a study from before the store was recorded (the store only locates data)
    # training mode
    dataset: str = "cifar10"  # a built-in name, or your own image folder / .npz (an absolute path)
    image_size: int | None = None  # your own data: resize every image to image_size x image_size
    epochs: int = 10
    train_fraction: float = 0.05
    valid_fraction: float = 0.1
    device: str = "auto"
    data_dir: str | None = None
    # stopping and execution
    n_iter: int | None = None
    time_budget: float | None = None
    workers: int = 1
    executor: str | None = None
    address: str | None = None
    max_retries: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0

    def __post_init__(self) -> None:
        from nasforge.optimizers import get_space, optimizer_class

        object.__setattr__(self, "optimizer_options", MappingProxyType(dict(self.optimizer_options)))
        checks: tuple[tuple[str, bool, str], ...] = (
            ("space", isinstance(self.space, str), "must be a space name"),
            ("optimizer", isinstance(self.optimizer, str), "must be an optimizer name"),
            ("seed", _whole(self.seed, 0), "must be a whole number >= 0"),
            ("train", isinstance(self.train, bool), "must be true or false"),
            ("benchmark", isinstance(self.benchmark, str), "must be a benchmark dataset name"),
            ("objective", isinstance(self.objective, str), "must be a metric name"),
            ("eval_cost_epochs", _number(self.eval_cost_epochs) and self.eval_cost_epochs >= 0,
             "must be a number >= 0"),
            ("store", self.store is None or isinstance(self.store, str), "must be a directory"),
            ("zc", self.zc is None or isinstance(self.zc, str), "must be a zero-cost proxy name"),
            ("zc_store", self.zc_store is None or isinstance(self.zc_store, str), "must be a directory"),
            ("dataset", isinstance(self.dataset, str), "must be a dataset name or path"),
            ("image_size", self.image_size is None or _whole(self.image_size, 1), "must be a whole number >= 1"),
            ("epochs", _whole(self.epochs, 1), "must be a whole number >= 1"),
            ("train_fraction", _number(self.train_fraction) and 0 < self.train_fraction <= 1, "must lie in (0, 1]"),
            ("valid_fraction", _number(self.valid_fraction) and 0 < self.valid_fraction < 1, "must lie in (0, 1)"),
            ("executor", self.executor is None or self.executor in PLACES, f"must be one of {', '.join(PLACES)}"),
            ("cpus_per_trial", _number(self.cpus_per_trial) and self.cpus_per_trial > 0, "must be a number > 0"),
            ("gpus_per_trial", _number(self.gpus_per_trial) and self.gpus_per_trial >= 0, "must be a number >= 0"),
        )  # fmt: skip
        for name, ok, what in checks:
            if not ok:
                raise SettingError(name, f"{what}, got {getattr(self, name)!r:.40}")
        if self.time_budget is not None and not _number(self.time_budget):
            raise SettingError("time_budget", f"must be a positive number of seconds, got {self.time_budget!r:.40}")
        self._parse_objectives()
        self.limits  # noqa: B018 - n_iter, time_budget, workers and max_retries are checked there, once
        named = [("space", get_space), ("optimizer", optimizer_class)]
        if not self.train:
            named.append(("benchmark", check_benchmark_dataset))
        for name, check in named:
            try:
                check(getattr(self, name))
            except ConfigError as exc:
                # The registry's message names the value and the known ones; its braces are not setting names.
                raise SettingError(name, str(exc).replace("{", "{{").replace("}", "}}"), whole=True) from None
        self._check_zero_cost()
        if self.address is not None and self.executor_name != "ray":
            raise SettingError("address", "joins a Ray cluster; set {executor} ray or drop {address}")
        if self.train and self.executor_name == "local" and self.workers > 1:
            raise SettingError("executor", f"local trains one arch at a time; use {{executor}} process (or ray) for "
                                           f"{{workers}} {self.workers}")  # fmt: skip

    @property
    def uses_zero_cost(self) -> bool:
        """Whether the optimizer ranks archs by a zero-cost proxy: a ``NAME+zc`` variant, or one of its zero-cost
        settings (``zc_pool``, ``zc_features``) turned on in ``optimizer_options``."""
        from nasforge.optimizers import is_zc_variant, optimizer_class

        preset = optimizer_class(self.optimizer).zc_preset
        return is_zc_variant(self.optimizer) or any(self.optimizer_options.get(k) for k in preset)

    def _check_zero_cost(self) -> None:
        if not self.uses_zero_cost:
            if self.zc is not None or self.zc_store is not None:
                raise SettingError("zc", "and {zc_store} feed the NAME+zc optimizers (rea+zc, bananas+zc); use one "
                                   "as {optimizer} or drop them")  # fmt: skip
            return
        if self.train or self.space != "nb201":
            raise SettingError("optimizer", f"{self.optimizer} ranks archs by zero-cost scores, which exist for "
                               "NB201 on the benchmark only; search nb201 without {train}", whole=True)  # fmt: skip
        if self.zc is None:
            raise SettingError("zc", f"is needed: {self.optimizer} ranks archs by a zero-cost proxy; give e.g. "
                               "{zc} synflow (with {zc_store} STORE, a store 'nasforge zc score' wrote)")  # fmt: skip
        # Whether the proxy exists is checked where its scores are read (nasforge.zerocost imports torch).

    def _parse_objectives(self) -> None:
        from nasforge.optimizers import OPTIMIZERS, check_named_objectives

        for name, parse in (("objectives", parse_objectives), ("constraints", parse_constraints)):
            value = getattr(self, name)
            try:
                parsed = parse(value) if value not in ((), None, "") else ()
            except (ConfigError, TypeError) as exc:
                raise SettingError(name, str(exc).replace("{", "{{").replace("}", "}}"), whole=True) from None
            object.__setattr__(self, name, parsed)
        if (self.objectives or self.constraints) and self.train:
            raise SettingError("objectives", "and {constraints} read store metrics; drop them or {train}")
        cls = OPTIMIZERS.get(self.optimizer)
        if cls is None:
            return  # named below, with the known optimizers
        if self.objectives:
            try:
                check_named_objectives(self.optimizer)
            except ConfigError as exc:
                raise SettingError("optimizer", f"{exc} with {{objectives}}", whole=True) from None
        if getattr(cls, "multi_objective", False):
            if len(self.objectives) < 2:
                raise SettingError("objectives", f"must name >= 2 metrics for the multi-objective optimizer "
                                   f"{self.optimizer}, e.g. valid_acc:max,latency_pixel3:min")  # fmt: skip
            given = self.optimizer_options.get("objectives")
            wanted = format_objectives(self.objectives)
            if given is not None and given != wanted:
                raise SettingError("objectives", f"{wanted!r} differ from the optimizer's stored {given!r}")
            object.__setattr__(self, "optimizer_options", MappingProxyType({**self.optimizer_options,
                                                                            "objectives": wanted}))  # fmt: skip

    @property
    def study_objectives(self) -> tuple[Objective, ...]:
        """The objectives the study records (its ``best_trials`` are non-dominated under them)."""
        return self.objectives or DEFAULT_OBJECTIVES

    @property
    def limits(self) -> RunLimits:
        """When the search stops and how many trials run at once (the mode's default trial count if neither)."""
        n_iter = self.n_iter
        if n_iter is None and self.time_budget is None:
            n_iter = DEFAULT_TRAIN_ITERATIONS if self.train else DEFAULT_BENCHMARK_ITERATIONS
        return RunLimits(n_iter, self.time_budget, self.workers, self.max_retries)

    @property
    def executor_name(self) -> str:
        """Where trials run: the given executor, else ``process`` for training with K > 1, else ``local``."""
        if self.executor is not None:
            return self.executor
        return "process" if self.train and self.workers > 1 else "local"

    @property
    def run_executor(self) -> bool:
        """Whether an executor must be started (not for one local worker: the sequential search)."""
        return not (self.executor_name == "local" and self.workers == 1)

    # --- the study's record -------------------------------------------------------------------------------------

    def study_config(self, optimizer_config: Mapping[str, Any], evaluator_config: Mapping[str, Any]) -> dict:
        """The configuration a study records (and a resume is read back from, :meth:`from_study_config`)."""
        config: dict[str, Any] = {
            "space": self.space,
            "optimizer": dict(optimizer_config),
            "evaluator": dict(evaluator_config),
            "seed": self.seed,
            "n_iter": self.limits.n_iter,
            "time_budget": self.time_budget,
        }
        if self.workers > 1:  # absent for one worker, so studies written before parallel search still resume
            config["workers"] = self.workers
        if self.store is not None and not self.train and self.record_store:  # absent for the default store
            config["evaluator"]["store"] = self.store
        if self.zc_store is not None:  # the proxy itself is the optimizer's zc_proxy
            config["zc_store"] = self.zc_store
        return config

    @staticmethod
    def stored(config: Mapping[str, Any]) -> dict[str, Any]:
        """The settings a study's recorded configuration holds (keyword arguments of this class; the settings a
        study does not record, such as where trials run, are absent). Their values are checked when the settings
        are built from them; a configuration that is not a search's at all raises :class:`ConfigError`."""
        try:
            optimizer = dict(config["optimizer"])
            evaluator = config["evaluator"]
            stored: dict[str, Any] = {
                "space": config["space"],
                "optimizer": optimizer.pop("name"),
                "seed": config["seed"],
                "n_iter": config["n_iter"],
                "time_budget": config["time_budget"],
                "workers": config.get("workers", 1),
                "train": evaluator["kind"] == "train",
            }
            optimizer.pop("space", None)
            if "zc_proxy" in optimizer:  # a zero-cost-aware optimizer records the proxy it was given
                stored["zc"] = optimizer.pop("zc_proxy")
                stored["zc_store"] = config.get("zc_store")
            stored["optimizer_options"] = optimizer
            if stored["train"]:
                stored.update({k: evaluator[k] for k in ("epochs", "train_fraction", "valid_fraction", "dataset")})
                stored["image_size"] = evaluator.get("image_size")  # absent: a study from before own data
            else:
                stored.update(benchmark=evaluator["dataset"], eval_cost_epochs=evaluator["eval_cost_epochs"],
                              objective=evaluator["objective"][str(evaluator["default_fidelity"])],
                              objectives=evaluator.get("objectives", ()),
                              constraints=tuple(evaluator.get("constraints", ())))  # fmt: skip
                if "store" in evaluator:
                    stored["store"] = evaluator["store"]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"the stored configuration does not record the settings of a nasforge search ({exc!r} "
                              "missing)") from None  # fmt: skip
        return stored
