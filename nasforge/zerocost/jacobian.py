"""Proxies from how the untrained network separates the images of a batch (no weights are scored).

``jacob_cov`` and ``epe_nas`` read the input-Jacobian of the summed logits, ``nwot`` the binary ReLU codes; they
share one forward pass (see :mod:`nasforge.zerocost._probe`).
"""

from __future__ import annotations

import numpy as np
from torch import nn

from nasforge.zerocost._probe import Batch, Probe

_K = 1e-5  # the references' regulariser of eigenvalues and correlations


def _correlations(rows: np.ndarray) -> np.ndarray:
    """Pearson correlations between rows; a row that does not vary (a network blind to that image) is taken as
    perfectly correlated with every row, the degenerate end of the scale, instead of NaN."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    ok = norms > 0
    corr = np.ones((len(rows), len(rows)))
    unit = centred[ok] / norms[ok, None]
    corr[np.ix_(ok, ok)] = np.clip(unit @ unit.T, -1.0, 1.0)
    return corr


def jacob_cov_from(probe: Probe) -> float:
    probe.need({"jacobian"})
    eig = np.linalg.eigvalsh(_correlations(probe.jacobian))
    return float(-np.sum(np.log(eig + _K) + 1.0 / (eig + _K)))


def epe_nas_from(probe: Probe) -> float:
    probe.need({"jacobian"})
    jac, labels = probe.jacobian, probe.batch.labels.cpu().numpy()
    n_classes = probe.num_classes
    per_class = []
    for c in np.unique(labels):
        rows = jac[labels == c]
        corr = _correlations(rows) if len(rows) > 1 else np.ones((1, 1))
        s = float(np.sum(np.log(np.abs(corr) + _K)))
        per_class.append(s / len(corr) if n_classes > 100 else s)
    scores = np.array(per_class)
    if n_classes <= 100:
        return float(np.abs(scores).sum())
    return float(np.abs(scores[:, None] - scores[None, :]).sum() / len(scores))


def nwot_from(probe: Probe) -> float:
    probe.need({"codes"})
    sign, logdet = np.linalg.slogdet(probe.relu_kernel)
    # K has integer entries and is positive semi-definite, so a nonsingular K has det >= 1: 0 is the floor,
    # and the value of a singular K (two images with identical codes, e.g. the all-none cell).
    return float(logdet) if sign > 0 and logdet > 0 else 0.0


def jacob_cov(network: nn.Module, batch: Batch) -> float:
    """Jacobian covariance (Mellor et al., "Neural Architecture Search without Training", v1, 2020): the
    correlation matrix ``R`` of the per-image input-gradients of the summed logits, scored
    ``-sum_i log(λ_i + k) + 1/(λ_i + k)`` over R's eigenvalues, ``k = 1e-5``. A network blind to its input
    (all-``none``) has rows without variance, taken as fully correlated: the score of ``R = 1 1^T``,
    about ``-(N-1)·1e5``."""
    return jacob_cov_from(Probe(network, batch))


def epe_nas(network: nn.Module, batch: Batch) -> float:
    """EPE-NAS (Lopes et al., ICANN 2021): per class ``c``, ``s_c = sum log(|R_c| + k)`` over the correlation
    matrix of that class's input-gradients (divided by its size for > 100 classes); the score is
    ``sum_c |s_c|`` for up to 100 classes, else ``sum_{c,c'} |s_c - s_c'| / #classes``. All-``none``: every
    R_c is all ones, so the score is about ``N · 1e-5``."""
    return epe_nas_from(Probe(network, batch))


def nwot(network: nn.Module, batch: Batch) -> float:
    """NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021): ``log|det K|`` with
    ``K = sum over ReLUs of C C^T + (1-C)(1-C)^T``, ``C`` the N×units binary code ``x > 0`` of every rectified
    activation. 0 when K is singular (all-``none``: every image has the same code)."""
    return nwot_from(Probe(network, batch))
