"""Tree-structured Parzen estimator (Bergstra et al. 2011) on the space's categorical variables.

After ``n_startup`` random archs, the finished results are split into the best ``gamma`` fraction
("good", at most ``max_good``) and the rest ("bad"). Each side gets an independent categorical density
per variable (on NB201: per edge, over the five ops): observed counts plus ``prior_weight`` spread
uniformly. ``n_candidates`` archs are drawn from the good density and the one maximising
``log l(x) - log g(x)`` that was never asked is proposed.

Asynchronous workers ("constant liar"): pending archs count as bad observations, so the sampler steers
away from what is already running. FAIL results count as bad too.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from nasforge.optimizers._base import Optimizer, OptionSpec, Seed
from nasforge.trial import Request, Result


class TPE(Optimizer):
    """TPE with independent categorical Parzen estimators; never asks for the same arch twice.

    >>> from nasforge.trial import Result
    >>> opt = TPE(seed=0, n_startup=2)
    >>> for value in (1.0, 2.0, 3.0):
    ...     opt.tell(opt.ask(), Result.complete(value))
    >>> len({request.arch for request, _ in opt.history})
    3
    """

    name = "tpe"
    settings = MappingProxyType({"n_startup": OptionSpec(int, 1), "gamma": OptionSpec(float, 0.01, 0.99),
                                 "max_good": OptionSpec(int, 1), "n_candidates": OptionSpec(int, 1),
                                 "prior_weight": OptionSpec(float, 0.0)})  # fmt: skip

    def __init__(
        self,
        seed: Seed,
        *,
        space: str = "nb201",
        n_startup: int = 10,
        gamma: float = 0.25,
        max_good: int = 25,
        n_candidates: int = 24,
        prior_weight: float = 1.0,
    ) -> None:
        super().__init__(seed, space=space)
        if n_startup < 1 or not 0 < gamma < 1 or n_candidates < 1 or prior_weight <= 0:
            raise ValueError("TPE needs n_startup >= 1, 0 < gamma < 1, n_candidates >= 1 and prior_weight > 0")
        self.n_startup, self.gamma, self.max_good = n_startup, gamma, max_good
        self.n_candidates, self.prior_weight = n_candidates, prior_weight
        self._codes: list[tuple[int, ...]] = []
        self._values: list[float] = []

    def _ask(self) -> Request:
        if len(self._codes) < self.n_startup:
            return Request(self._sample_unseen())
        values = np.asarray(self._values)
        order = np.argsort(-values, kind="stable")
        n_good = min(self.max_good, max(1, math.ceil(self.gamma * np.isfinite(values).sum())))
        codes = np.asarray(self._codes)
        good = codes[order[:n_good]]
        bad = np.concatenate([codes[order[n_good:]], self._pending_codes()])
        log_l = self._log_density(good)
        log_g = self._log_density(bad)
        candidates = self._sample_from(np.exp(log_l))
        columns = np.arange(candidates.shape[1])
        scores = (log_l[columns, candidates] - log_g[columns, candidates]).sum(axis=1)
        for i in np.argsort(-scores, kind="stable"):
            arch = self.space.decode(candidates[i])
            if arch not in self._archs_seen:
                return Request(arch)
        return Request(self._sample_unseen())

    def _tell(self, request: Request, result: Result) -> None:
        self._codes.append(self.space.encode(request.arch))
        self._values.append(result.objective if result.ok else -math.inf)

    def _pending_codes(self) -> np.ndarray:
        codes = [self.space.encode(r.arch) for r in self.pending]
        return np.asarray(codes, dtype=np.int64).reshape(len(codes), len(self.space.choices))

    def _log_density(self, codes: np.ndarray) -> np.ndarray:
        """log P(variable d takes value c), shape (variables, max choices); counts plus a uniform prior."""
        k = max(self.space.choices)
        counts = np.zeros((len(self.space.choices), k))
        for d in range(len(self.space.choices)):
            counts[d] = np.bincount(codes[:, d], minlength=k) if len(codes) else 0.0
        prior = np.array([[self.prior_weight / c if v < c else 0.0 for v in range(k)] for c in self.space.choices])
        weights = counts + prior
        with np.errstate(divide="ignore"):
            return np.log(weights / weights.sum(axis=1, keepdims=True))

    def _sample_from(self, probs: np.ndarray) -> np.ndarray:
        """``n_candidates`` codes, each variable drawn independently from its row of ``probs``."""
        cdf = np.cumsum(probs, axis=1)
        u = self.rng.random((self.n_candidates, probs.shape[0])) * cdf[:, -1]
        return np.stack([np.searchsorted(cdf[d], u[:, d], side="right") for d in range(probs.shape[0])], axis=1)

    def config(self) -> dict:
        return {
            **super().config(),
            "n_startup": self.n_startup,
            "gamma": self.gamma,
            "max_good": self.max_good,
            "n_candidates": self.n_candidates,
            "prior_weight": self.prior_weight,
        }
