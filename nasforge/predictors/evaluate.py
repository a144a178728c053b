"""The "how powerful are performance predictors" protocol (White et al., NeurIPS 2021), on benchmark targets.

Per seed: the pool of archs (all archs with a target, and with zero-cost scores where the encoding reads them) is
shuffled; the first ``test_size`` are held out, and for each training size ``n`` the predictor is fitted on the next
``n`` archs and scored by the Spearman (and Kendall) rank correlation of its predictions with the held-out targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.errors import ConfigError
from nasforge.predictors.encodings import ZCTable
from nasforge.predictors.models import Predictor

TRAIN_SIZES = (10, 20, 50, 100, 200, 400)
TEST_SIZE = 1000


@dataclass(frozen=True)
class EvalSettings:
    """``test_size`` None: 1,000, or what the pool leaves after the largest training set if it is smaller."""

    model: str
    encoding: str
    train_sizes: tuple[int, ...] = TRAIN_SIZES
    test_size: int | None = None
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if not self.train_sizes or min(self.train_sizes) < 2:
            raise ConfigError(f"training sizes must be at least 2, got {list(self.train_sizes)}")
        if self.test_size is not None and self.test_size < 3:
            raise ConfigError(f"the test set needs at least 3 archs, got {self.test_size}")
        if not self.seeds:
            raise ConfigError("give at least one seed")


def evaluate(targets: np.ndarray, settings: EvalSettings, zc: ZCTable | None = None) -> dict[str, Any]:
    """Run the protocol. ``targets`` is the benchmark metric by official index (NaN = none). Returns the pool and test
    sizes and, per training size, the mean and std over seeds of Spearman and Kendall."""
    from scipy import stats

    pool = np.flatnonzero(np.isfinite(targets))
    if "zc" in settings.encoding.split("+"):
        if zc is None:
            raise ConfigError(f"encoding {settings.encoding!r} needs zero-cost scores")
        pool = np.intersect1d(pool, zc.covered())
    largest = max(settings.train_sizes)
    test_size = settings.test_size if settings.test_size is not None else min(TEST_SIZE, len(pool) - largest)
    if largest + test_size > len(pool) or test_size < 3:
        raise ConfigError(
            f"training size {largest} plus {test_size} held-out archs is more than the pool of {len(pool)} archs "
            f"with {'scores and ' if zc is not None else ''}targets; use smaller --train-sizes or --test-size"
        )
    curves: dict[int, dict[str, list[float]]] = {n: {"spearman": [], "kendall": []} for n in settings.train_sizes}
    for seed in settings.seeds:
        order = np.random.default_rng(seed).permutation(pool)
        test, rest = order[:test_size], order[test_size:]
        for n in settings.train_sizes:
            train = rest[:n]
            pred = Predictor(settings.model, settings.encoding, seed=seed, zc=zc).fit(train, targets[train])
            guess = pred.predict(test)
            curves[n]["spearman"].append(float(stats.spearmanr(guess, targets[test]).statistic))
            curves[n]["kendall"].append(float(stats.kendalltau(guess, targets[test]).statistic))
    return {
        "model": settings.model,
        "encoding": settings.encoding,
        "pool": int(len(pool)),
        "test_size": int(test_size),
        "seeds": list(settings.seeds),
        "curve": [
            {"train_size": n, "spearman": float(np.mean(c["spearman"])), "spearman_std": float(np.std(c["spearman"])),
             "kendall": float(np.mean(c["kendall"]))}
            for n, c in curves.items()
        ],
    }  # fmt: skip
