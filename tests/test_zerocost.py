"""Zero-cost proxies against values computed independently (NumPy forward/backward by hand, finite differences,
closed forms) on a tiny network, on the degenerate all-none NB201 cell, and on the benchmark's own numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasforge import zerocost as zc
from nasforge.errors import ConfigError
from nasforge.spaces.nb201 import NB201Arch


class Tiny(nn.Module):
    """x (N,1,2,2) -> 1x1 conv to 2 channels -> ReLU -> flatten (8) -> linear to 3 classes; no biases."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.fc = nn.Linear(8, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


W1 = np.array([0.7, -1.3])
W2 = np.array([[0.2, -0.5, 0.9, 0.1, -0.3, 0.4, 0.8, -0.7],
               [-0.6, 0.3, 0.2, -0.8, 0.5, -0.1, 0.6, 0.3],
               [0.4, 0.7, -0.4, 0.5, -0.9, 0.2, -0.2, 0.1]])  # fmt: skip
X = np.array([[[[0.5, -1.0], [2.0, 0.3]]], [[[-0.4, 0.8], [1.1, -1.5]]],
              [[[1.2, 0.6], [-0.7, 0.9]]], [[[-1.3, -0.2], [0.4, 1.6]]]])  # fmt: skip
Y = np.array([0, 2, 1, 2])


def tiny(w1: np.ndarray = W1, w2: np.ndarray = W2) -> Tiny:
    net = Tiny().double()
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor(w1).view(2, 1, 1, 1))
        net.fc.weight.copy_(torch.tensor(w2))
    return net


def batch(x: np.ndarray = X, y: np.ndarray = Y) -> zc.Batch:
    return zc.Batch(torch.tensor(x), torch.tensor(y))


def forward(w1: np.ndarray, w2: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The tiny network's forward and cross-entropy backward, by hand."""
    h = w1[None, :, None, None] * x  # (N,2,2,2): a 1x1 conv from one channel
    f = np.maximum(h, 0).reshape(len(x), 8)
    out = f @ w2.T
    p = np.exp(out - out.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dout = (p - np.eye(3)[y]) / len(x)
    dh = (dout @ w2).reshape(h.shape) * (h > 0)
    dw1 = (dh * x).sum(axis=(0, 2, 3))
    return {"h": h, "f": f, "out": out, "dout": dout, "dh": dh, "dw1": dw1, "dw2": dout.T @ f}


def jacobian(w1: np.ndarray, w2: np.ndarray, x: np.ndarray) -> np.ndarray:
    h = w1[None, :, None, None] * x
    dh = (np.ones((len(x), 3)) @ w2).reshape(h.shape) * (h > 0)
    return (dh * w1[None, :, None, None]).sum(axis=1).reshape(len(x), -1)


def jacob_cov_formula(rows: np.ndarray) -> float:
    eig = np.linalg.eigvalsh(np.corrcoef(rows))
    return float(-np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5)))


def test_gradient_proxies_equal_hand_computed_values() -> None:
    r = forward(W1, W2, X, Y)
    got = zc.score(tiny(), batch(), ["grad_norm", "snip", "plain", "fisher", "l2_norm", "params", "flops"])
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(r["dw1"]) + np.linalg.norm(r["dw2"]), rel=1e-9)
    assert got["snip"] == pytest.approx(np.abs(W1 * r["dw1"]).sum() + np.abs(W2 * r["dw2"]).sum(), rel=1e-9)
    assert got["plain"] == pytest.approx((W1 * r["dw1"]).sum() + (W2 * r["dw2"]).sum(), rel=1e-9)
    conv_g = (r["h"] * r["dh"]).sum(axis=(2, 3))  # (N, channels): act x its gradient, summed over space
    fc_g = r["out"] * r["dout"]
    expected = sum((0.5 * (g**2).mean(axis=0)).sum() for g in (conv_g, fc_g))
    assert got["fisher"] == pytest.approx(expected, rel=1e-9)
    assert got["l2_norm"] == pytest.approx(np.linalg.norm(W1) + np.linalg.norm(W2), rel=1e-12)
    assert got["params"] == pytest.approx((2 + 24) / 1e6)
    assert got["flops"] == pytest.approx((8 + 24) / 1e6)  # 8 conv outputs x 1 input channel; 8x3 linear


def test_grasp_equals_finite_difference_hessian_vector_product() -> None:
    def grads(w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
        r = forward(w1, w2, X, Y)
        return np.concatenate([r["dw1"], r["dw2"].ravel()])

    g = grads(W1, W2)
    eps = 1e-6
    plus, minus = W1 + eps * g[:2], W1 - eps * g[:2]
    hg = (grads(plus, W2 + eps * g[2:].reshape(3, 8)) - grads(minus, W2 - eps * g[2:].reshape(3, 8))) / (2 * eps)
    expected = -np.sum(np.concatenate([W1, W2.ravel()]) * hg)
    assert zc.grasp(tiny(), batch()) == pytest.approx(expected, rel=1e-5)


def test_jacobian_proxies_equal_hand_computed_values() -> None:
    jac = jacobian(W1, W2, X)
    assert zc.jacob_cov(tiny(), batch()) == pytest.approx(jacob_cov_formula(jac), rel=1e-9)
    # epe_nas (3 classes <= 100): sum over classes of |sum log(|R_c| + k)|; class 0 and 1 have one image each
    scores = []
    for c in (0, 1, 2):
        rows = jac[Y == c]
        corr = np.corrcoef(rows) if len(rows) > 1 else np.ones((1, 1))
        scores.append(np.sum(np.log(np.abs(corr) + 1e-5)))
    assert zc.epe_nas(tiny(), batch()) == pytest.approx(np.abs(scores).sum(), rel=1e-9)


def test_nwot_is_log_determinant_of_relu_code_kernel() -> None:
    codes = (W1[None, :, None, None] * X > 0).reshape(len(X), 8).astype(float)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert zc.nwot(tiny(), batch()) == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-9)


def test_synflow_of_a_positive_linear_chain_is_depth_times_output() -> None:
    # With |W| and an all-ones input every unit is positive, the net is linear: R = 1^T |W2| |W1| 1 and each of
    # the two layers contributes sum |W| dR/dW = R.
    r_out = np.abs(W2).sum(axis=0) @ np.repeat(np.abs(W1), 4)
    assert zc.synflow(tiny(), batch()) == pytest.approx(2 * r_out, rel=1e-12)


def test_zico_equals_the_inverse_coefficient_of_variation_of_half_batch_gradients() -> None:
    halves = [forward(W1, W2, X[:2], Y[:2]), forward(W1, W2, X[2:], Y[2:])]
    expected = 0.0
    for key in ("dw1", "dw2"):
        g = np.stack([h[key].ravel() for h in halves])
        std, mean_abs = g.std(axis=0), np.abs(g).mean(axis=0)
        expected += math.log((mean_abs[std > 0] / std[std > 0]).sum())
    assert zc.zico(tiny(), batch()) == pytest.approx(expected, rel=1e-9)


def test_zen_is_log_feature_change_under_gaussian_weights() -> None:
    gen = torch.Generator().manual_seed(5)
    w1 = torch.randn(2, 1, 1, 1, generator=gen).double().numpy().reshape(2)
    w2 = torch.randn(3, 8, generator=gen).double().numpy()
    x = torch.randn(4, 1, 2, 2, generator=gen).double().numpy()
    e = torch.randn(4, 1, 2, 2, generator=gen).double().numpy()
    f = lambda z: np.maximum(w1[None, :, None, None] * z, 0).reshape(4, 8) @ w2.T  # noqa: E731
    expected = math.log(np.abs(f(x) - f(x + 0.01 * e)).sum(axis=1).mean())  # no BatchNorm: no scaling term
    got = zc.zen(tiny(), batch(), torch.Generator().manual_seed(5))
    assert got == pytest.approx(expected, rel=1e-6)


def small_nb201(arch: NB201Arch, seed: int = 0) -> nn.Module:
    return zc.nb201_network(arch, "cifar10", seed, C=4, N=1)


def image_batch(n: int = 6, size: int = 16) -> zc.Batch:
    gen = torch.Generator().manual_seed(1)
    return zc.Batch(torch.randn(n, 3, size, size, generator=gen), torch.arange(n) % 3)


def test_all_none_cell_values_are_defined_and_finite() -> None:
    arch = NB201Arch(("none",) * 6)
    net, b = small_nb201(arch), image_batch()
    got = zc.score(net, b, "all")
    for name in ("grad_norm", "snip", "plain", "grasp", "synflow", "nwot", "zico"):
        assert got[name] == 0.0, name
    n = len(b)
    # jacob_cov: the input-gradients are all zero, taken as R = 1 1^T, eigenvalues n and n-1 zeros
    k = 1e-5
    assert got["jacob_cov"] == pytest.approx(-(np.log(n + k) + 1 / (n + k)) - (n - 1) * (np.log(k) + 1 / k), rel=1e-6)
    # epe_nas: every class's correlation matrix is all ones: |sum log(1 + k)| per class
    counts = np.bincount(b.labels.numpy())
    assert got["epe_nas"] == pytest.approx(sum(c * c * np.log(1 + 1e-5) for c in counts if c), rel=1e-6)
    # fisher: only the classifier output term is left, logits = the bias for every image
    bias = net.classifier.bias.detach().double().numpy()
    p = np.exp(bias - bias.max()) / np.exp(bias - bias.max()).sum()
    dout = (p[None, :] - np.eye(10)[b.labels.numpy()]) / n
    assert got["fisher"] == pytest.approx((0.5 * ((bias * dout) ** 2).mean(axis=0)).sum(), rel=1e-6)
    assert got["zen"] < -700 and math.isfinite(got["zen"])
    assert got["params"] > 0 and got["flops"] > 0 and got["l2_norm"] > 0


def test_flops_and_params_are_the_benchmarks_values() -> None:
    # nb201_final.csv: the all-none cell has the space's minimum c10 FLOPs, 7.783 M; arch 0 has 0.129306 M params
    # (NB201's stored value) and 15.64737 MFLOPs (NB201's cost_info, quoted in NASLib's fixture).
    b = zc.shape_batch("cifar10", 2)
    none = zc.nb201_network(NB201Arch(("none",) * 6), "cifar10", 0)
    assert zc.flops(none, b) == pytest.approx(7.783, abs=5e-4)
    arch0 = zc.nb201_network(NB201Arch.from_index(0), "cifar10", 0)
    assert zc.params(arch0) == pytest.approx(0.129306, abs=1e-9)
    assert zc.flops(arch0, b) == pytest.approx(15.64737, abs=1e-5)


def test_shared_passes_equal_one_by_one_and_are_deterministic() -> None:
    arch = NB201Arch.from_index(9930)
    b = image_batch(4, 8)
    shared = zc.score(small_nb201(arch), b, "all", seed=3)
    alone = zc.score(small_nb201(arch), b, "all", seed=3, shared=False)
    again = zc.score(small_nb201(arch), b, "all", seed=3)
    assert shared == again
    for name in shared:
        assert shared[name] == pytest.approx(alone[name], rel=1e-5, abs=1e-9), name
    other = zc.score(small_nb201(arch, seed=4), b, ["snip"])
    assert other["snip"] != shared["snip"]  # the seed draws the weights


def test_darts_network_is_scored() -> None:
    from nasforge.spaces.darts import DARTS_V2
    from nasforge.spaces.darts_model import DartsNetwork, Macro

    torch_gen = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        net = DartsNetwork(DARTS_V2, Macro((False, True), n_inputs=2, steps=4, C=4, stem_multiplier=3,
                                           in_channels=3))  # fmt: skip
    net = zc.init_network(net.to_empty(device="cpu"), torch_gen)
    got = zc.score(net, image_batch(4, 8), "all")
    assert all(math.isfinite(v) for v in got.values())
    assert got["synflow"] > 0 and got["nwot"] > 0


def test_a_non_finite_score_is_a_proxy_error() -> None:
    from nasforge.errors import ProxyError

    net = tiny()
    with torch.no_grad():
        net.fc.weight[0, 0] = float("nan")
    with pytest.raises(ProxyError, match="grad_norm gave nan"):
        zc.score(net, batch(), ["grad_norm"])


def test_unknown_proxy_and_bad_batch_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown proxy 'foo'"):
        zc.parse_proxies("snip,foo")
    with pytest.raises(ConfigError, match="at least 2 images"):
        zc.Batch(torch.zeros(1, 3, 8, 8), torch.zeros(1, dtype=torch.int64))
    assert zc.parse_proxies("data-free") == ("synflow", "zen", "l2_norm", "params", "flops")
