"""BANANAS: Bayesian optimisation with a neural-network ensemble and path encoding (White, Neiswanger & Savani,
"BANANAS: Bayesian Optimization with Neural Architectures for Neural Architecture Search", AAAI 2021).

The loop, as in the paper: ``num_init`` random archs first; then, each time the optimizer runs out of proposals,
it fits an ensemble of ``num_ensemble`` small MLPs (different initialisations) to every successful result so far,
draws ``candidates`` archs by mutating the ``parents`` best evaluated ones, scores them with the acquisition
function and queues the best ``batch`` (10 per iteration in the paper). Acquisition: independent Thompson
sampling (``its``, the paper's: each candidate's value drawn from N(ensemble mean, ensemble std)) or UCB
(``ucb``: mean + ``ucb_beta`` std).

Features: NB201's path encoding (:func:`nasforge.predictors.encodings.path`, 155 features); on other spaces the
one-hot of the black-box view's choices (nats-sss: 5 layers x 8 channel counts). With proxy scores
(:mod:`nasforge.optimizers.zerocost`): ``zc_features`` appends the proxy's score (signed log, standardised on the
training archs) to each feature vector, charging every newly scored candidate; ``zc_pool`` > 0 takes the initial
design from the proxy's best of a random pool. ``bananas+zc`` is both.

The ensemble is numpy, vectorised across members (one matmul per layer for all members); trained full-batch with
Adam on the mean squared error of standardised values.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from nasforge.errors import ConfigError
from nasforge.optimizers._base import INFEASIBLE, Optimizer, OptionSpec, Seed
from nasforge.optimizers.zerocost import (
    DEFAULT_POOL,
    ProxyScores,
    check_pool,
    meter_for,
    signed_log,
    warm_start,
)
from nasforge.trial import Arch, Request, Result

ACQUISITIONS = ("its", "ucb")
# The fit sees values below this quantile of the told ones raised to it: the predictor's job is to rank the good
# archs (BANANAS trains on a loss relative to a lower bound for the same reason); on NB201 CIFAR-100 (30 seeds)
# it moved the final test accuracy from 72.14 to 72.30 %.
_FLOOR_QUANTILE = 0.5


class MLPEnsemble:
    """``members`` ReLU MLPs (``layers`` hidden layers of ``width``) trained at once. The first layer of every member
    is one matrix (features x members*width: one matmul for all), deeper ones are stacked on a member axis.
    ``fit(X (n, d), y (n,))``, ``predict(X (m, d)) -> (members, m)``."""

    def __init__(self, members: int, layers: int, width: int, epochs: int, lr: float, rng: np.random.Generator):
        self.members, self.layers, self.width, self.epochs, self.lr, self.rng = members, layers, width, epochs, lr, rng
        self.params: list[np.ndarray] = []

    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        """Activations per layer, each (members, n, width) but the input's (n, d) and the output's (members, n, 1)."""
        E, h = self.members, self.width
        W1, b1, *rest = self.params
        out = [X, np.maximum(X @ W1 + b1, 0.0).reshape(X.shape[0], E, h).transpose(1, 0, 2)]
        for k in range(0, len(rest), 2):
            z = out[-1] @ rest[k] + rest[k + 1]
            out.append(z if k == len(rest) - 2 else np.maximum(z, 0.0))
        return out

    def _grads(self, acts: list[np.ndarray], delta: np.ndarray) -> list[np.ndarray]:
        grads: list[np.ndarray] = []
        for k in range(len(self.params) - 2, 0, -2):  # deeper layers, last first
            a = acts[k // 2]
            grads[:0] = [np.swapaxes(a, 1, 2) @ delta, delta.sum(axis=1, keepdims=True)]
            delta = (delta @ np.swapaxes(self.params[k], 1, 2)) * (a > 0)
        flat = delta.transpose(1, 0, 2).reshape(acts[0].shape[0], -1)  # the first layer's (n, members*width)
        return [acts[0].T @ flat, flat.sum(axis=0)] + grads

    def fit(self, X: np.ndarray, y: np.ndarray) -> MLPEnsemble:
        # Tiny matrices: BLAS threads only contend (3-8x slower measured on a shared 2-core machine). Imported here:
        # every search process imports the optimizers, few fit a BANANAS ensemble.
        from scipy.sparse import csr_matrix
        from threadpoolctl import threadpool_limits

        E, h, rng, d = self.members, self.width, self.rng, X.shape[1]
        shapes = [(d, E * h), (E * h,)]
        for fan_out in [h] * (self.layers - 1) + [1]:
            shapes += [(E, h, fan_out), (E, 1, fan_out)]
        # One flat float32 buffer holds every parameter (the arrays are views into it), so an Adam step is a few
        # whole-buffer operations instead of a few per array.
        flat = np.zeros(sum(int(np.prod(s)) for s in shapes), dtype=np.float32)
        self.params, at = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            self.params.append(flat[at : at + size].reshape(shape))
            at += size
        for k in range(0, len(shapes), 2):  # He initialisation, each member its own draw: the ensemble's spread
            fan_in = d if k == 0 else h
            self.params[k][...] = rng.standard_normal(shapes[k]) * np.sqrt(2.0 / fan_in)
        # Encodings are a few ones per row (paths, one-hots): a sparse first layer is ~10x cheaper than a dense one.
        X, target = csr_matrix(X, dtype=np.float32), y.astype(np.float32)[None, :, None]
        m, v, grad = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)
        cuts = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        with threadpool_limits(1):
            for step in range(1, self.epochs + 1):  # full batch: one step per epoch
                acts = self._forward(X)
                delta = 2.0 * (acts[-1] - target) / len(y)  # d(mean squared error)/d(output), per member
                for g, a, b in zip(self._grads(acts, delta), cuts, cuts[1:]):
                    grad[a:b] = g.ravel()
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                flat -= (self.lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)) * m / (np.sqrt(v) + eps)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        from scipy.sparse import csr_matrix
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self._forward(csr_matrix(X, dtype=np.float32))[-1][:, :, 0].astype(np.float64)


def acquisition(mean: np.ndarray, std: np.ndarray, kind: str, rng: np.random.Generator, beta: float) -> np.ndarray:
    """Each candidate's acquisition value from the ensemble's ``mean`` and ``std`` (m,): ``its`` draws it from
    N(mean, std) independently per candidate (one ``rng.standard_normal(m)``); ``ucb`` is mean + beta std."""
    if kind == "its":
        return mean + std * rng.standard_normal(len(mean))
    return mean + beta * std


class BANANAS(Optimizer):
    """BANANAS (module docstring) with the paper's settings: 10 initial archs, an ensemble of 5 MLPs, ITS, 10 archs
    per iteration chosen from 100 mutations of the best evaluated archs (the 5 best here: on NB201's CIFAR-100,
    30 seeds, 72.50 % against 72.30 % with the 10 best). Each MLP: 2 hidden ReLU layers of 20 (the paper's are
    width 20), 100 full-batch Adam epochs at lr 0.01.

    >>> from nasforge.trial import Result
    >>> opt = BANANAS(seed=0, num_init=3, batch=2, epochs=20)
    >>> for value in (1.0, 2.0, 3.0):
    ...     opt.tell(opt.ask(), Result.complete(value))
    >>> child = opt.ask().arch  # a mutation of an evaluated arch, picked by the ensemble
    >>> any(child in arch.neighbors() for arch, _ in opt.evaluated)
    True
    """

    name = "bananas"
    settings = MappingProxyType({
        "num_init": OptionSpec(int, 1), "batch": OptionSpec(int, 1), "candidates": OptionSpec(int, 1),
        "parents": OptionSpec(int, 1), "num_ensemble": OptionSpec(int, 1), "layers": OptionSpec(int, 1),
        "width": OptionSpec(int, 1), "epochs": OptionSpec(int, 1), "lr": OptionSpec(float, 1e-6, 1.0),
        "acquisition": OptionSpec(str, choices=ACQUISITIONS), "ucb_beta": OptionSpec(float, 0.0),
        "zc_pool": OptionSpec(int, 0), "zc_features": OptionSpec(bool),
    })  # fmt: skip
    zc_preset = MappingProxyType({"zc_pool": DEFAULT_POOL, "zc_features": True})

    def __init__(
        self,
        seed: Seed,
        *,
        space: str = "nb201",
        num_init: int = 10,
        batch: int = 10,
        candidates: int = 100,
        parents: int = 5,
        num_ensemble: int = 5,
        layers: int = 2,
        width: int = 20,
        epochs: int = 100,
        lr: float = 0.01,
        acquisition: str = "its",
        ucb_beta: float = 0.5,
        zc_pool: int = 0,
        zc_features: bool = False,
        zc: ProxyScores | None = None,
    ) -> None:
        super().__init__(seed, space=space)
        if acquisition not in ACQUISITIONS:
            raise ConfigError(f"unknown acquisition {acquisition!r}; give one of {', '.join(ACQUISITIONS)}")
        if batch > candidates:
            raise ConfigError(f"batch={batch} is larger than candidates={candidates}: each iteration picks its "
                              f"batch from the candidates; give batch <= candidates")  # fmt: skip
        self.options = dict(num_init=num_init, batch=batch, candidates=candidates, parents=parents,
                            num_ensemble=num_ensemble, layers=layers, width=width, epochs=epochs, lr=lr,
                            acquisition=acquisition, ucb_beta=ucb_beta)  # fmt: skip
        self.zc_pool, self.zc_features = zc_pool, zc_features
        if zc_pool:
            check_pool(zc_pool, num_init, "num_init", self.space.size)
        self.meter = meter_for(self.name, zc, "zc_pool or zc_features" if zc_pool or zc_features else "")
        self.evaluated: list[tuple[Arch, float]] = []  # successful results, told order
        self.parents_used: set[Arch] = set()  # every arch a candidate was mutated from
        self._queue: list[Arch] = []
        self._encoded: dict[Arch, np.ndarray] = {}
        self.warm_pool: list[Arch] = []
        if zc_pool:
            assert self.meter is not None
            self.warm_pool, self._queue = warm_start(self.space, self.rng, self.meter, zc_pool, num_init)

    # --- ask / tell ---------------------------------------------------------------------------------------------

    def _ask(self) -> Request:
        while self._queue and self._queue[0] in self._archs_seen:
            self._queue.pop(0)
        if not self._queue:
            if len(self.evaluated) + len(self.pending) < self.options["num_init"] or not self.evaluated:
                self._queue.append(self._sample_unseen())
            else:
                self._queue = self._propose()
        arch = self._queue.pop(0)
        return Request(arch, overhead=self.meter.take() if self.meter else 0.0)

    def _tell(self, request: Request, result: Result) -> None:
        if result.ok:
            self.evaluated.append((request.arch, result.objective))

    # --- one BANANAS iteration ------------------------------------------------------------------------------------

    def _propose(self) -> list[Arch]:
        o = self.options
        cands = self._candidates()
        archs = [a for a, _ in self.evaluated]
        y = np.array([v for _, v in self.evaluated])
        feasible = y > INFEASIBLE / 2
        # Infeasible results (told as about -1e12) would swamp the scale: they train as just below the worst feasible.
        y = np.where(feasible, y, (y[feasible].min() - 1.0) if feasible.any() else 0.0)
        y = np.maximum(y, np.quantile(y, _FLOOR_QUANTILE))
        sd = y.std()
        y = (y - y.mean()) / (sd if sd > 0 else 1.0)
        X, Xc = self._features(archs, cands)
        model = MLPEnsemble(o["num_ensemble"], o["layers"], o["width"], o["epochs"], o["lr"], self.rng).fit(X, y)
        pred = model.predict(Xc)
        value = acquisition(pred.mean(axis=0), pred.std(axis=0), o["acquisition"], self.rng, o["ucb_beta"])
        order = np.argsort(-value, kind="stable")[: o["batch"]]
        return [cands[int(i)] for i in order]

    def _candidates(self) -> list[Arch]:
        """``candidates`` distinct unseen mutations of the ``parents`` best evaluated archs (round robin, best
        first); random unseen archs fill up when the neighbourhoods run dry."""
        o = self.options
        best = sorted(self.evaluated, key=lambda av: -av[1])
        tops = list(dict.fromkeys(a for a, _ in best))[: o["parents"]]
        self.parents_used.update(tops)
        found: dict[Arch, None] = {}
        tries = 0
        while len(found) < o["candidates"] and tries < 4 * o["candidates"]:
            child = self.space.mutate(tops[tries % len(tops)], self.rng)
            tries += 1
            if child not in self._archs_seen:
                found[child] = None
        while len(found) < o["batch"] and len(self._archs_seen) + len(found) < self.space.size:
            found[self._sample_unseen()] = None
        return list(found) or [self._sample_unseen()]

    def _features(self, train: list[Arch], cands: list[Arch]) -> tuple[np.ndarray, np.ndarray]:
        X, Xc = self._encode(train), self._encode(cands)
        if not self.zc_features:
            return X, Xc
        assert self.meter is not None
        s, sc = signed_log(self.meter.score(train)), signed_log(self.meter.score(cands))
        mu, sd = s.mean(), s.std() or 1.0
        return np.hstack([X, ((s - mu) / sd)[:, None]]), np.hstack([Xc, ((sc - mu) / sd)[:, None]])

    def _encode(self, archs: list[Arch]) -> np.ndarray:
        rows = []
        for a in archs:
            row = self._encoded.get(a)
            if row is None:
                row = self._encoded[a] = self._encoding(a)
            rows.append(row)
        return np.stack(rows)

    def _encoding(self, arch: Any) -> np.ndarray:
        if self.space.name == "nb201":
            from nasforge.predictors.encodings import path

            return path([arch])[0]
        # Any other space: one-hot of each variable's choice (nats-sss: 5 layers x 8 channel counts).
        choices = self.space.choices
        out = np.zeros(sum(choices))
        out[np.cumsum((0, *choices[:-1])) + np.asarray(self.space.encode(arch))] = 1.0
        return out

    def config(self) -> dict[str, Any]:
        extra = {"zc_pool": self.zc_pool, "zc_features": self.zc_features,
                 "zc_proxy": self.meter.table.proxy} if self.meter else {}  # fmt: skip
        return {**super().config(), **self.options, **extra}
