"""Performance predictors: ``fit(archs, y)`` / ``predict(archs)`` over an encoding, models from scikit-learn.

Models: ``gbt`` (gradient-boosted trees, scikit-learn's), ``rf`` (random forest), ``gp`` (Gaussian
process, Matern-5/2 + white noise), ``mlp`` (an ensemble of 5 scikit-learn MLPs from different seeds). Features are
standardised on the training set. :meth:`Predictor.predict_std` gives the spread the model knows (ensemble members,
trees, GP posterior) for acquisition functions such as BANANAS' Thompson sampling. No torch: optimizers may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasforge.errors import ConfigError
from nasforge.predictors.encodings import ZCTable, check_encoding, encode
from nasforge.spaces.nb201 import NB201Arch

MODELS = ("gbt", "rf", "gp", "mlp")
MLP_MEMBERS = 5


def _make(model: str, seed: int) -> Any:
    if model == "gbt":
        from sklearn.ensemble import GradientBoostingRegressor

        # The exact (single-threaded) GBT: at 10-400 training archs the histogram variant's OpenMP threads cost more
        # than they save; depth-3 trees, shrinkage 0.05 as in NASLib's GBDT defaults.
        return GradientBoostingRegressor(n_estimators=300, learning_rate=0.05, max_depth=3, min_samples_leaf=2,
                                         subsample=1.0, random_state=seed)  # fmt: skip
    if model == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=200, min_samples_leaf=1, random_state=seed, n_jobs=1)
    if model == "gp":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import Matern, WhiteKernel

        kernel = Matern(length_scale=1.0, nu=2.5) + WhiteKernel(1e-2, noise_level_bounds=(1e-8, 1e1))
        return GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0)
    if model == "mlp":
        from sklearn.neural_network import MLPRegressor

        return [MLPRegressor(hidden_layer_sizes=(64, 64), alpha=1e-3, max_iter=300, random_state=seed + k)
                for k in range(MLP_MEMBERS)]  # fmt: skip
    raise ConfigError(f"unknown predictor {model!r}; known: {', '.join(MODELS)}")


@dataclass
class Predictor:
    """A model over an encoding. ``zc`` supplies zero-cost features for the ``zc`` encodings.

    >>> p = Predictor("rf", "onehot", seed=0).fit([0, 1, 2, 3], np.array([80.0, 90.0, 85.0, 70.0]))
    >>> p.predict([1]).shape
    (1,)
    """

    model: str
    encoding: str
    seed: int = 0
    zc: ZCTable | None = None
    _est: Any = field(default=None, repr=False)
    _mean: np.ndarray | None = field(default=None, repr=False)
    _std: np.ndarray | None = field(default=None, repr=False)
    _y: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        _make(self.model, self.seed)  # an unknown model fails here, before any fitting
        check_encoding(self.encoding, self.zc)

    def _x(self, archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
        x = encode(archs, self.encoding, self.zc)
        return (x - self._mean) / self._std

    def fit(self, archs: Sequence[NB201Arch | int | str], y: np.ndarray) -> Predictor:
        """Fit on ``archs`` with targets ``y`` (n,); at least 2 archs."""
        y = np.asarray(y, dtype=np.float64)
        if len(archs) != len(y) or len(y) < 2:
            raise ConfigError(f"fit needs at least 2 archs and one target per arch, got {len(archs)} and {len(y)}")
        raw = encode(archs, self.encoding, self.zc)
        self._mean, self._std = raw.mean(axis=0), raw.std(axis=0)
        self._std[self._std == 0] = 1.0
        x = (raw - self._mean) / self._std
        self._y = (float(y.mean()), float(y.std()) or 1.0)
        target = (y - self._y[0]) / self._y[1]
        self._est = _make(self.model, self.seed)
        for est in self._est if isinstance(self._est, list) else [self._est]:
            est.fit(x, target)
        return self

    def _members(self, archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
        if self._est is None:
            raise ConfigError("predict before fit: call fit(archs, y) first")
        x = self._x(archs)
        if isinstance(self._est, list):
            return np.stack([e.predict(x) for e in self._est])
        if self.model == "rf":
            return np.stack([t.predict(x) for t in self._est.estimators_])
        return self._est.predict(x)[None, :]

    def predict(self, archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
        """Predicted targets (n,), in the units of ``y``."""
        if self.model == "gp":
            return self._est_check().predict(self._x(archs)) * self._y[1] + self._y[0]
        return self._members(archs).mean(axis=0) * self._y[1] + self._y[0]

    def predict_std(self, archs: Sequence[NB201Arch | int | str]) -> np.ndarray:
        """The model's spread (n,): std over MLP members or forest trees, the GP's posterior std; 0 for ``gbt``."""
        if self.model == "gp":
            return self._est_check().predict(self._x(archs), return_std=True)[1] * self._y[1]
        return self._members(archs).std(axis=0) * self._y[1]

    def _est_check(self) -> Any:
        if self._est is None:
            raise ConfigError("predict before fit: call fit(archs, y) first")
        return self._est
