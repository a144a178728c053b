"""DARTS: the Genotype value, the mixed op, genotype derivation, the architect (first and second order)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ArchError, ConfigError
from nasforge.oneshot.architect import Architect, finite_difference_hvp
from nasforge.oneshot.mixed import MixedEdges, MixedOp, mnist_search_op, nb201_search_op, weighted_sum
from nasforge.oneshot.supernet import build_supernet
from nasforge.spaces.darts import DARTS_OPS, DARTS_V2, MNIST_OPS, Genotype, derive_cell, derive_genotype
from nasforge.spaces.darts_model import DartsNetwork, make_op
from nasforge.spaces.nb201 import NB201Arch
from nasforge.spaces.registry import list_spaces

# --- Genotype -------------------------------------------------------------------------------------------------

MNIST_GENOTYPE = (
    "Genotype(normal=[('conv_3x3', 0), ('skip_connect', 0), ('max_pool_3x3', 1)], normal_concat=range(1, 3), "
    "reduce=[('avg_pool_3x3', 0), ('conv_3x3', 1), ('max_pool_3x3', 0)], reduce_concat=range(1, 3))"
)


def test_genotype_printable_and_json_round_trip():
    g = Genotype.parse(MNIST_GENOTYPE)
    assert str(g) == MNIST_GENOTYPE
    assert Genotype.from_json(g.to_json()) == g
    assert g.node_edges("reduce") == ((("avg_pool_3x3", 0),), (("conv_3x3", 1), ("max_pool_3x3", 0)))
    assert hash(g) == hash(Genotype.parse(MNIST_GENOTYPE))


def test_darts_paper_genotype_parses_with_the_darts_shape():
    assert (DARTS_V2.n_inputs, DARTS_V2.steps, len(DARTS_V2.normal)) == (2, 4, 8)
    assert DARTS_V2.normal[7] == ("dil_conv_3x3", 2)
    DARTS_V2.check_space("darts")
    with pytest.raises(ArchError, match="not in the darts-mnist space"):
        DARTS_V2.check_space("darts-mnist")


@pytest.mark.parametrize(
    "text, match",
    [
        (MNIST_GENOTYPE.replace("conv_3x3', 0", "conv_9x9', 0"), "unknown op 'conv_9x9'"),
        (MNIST_GENOTYPE.replace("('max_pool_3x3', 1)", "('max_pool_3x3', 2)"), "reads state 2"),
        (MNIST_GENOTYPE.replace(", ('skip_connect', 0)", ""), "lists 2 edges"),
        (MNIST_GENOTYPE.replace("reduce_concat=range(1, 3)", "reduce_concat=range(2, 4)"), "differ"),
        ("Genotype(normal=[", "cannot parse"),
        ("print('x')", "cannot parse"),
        ('{"normal": []}', "exactly the fields"),
    ],
)
def test_bad_genotypes_raise_arch_error(text, match):
    with pytest.raises(ArchError, match=match):
        Genotype.parse(text)


# --- derivation on fixed α (hand-worked) ------------------------------------------------------------------------


def _row(ops, **weights):
    rest = (1.0 - sum(weights.values())) / (len(ops) - len(weights))
    return [weights.get(op, rest) for op in ops]


def test_derive_two_input_cell_by_hand():
    ops = DARTS_OPS
    rows = [
        _row(ops, none=0.5, sep_conv_3x3=0.3),  # node 0 <- 0: strength 0.3 (none ignored)
        _row(ops, skip_connect=0.4, max_pool_3x3=0.35),  # node 0 <- 1: strength 0.4
        _row(ops, dil_conv_5x5=0.25),  # node 1 <- 0: strength 0.25
        _row(ops, avg_pool_3x3=0.6),  # node 1 <- 1: strength 0.6
        _row(ops, none=0.9, max_pool_3x3=0.05),  # node 1 <- 2: strongest non-none 0.05 -> dropped
    ]
    # Strongest edge first within each node, each with its strongest non-none op.
    expected = (("skip_connect", 1), ("sep_conv_3x3", 0), ("avg_pool_3x3", 1), ("dil_conv_5x5", 0))
    assert derive_cell(rows, ops, n_inputs=2, steps=2) == expected


def test_derive_single_input_cell_keeps_the_lone_edge_once():
    ops = MNIST_OPS  # avg, max, skip, conv (the sheet's order)
    rows = [[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1]]
    normal = derive_cell(rows, ops, n_inputs=1, steps=2)
    # node 0: its one edge; node 1: both edges, the 0.7 edge (from state 0) before the 0.5 edge (from node 0).
    assert normal == (("conv_3x3", 0), ("avg_pool_3x3", 0), ("max_pool_3x3", 1))
    g = derive_genotype(rows, rows, ops, 1, 2)
    assert g.normal_concat == (1, 2) and g.reduce == normal


# --- the mixed op -------------------------------------------------------------------------------------------------

X = [[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0], [6.0, 7.0, -8.0]]
MAX_POOL = [[3, 5, 5], [7, 7, 7], [7, 7, 7]]  # 3x3 window, padding ignored
AVG_POOL = [[0, 5 / 6, 3 / 4], [13 / 6, 10 / 9, 1 / 3], [3, 3 / 2, 0]]  # mean over the in-image part of the window


def test_mixed_op_against_hand_computed_example():
    # darts-mnist (the sheet's) forms: pools without BatchNorm, conv_3x3 = Conv -> ReLU without BatchNorm.
    op = MixedOp(1, 1, MNIST_OPS, resolve=mnist_search_op)
    with torch.no_grad():
        conv = op.edges.convs["conv_3x3"][0].weight
        conv.zero_()
        conv[0, 0, 1, 1] = 1.0  # the conv is then the identity, so the op is ReLU(x)
    alpha = torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0]))  # softmax -> 0.1, 0.2, 0.3, 0.4 (avg, max, skip, conv)
    x = torch.tensor(X).view(1, 1, 3, 3)
    out = op(x, F.softmax(alpha, dim=0))
    relu = [[max(v, 0.0) for v in row] for row in X]
    expected = [
        [0.1 * AVG_POOL[i][j] + 0.2 * MAX_POOL[i][j] + 0.3 * X[i][j] + 0.4 * relu[i][j] for j in range(3)]
        for i in range(3)
    ]
    torch.testing.assert_close(out.view(3, 3), torch.tensor(expected), rtol=1e-5, atol=1e-5)


def test_fused_edges_equal_separate_sheet_style_ops_in_training_mode():
    # Two edges leaving one state, fused, against the sheet's per-edge Python sum with the same conv weights.
    torch.manual_seed(0)
    ops = MNIST_OPS
    fused = MixedEdges(3, 1, ops, n_edges=2, resolve=mnist_search_op)
    x = torch.randn(4, 3, 6, 6)
    weights = F.softmax(torch.randn(2, 4), dim=1)
    outs = fused(x)
    for e in range(2):
        separate = [make_op(name, 3, 1, affine=False) for name in ops]
        with torch.no_grad():
            separate[ops.index("conv_3x3")][0].weight.copy_(fused.convs["conv_3x3"][0].weight[3 * e : 3 * e + 3])
        reference = sum(w * op(x) for w, op in zip(weights[e], separate, strict=True))
        got = weighted_sum(weights[e][list(fused.live_ops)], outs[e])
        torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-5)


def test_fused_relu_conv_bn_edges_equal_separate_nb201_ops_in_training_mode():
    # NB201's ReLU-Conv-BN convs, fused over three edges, against one stand-alone op per edge.
    from nasforge.spaces.nb201_model import relu_conv_bn

    torch.manual_seed(0)
    fused = MixedEdges(3, 1, ("nor_conv_1x1", "nor_conv_3x3"), n_edges=3, resolve=nb201_search_op)
    x = torch.randn(4, 3, 6, 6)
    outs = fused(x)
    for e in range(3):
        for k, (name, kernel) in enumerate((("nor_conv_1x1", 1), ("nor_conv_3x3", 3))):
            separate = relu_conv_bn(3, 3, kernel)
            with torch.no_grad():
                separate[1].weight.copy_(fused.convs[name][0].weight[3 * e : 3 * e + 3])
            torch.testing.assert_close(outs[e][k], separate(x), rtol=1e-5, atol=1e-5)


def test_weighted_sum_gradients_match_autograd():
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    ts = [torch.randn(2, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(lambda w, *ts: weighted_sum(w, ts), (w, *ts))
    assert torch.autograd.gradgradcheck(lambda w, *ts: weighted_sum(w, ts), (w, *ts))


def test_none_is_never_computed_but_gets_its_softmax_gradient():
    op = MixedOp(2, 1, ("none", "skip_connect"))
    alpha = torch.zeros(2, requires_grad=True)
    x = torch.ones(1, 2, 2, 2)
    op(x, F.softmax(alpha, 0)).sum().backward()
    # out = softmax(a)_skip * sum(x) = 8 s; d/da_none = -8 s(1-s)... = -2, d/da_skip = +2 at s = 1/2.
    torch.testing.assert_close(alpha.grad, torch.tensor([-2.0, 2.0]))


# --- supernets ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", sorted(list_spaces("oneshot")))
def test_every_space_builds_separates_alpha_and_derives(space):
    dataset = "cifar10" if space == "nb201" else "mnist"
    net = build_supernet(space, dataset, C=4, layers=1 if space == "nb201" else None)
    alphas, weights = net.arch_parameters(), net.weight_parameters()
    assert {id(p) for p in alphas}.isdisjoint(id(p) for p in weights)
    assert len(alphas) + len(weights) == len(list(net.parameters()))
    size, ch = (32, 3) if dataset == "cifar10" else (28, 1)
    assert net(torch.randn(2, ch, size, size)).shape == (2, 10)
    arch = net.derive()
    if space == "nb201":
        assert isinstance(arch, NB201Arch)
    else:
        arch.check_space(space)
        assert DartsNetwork(arch, net.macro)(torch.randn(2, ch, size, size)).shape == (2, 10)


def test_nb201_derive_is_argmax_per_edge_in_arch_string_order():
    net = build_supernet("nb201", "cifar10", C=4, layers=1)
    with torch.no_grad():
        net.alpha.zero_()
        for edge, op in enumerate([1, 1, 3, 0, 2, 4]):
            net.alpha[edge, op] = 1.0
    assert (
        net.derive().to_string()
        == "|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"
    )


def test_unknown_space_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown one-shot space 'foo'"):
        build_supernet("foo", "mnist")


# --- the architect ------------------------------------------------------------------------------------------------


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("order", [1, 2])
def test_one_architect_step_moves_alpha_and_leaves_weights(order):
    net = build_supernet("darts-mnist", "mnist", C=4)
    architect = Architect(net, order=order)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    weights = [w.detach().clone() for w in net.weight_parameters()]
    architect.step(_batch(seed=1), _batch(seed=2), w_opt)
    for before, after in zip(alphas, net.arch_parameters(), strict=True):
        assert not torch.equal(before, after)
        # Adam's first step moves every entry with a nonzero gradient by about lr.
        assert float((after - before).detach().abs().max()) == pytest.approx(3e-4, rel=0.05)
    for before, after in zip(weights, net.weight_parameters(), strict=True):
        assert torch.equal(before, after)


@pytest.mark.parametrize(("layers", "order"), [(1, 2), (2, 1)])  # the darts space is slow: one of each kind
def test_a_network_without_normal_cells_searches_only_alpha_reduce(layers, order):
    # DARTS puts its reduction cells at layers // 3 and 2 * layers // 3: with 1 or 2 cells every cell reduces,
    # so the loss never reads alpha_normal; it gets no gradient and stays as initialised (as in DARTS' code).
    net = build_supernet("darts", "mnist", C=4, layers=layers)  # C=2 with order 2 aborts inside torch (heap)
    assert net.reductions == (True,) * layers
    architect = Architect(net, order=order)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    normal, reduce = net.alpha_normal.detach().clone(), net.alpha_reduce.detach().clone()
    architect.step(_batch(n=2, seed=1), _batch(n=2, seed=2), w_opt)
    assert torch.equal(net.alpha_normal, normal)
    assert float((net.alpha_reduce.detach() - reduce).abs().max()) == pytest.approx(3e-4, rel=0.05)


class _Tiny(nn.Module):
    """A MixedOp on 2 channels plus a linear head: small enough for exact double backward."""

    def __init__(self):
        super().__init__()
        self.mixed = MixedOp(2, 1, ("conv_3x3", "avg_pool_3x3", "skip_connect"))
        self.head = nn.Linear(2 * 4 * 4, 3)
        self.alpha = nn.Parameter(torch.tensor([0.2, -0.1, 0.3]))

    def arch_parameters(self):
        return [self.alpha]

    def weight_parameters(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def forward(self, x):
        return self.head(torch.tanh(self.mixed(x, F.softmax(self.alpha, 0))).flatten(1))


def test_finite_difference_hvp_matches_double_backward():
    torch.manual_seed(0)
    model = _Tiny().double().eval()  # eval: BatchNorm uses fixed statistics, so the loss is smooth in w
    x, y = torch.randn(5, 2, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])

    def loss():
        return F.cross_entropy(model(x), y)

    weights, alphas = model.weight_parameters(), model.arch_parameters()
    v = [torch.randn_like(w) for w in weights]
    grads = torch.autograd.grad(loss(), weights, create_graph=True)
    exact = torch.autograd.grad(sum((g * d).sum() for g, d in zip(grads, v, strict=True)), alphas)
    approx = finite_difference_hvp(loss, weights, alphas, v)
    # Central differences are exact up to O(ε²) with ε = 0.01/‖v‖.
    torch.testing.assert_close(approx[0], exact[0], rtol=1e-3, atol=1e-6)
    assert exact[0].abs().max() > 1e-3  # the product is not trivially zero


def test_second_order_gradient_matches_the_unrolled_formula():
    # grad = dL_val(w')/dα − ξ H v with w' = w − ξ dL_train/dw, computed independently with double backward.
    torch.manual_seed(1)
    model = _Tiny().double().eval()
    xt, yt = torch.randn(6, 2, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    xv, yv = torch.randn(6, 2, 4, 4, dtype=torch.float64), torch.tensor([2, 1, 0, 2, 1, 0])
    xi = 0.05
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=xi, momentum=0.9, weight_decay=0.0)
    architect = Architect(model, order=2, lr=1.0, betas=(0.0, 0.999), weight_decay=0.0)
    weights, (alpha,) = model.weight_parameters(), model.arch_parameters()

    # Reference: functional unrolled loss, differentiated exactly through w'(α).
    from torch.func import functional_call

    names = [n for n, p in model.named_parameters() if n != "alpha"]

    def loss_at(ws, a, x, y):
        params = dict(zip(names, ws, strict=True)) | {"alpha": a}
        return F.cross_entropy(functional_call(model, params, (x,)), y)

    a = alpha.detach().clone().requires_grad_(True)
    ws = [w.detach().clone().requires_grad_(True) for w in weights]
    g_train = torch.autograd.grad(loss_at(ws, a, xt, yt), ws, create_graph=True)
    unrolled = [w - xi * g for w, g in zip(ws, g_train, strict=True)]
    (expected,) = torch.autograd.grad(loss_at(unrolled, a, xv, yv), a)

    _, got = architect._unrolled_grads((xv, yv), (xt, yt), w_opt)
    torch.testing.assert_close(got[0], expected, rtol=1e-4, atol=1e-8)
    for w, saved in zip(weights, ws, strict=True):
        assert torch.equal(w.detach(), saved.detach())  # weights restored exactly
