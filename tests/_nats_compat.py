"""What the two NATS-Bench compat suites share (topology: test_compat_nats.py, size: test_compat_nats_size.py):
both APIs built over the same official directory, and the checks that every value of a call equals the official
API's, whichever space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nasforge.compat import nats


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The value, or the exception's type family (NATS's ValueError/KeyError) for calls that raise."""
    try:
        return fn(*args, **kwargs)
    except KeyError:
        return "KeyError"
    except ValueError:
        return "ValueError"


class Tostr:
    """An arch object as NATS accepts one: anything with ``tostr()``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def tostr(self) -> str:
        return self.text


def make_apis(directory: Path, space: str, cache: Path) -> tuple[Any, Any]:
    """(official ``nats_bench`` API, ours) on the same fast-mode directory, ours caching its store in ``cache``."""
    import nats_bench

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASFORGE_CACHE", str(cache))
        ours = nats.create(str(directory), space, fast_mode=True, verbose=False)
    return nats_bench.create(str(directory), space, fast_mode=True, verbose=False), ours


def check_get_more_info(apis: tuple, index: int, dataset: str, hp: str, epochs: tuple[int | None, ...]) -> None:
    """``get_more_info`` at each of ``epochs`` with every seed, the seed mean and an unknown seed; and the two
    epochs just outside the schedule raise ValueError in both."""
    official, ours = apis
    seeds = official.query_meta_info_by_index(index, hp).get_dataset_seeds(dataset)
    for iepoch in epochs:
        for is_random in (False, *seeds, 4242):
            want = call(official.get_more_info, index, dataset, iepoch, hp, is_random)
            assert call(ours.get_more_info, index, dataset, iepoch, hp, is_random) == want, (iepoch, is_random)
    for iepoch in (-1, int(hp)):
        assert call(official.get_more_info, index, dataset, iepoch, hp, False) == "ValueError"
        assert call(ours.get_more_info, index, dataset, iepoch, hp, False) == "ValueError"


def check_costs_latency_and_config(apis: tuple, index: int, dataset: str, hps: tuple[str, ...]) -> None:
    official, ours = apis
    for hp in hps:
        assert ours.get_cost_info(index, dataset, hp) == official.get_cost_info(index, dataset, hp)
        assert ours.get_latency(index, dataset, hp) == official.get_latency(index, dataset, hp)
    assert ours.get_net_config(index, dataset) == official.get_net_config(index, dataset)


def check_find_best(apis: tuple, archs: tuple[int, ...], dataset: str, metric_on_set: str, hp: str,
                    limits: tuple[tuple[float | None, float | None], ...]) -> None:  # fmt: skip
    """``find_best`` under each (FLOPs, params) limit, against NATS's fast mode over the archs it has loaded."""
    official, ours = apis
    for index in archs:  # NATS's fast mode searches the archs it has loaded (enforce_all=False)
        official.get_more_info(index, "cifar10", hp=hp)
    for flop_max, param_max in limits:
        want = official.find_best(dataset, metric_on_set, flop_max, param_max, hp=hp, enforce_all=False)
        assert ours.find_best(dataset, metric_on_set, flop_max, param_max, hp=hp) == want


def check_names_and_indices(apis: tuple, size: int, indices: tuple[int, ...], unknown: tuple[Any, ...]) -> None:
    """Length, ``arch``/``[]``/index lookups (strings and ``tostr`` objects), iteration, unknown archs (-1) and
    out-of-range indices (ValueError), as NATS answers them."""
    official, ours = apis
    assert len(ours) == len(official) == size
    for i in indices:
        assert ours.arch(i) == official.arch(i) and ours[i] == official[i]
        assert ours.query_index_by_arch(official.arch(i)) == official.query_index_by_arch(official.arch(i)) == i
        assert ours.query_index_by_arch(Tostr(official.arch(i))) == i
    assert ours[-1] == official[-1]
    assert list(zip(range(40), ours)) == list(zip(range(40), official))
    for arch in unknown:
        assert ours.query_index_by_arch(arch) == official.query_index_by_arch(arch) == -1
    for bad in (-1, size):
        assert call(ours.query_index_by_arch, bad) == call(official.query_index_by_arch, bad) == "ValueError"
        assert call(ours.arch, bad) == call(official.arch, bad) == "ValueError"


def check_show(apis: tuple, capsys: pytest.CaptureFixture, index: int) -> str:
    """``show(index)`` prints what NATS prints; returns it."""
    official, ours = apis
    capsys.readouterr()
    official.show(index)
    want = capsys.readouterr().out
    ours.show(index)
    assert capsys.readouterr().out == want
    return want
