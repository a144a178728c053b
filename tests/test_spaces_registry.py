"""Contract tests over every registered search space and each of its views (nasforge.spaces.registry)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.errors import ConfigError
from nasforge.spaces.registry import SPACES, blackbox_view, get_space, list_spaces, oneshot_view

BLACKBOX = list_spaces("blackbox")
ONESHOT = list_spaces("oneshot")


def test_every_space_has_a_view_and_the_lists_agree() -> None:
    assert set(BLACKBOX) | set(ONESHOT) == set(SPACES) == set(list_spaces())
    assert all(SPACES[n].kinds for n in SPACES)
    assert "nb201" in BLACKBOX and {"darts-mnist", "darts", "nb201"} <= set(ONESHOT)


@pytest.mark.parametrize("name", list(SPACES))
def test_space_value(name: str) -> None:
    space = get_space(name)
    assert space.name == name and len(space.ops) == len(set(space.ops)) >= 2
    assert space.to_dict()["ops"] == list(space.ops)


def test_unknown_names_and_missing_views() -> None:
    with pytest.raises(ConfigError, match="unknown search space 'darts-xl'; valid spaces: darts-mnist, darts, nb201"):
        get_space("darts-xl")
    with pytest.raises(ConfigError, match="unknown one-shot space 'foo'"):
        oneshot_view("foo")
    with pytest.raises(ConfigError, match="'darts' has no blackbox view.*search spaces: nb201"):
        blackbox_view("darts")


# --- black-box views: what every ask/tell optimizer relies on --------------------------------------------------


@pytest.mark.parametrize("name", BLACKBOX)
def test_blackbox_size_and_encoding(name: str) -> None:
    view = blackbox_view(name)
    assert view.name == name and view.size == math.prod(view.choices)
    archs = [view.sample(np.random.default_rng(s)) for s in range(50)]
    for arch in archs:
        codes = view.encode(arch)
        assert len(codes) == len(view.choices) and all(0 <= c < k for c, k in zip(codes, view.choices))
        assert view.decode(codes) == arch
    # The encoding is a bijection onto the product of choices: the corner codes decode to distinct archs.
    low, high = view.decode((0,) * len(view.choices)), view.decode(tuple(k - 1 for k in view.choices))
    assert low != high


@pytest.mark.parametrize("name", BLACKBOX)
def test_blackbox_sampling_is_seeded_and_covers_choices(name: str) -> None:
    view = blackbox_view(name)
    first = [view.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = np.random.default_rng(0)
    codes = np.array([view.encode(view.sample(rng)) for _ in range(2000)])
    for i, k in enumerate(view.choices):  # every value of every variable is drawn (uniform: ~2000/k each)
        counts = np.bincount(codes[:, i], minlength=k)
        assert counts.min() > 0.5 * 2000 / k


@pytest.mark.parametrize("name", BLACKBOX)
def test_blackbox_mutate_and_neighbors_change_one_variable(name: str) -> None:
    view = blackbox_view(name)
    rng = np.random.default_rng(1)
    for _ in range(50):
        arch = view.sample(rng)
        diff = np.array(view.encode(view.mutate(arch, rng))) != np.array(view.encode(arch))
        assert diff.sum() == 1
    arch = view.sample(rng)
    neighbors = view.neighbors(arch)
    assert len(neighbors) == sum(k - 1 for k in view.choices) == len(set(neighbors))
    assert all((np.array(view.encode(n)) != np.array(view.encode(arch))).sum() == 1 for n in neighbors)


# --- one-shot views: what DARTS relies on ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ONESHOT)
def test_oneshot_protocol_fills_every_search_default(name: str) -> None:
    from dataclasses import fields

    from nasforge.oneshot import SearchConfig

    view = oneshot_view(name)
    assert view.default_C >= 1 and view.default_layers >= 1
    defaulted = {f.name for f in fields(SearchConfig) if f.default is None and f.name not in ("C", "layers")}
    assert set(view.protocol) == defaulted
    config = SearchConfig(space=name, dataset="mnist")
    assert all(getattr(config, k) == v for k, v in view.protocol.items())


@pytest.mark.parametrize("name", ONESHOT)
def test_oneshot_supernet_has_one_alpha_column_per_op(name: str) -> None:
    from nasforge.oneshot import build_supernet

    net = build_supernet(name, "mnist", C=4, layers=1 if name != "darts-mnist" else None)
    assert all(a.shape[-1] == len(get_space(name).ops) for a in net.arch_parameters())
