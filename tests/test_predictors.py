"""Encodings worked by hand, models that recover a known additive function, the protocol's bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nasforge.errors import ConfigError, ProxyError
from nasforge.predictors import EvalSettings, Predictor, ZCTable, evaluate, onehot, path
from nasforge.spaces.nb201 import NB201Arch

# OPS order: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3; edges 01, 02, 12, 03, 13, 23


def test_onehot_of_the_best_arch() -> None:
    x = onehot([NB201Arch.from_op_code("333133")])[0]
    assert x.shape == (30,) and x.sum() == 6
    assert [int(np.flatnonzero(x[5 * k : 5 * k + 5])[0]) for k in range(6)] == [3, 3, 3, 1, 3, 3]


def test_path_encoding_by_hand() -> None:
    only_03 = NB201Arch.from_op_code("000300")  # one conv3x3 edge 0->3: the one-op path "conv3x3"
    one_two = NB201Arch.from_op_code("100020")  # skip 0->1 then conv1x1 1->3: path (skip, conv1x1)
    chain = NB201Arch.from_op_code("104004")  # 0->1 skip, 1->2 pool, 2->3 pool: path (skip, pool, pool)
    x = path([NB201Arch.from_op_code("000000"), only_03, one_two, chain])
    assert x.shape == (4, 155)
    assert x[0].sum() == 0
    assert np.flatnonzero(x[1]).tolist() == [3]
    assert np.flatnonzero(x[2]).tolist() == [5 + 5 * 1 + 2]
    assert np.flatnonzero(x[3]).tolist() == [30 + 25 * 1 + 5 * 4 + 4]


def additive(indices: np.ndarray) -> np.ndarray:
    """A target known exactly: a fixed weight per (edge, op), summed."""
    weights = np.random.default_rng(7).normal(size=30)
    return onehot(list(indices)) @ weights


@pytest.mark.parametrize("model", ["gbt", "rf", "gp", "mlp"])
def test_models_recover_an_additive_target(model: str) -> None:
    rng = np.random.default_rng(0)
    archs = rng.choice(15_625, 260, replace=False)
    train, test = archs[:200], archs[200:]
    p = Predictor(model, "onehot", seed=0).fit(list(train), additive(train))
    assert stats.spearmanr(p.predict(list(test)), additive(test)).statistic > 0.8
    spread = p.predict_std(list(test))
    assert spread.shape == (60,) and (spread >= 0).all()
    if model in ("rf", "mlp", "gp"):
        assert spread.max() > 0


def test_zc_encoding_reads_the_table_and_refuses_unscored_archs() -> None:
    col = np.full(15_625, np.nan)
    col[[3, 5]] = [1.5, -2.0]
    table = ZCTable({"synflow": col})
    assert table.covered().tolist() == [3, 5]
    assert Predictor("rf", "onehot+zc", zc=table)._x is not None
    from nasforge.predictors import encode

    assert encode([5, 3], "zc", table)[:, 0].tolist() == [-2.0, 1.5]
    with pytest.raises(ProxyError, match="arch 4"):
        encode([4], "zc", table)


def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown predictor 'svm'"):
        Predictor("svm", "onehot")
    with pytest.raises(ConfigError, match="unknown encoding 'adj'"):
        Predictor("gbt", "adj")
    with pytest.raises(ConfigError, match="needs zero-cost scores"):
        Predictor("gbt", "path+zc")
    targets = np.full(15_625, np.nan)
    targets[:50] = np.arange(50.0)
    with pytest.raises(ConfigError, match="more than the pool of 50"):
        evaluate(targets, EvalSettings("rf", "onehot", train_sizes=(10, 48)))


def test_evaluate_protocol_on_a_known_target() -> None:
    targets = additive(np.arange(15_625))
    r = evaluate(targets, EvalSettings("rf", "onehot", train_sizes=(10, 100), test_size=200, seeds=(0, 1)))
    assert (r["pool"], r["test_size"]) == (15_625, 200)
    small, large = r["curve"]
    assert large["spearman"] > small["spearman"] and large["spearman"] > 0.8
