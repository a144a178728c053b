"""``nasforge.exercises.darts_mnist``: the DARTS-MNIST sheet's classes, checked against hand-derived values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.errors import ConfigError
from nasforge.exercises.darts_mnist import OPS, PRIMITIVES, Architect, MixedOp, Network
from nasforge.oneshot import build_supernet
from nasforge.oneshot.search import SearchConfig
from nasforge.spaces.darts import Genotype
from nasforge.train import available_devices

# Weights of the sheet's network, edge by edge (C=16 in cells 1-2, 32 in cell 3; affine-free BatchNorm has none):
#   cell 1 (reduction, 1 -> 16): preprocess 1x1 conv 1*16 = 16; two stride-2 edges from the input, each a
#     factorized reduce (2 * 16*8 = 256) and a 3x3 conv (16*16*9 = 2,304); one stride-1 conv edge 2,304 -> 7,440
#   cell 2 (normal, 32 -> 16): preprocess 32*16 = 512; three conv edges 3 * 2,304                       -> 7,424
#   cell 3 (reduction, 32 -> 32): preprocess 32*32 = 1,024; two edges of 2 * 32*16 + 32*32*9 = 10,240;
#     one conv edge 9,216                                                                              -> 30,720
#   classifier Linear(64, 10): 650.        Total 7,440 + 7,424 + 30,720 + 650 = 46,234 (the sheet's number).
SHEET_WEIGHTS = 46_234


def test_primitives_are_the_sheets_in_its_order():
    assert PRIMITIVES == ["avg_pool_3x3", "max_pool_3x3", "skip_connect", "conv_3x3"]


def test_the_network_has_the_sheets_46234_weights_and_alpha_apart():
    net = Network("cpu")
    assert sum(p.numel() for p in net.parameters()) == SHEET_WEIGHTS
    # The nasforge darts-mnist supernet is the same network: the same weights, alpha as parameters there.
    supernet = build_supernet("darts-mnist", "mnist")
    assert sum(p.numel() for p in supernet.weight_parameters()) == SHEET_WEIGHTS
    assert [tuple(a.shape) for a in net.arch_parameters] == [(3, 4), (3, 4)]
    assert net.arch_parameters() == list(net.arch_parameters)  # the attribute and nasforge's call agree
    assert net.arch_parameters[0] is net.alphas_normal and net.arch_parameters[1] is net.alphas_reduce
    assert all(a.requires_grad and a.is_leaf for a in net.arch_parameters)
    assert {id(a) for a in net.arch_parameters}.isdisjoint(id(p) for p in net.parameters())
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_the_cells_have_the_sheets_widths():
    net = Network("cpu")
    x = torch.randn(2, 1, 28, 28)
    shapes = []
    for cell, reduction in zip(net.cells, net.reductions, strict=True):
        x = cell([cell.preprocess[0](x)], F.softmax(net.alphas_reduce if reduction else net.alphas_normal, -1))
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 14, 14), (32, 14, 14), (64, 7, 7)]  # 2 nodes x 16, 2 x 16, 2 x 32 channels
    assert (net.classifier.in_features, net.classifier.out_features) == (64, 10)


def _sheet_draws(alpha_device="cpu"):
    """What the sheet's Network(device) draws from the global RNG, in its build order, with stock modules."""
    tensors = []

    def conv(c_in, c_out, k, stride=1):
        tensors.append(nn.Conv2d(c_in, c_out, k, stride, bias=False).weight.detach())

    for c_prev, C, reduction in ((1, 16, True), (32, 16, False), (32, 32, True)):
        conv(c_prev, C, 1)  # preprocess
        for node in range(2):
            for src in range(node + 1):
                if reduction and src == 0:  # ops in PRIMITIVES order: pools (no weights), skip, conv
                    conv(C, C // 2, 1, 2)
                    conv(C, C // 2, 1, 2)
                conv(C, C, 3)
    linear = nn.Linear(64, 10)
    tensors += [linear.weight.detach(), linear.bias.detach()]
    tensors += [1e-3 * torch.randn(3, 4, device=alpha_device), 1e-3 * torch.randn(3, 4, device=alpha_device)]
    return tensors


def _network_tensors(net):
    tensors = []
    for cell, reduction in zip(net.cells, net.reductions, strict=True):
        tensors.append(cell.preprocess[0][1].weight)
        for node in range(2):
            for src in range(node + 1):
                fan, edge = cell.fans[src], node - src
                if reduction and src == 0:
                    skip = fan.per_edge["skip_connect"][edge]
                    tensors += [skip.conv_1.weight, skip.conv_2.weight]
                C = fan.C
                tensors.append(fan.convs["conv_3x3"][0].weight[edge * C : (edge + 1) * C])
    return [*tensors, net.classifier.weight, net.classifier.bias, net.alphas_normal, net.alphas_reduce]


def test_a_seeded_network_is_the_sheets_seeded_network():
    torch.manual_seed(2)
    expected = _sheet_draws()
    after_sheet = torch.rand(3)
    torch.manual_seed(2)
    net = Network("cpu")
    after_ours = torch.rand(3)
    got = _network_tensors(net)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g.detach(), e, rtol=0, atol=0)
    torch.testing.assert_close(after_ours, after_sheet, rtol=0, atol=0)  # the RNG is left where the sheet's is


def test_library_supernet_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.rand(2)
    torch.manual_seed(5)
    build_supernet("darts-mnist", "mnist", seed=2)
    torch.testing.assert_close(torch.rand(2), before, rtol=0, atol=0)


# --- op forms, by hand ----------------------------------------------------------------------------------------

ONES = torch.ones(1, 1, 3, 3)
X = torch.tensor([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0], [6.0, 7.0, -8.0]]).view(1, 1, 3, 3)


def test_avg_pool_does_not_count_padding():
    # Corner window of a 3x3 image of ones: 4 pixels inside, 5 padding -> 4/4 = 1 (4/9 if padding counted).
    out = OPS["avg_pool_3x3"](1, 1)(ONES)
    torch.testing.assert_close(out, torch.ones(1, 1, 3, 3))
    # On X the top-left window holds -1, 2, 3, -4: mean 0; the centre window all nine: 10/9.
    out = OPS["avg_pool_3x3"](1, 1)(X)
    assert out[0, 0, 0, 0].item() == 0.0 and math.isclose(out[0, 0, 1, 1].item(), 10 / 9, rel_tol=1e-6)


def test_max_pool_skip_and_conv_forms():
    torch.testing.assert_close(
        OPS["max_pool_3x3"](1, 1)(X).view(3, 3), torch.tensor([[3.0, 5, 5], [7, 7, 7], [7, 7, 7]])
    )
    assert torch.equal(OPS["skip_connect"](1, 1)(X), X)
    conv = OPS["conv_3x3"](1, 1)
    assert [type(m) for m in conv] == [nn.Conv2d, nn.ReLU] and conv[0].bias is None  # no bias, no BatchNorm
    with torch.no_grad():
        conv[0].weight.zero_()
        conv[0].weight[0, 0, 1, 1] = -2.0  # -2x, then ReLU
    torch.testing.assert_close(conv(X), torch.relu(-2 * X))


def test_skip_at_stride_2_is_the_factorized_reduce():
    op = OPS["skip_connect"](2, 2).eval()  # eval: BatchNorm's fresh statistics (0, 1)
    assert op.bn.weight is None and op.bn.bias is None  # no affine
    with torch.no_grad():
        op.conv_1.weight.fill_(1.0)  # each 1x1 conv sums its two input channels
        op.conv_2.weight.fill_(1.0)
    x = torch.arange(32.0).view(1, 2, 4, 4) - 10  # channels c0 = -10..5, c1 = 6..21
    relu = torch.relu(x).sum(1)  # ReLU first, then both channels summed
    expected = torch.stack([relu[0, ::2, ::2], relu[0, 1::2, 1::2]])  # x, and x shifted by one pixel
    torch.testing.assert_close(op(x)[0], expected / math.sqrt(1 + 1e-5))


def test_mixed_op_is_the_softmax_weighted_sum_by_hand():
    op = MixedOp(1, 1)
    conv = op._ops[3]
    with torch.no_grad():
        op.edges.convs["conv_3x3"][0].weight.zero_()
        op.edges.convs["conv_3x3"][0].weight[0, 0, 1, 1] = 1.0  # conv_3x3 becomes ReLU(x)
    alphas = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))  # (1, 4); softmax 0.1, 0.2, 0.3, 0.4
    avg = [[0.0, 5 / 6, 3 / 4], [13 / 6, 10 / 9, 1 / 3], [3, 3 / 2, 0]]
    mx = [[3.0, 5, 5], [7, 7, 7], [7, 7, 7]]
    x = X.view(3, 3).tolist()
    expected = [
        [0.1 * avg[i][j] + 0.2 * mx[i][j] + 0.3 * x[i][j] + 0.4 * max(x[i][j], 0) for j in range(3)] for i in range(3)
    ]
    torch.testing.assert_close(op(X, alphas).view(3, 3), torch.tensor(expected), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(op(X, alphas.view(4)), op(X, alphas))  # (4,) alphas alike
    torch.testing.assert_close(conv(X), torch.relu(X))  # the sheet's _ops[k] are the single ops
    assert MixedOp(4, 2)(torch.randn(2, 4, 8, 8), torch.zeros(4)).shape == (2, 4, 4, 4)


# --- genotype and architect -----------------------------------------------------------------------------------


def test_genotype_as_the_sheet_derives_it():
    net = Network("cpu")
    with torch.no_grad():
        net.alphas_normal.copy_(torch.tensor([[0.0, 0, 0, 3], [2.0, 0, 0, 0], [0.0, 4, 0, 0]]))
        net.alphas_reduce.zero_()  # all ties: the first op, edges in input order
    g = net.genotype()
    # normal node 0: its one edge (conv); node 1: edge 1->2 (max weight e^4/(e^4+3)) before edge 0->2 (avg).
    assert g.normal == (("conv_3x3", 0), ("max_pool_3x3", 1), ("avg_pool_3x3", 0))
    assert g.reduce == (("avg_pool_3x3", 0), ("avg_pool_3x3", 0), ("avg_pool_3x3", 1))
    assert str(g).endswith("reduce_concat=range(1, 3))") and Genotype.parse(str(g)) == g


def test_architect_step_is_one_first_order_adam_step_on_alpha_only():
    torch.manual_seed(0)
    net = Network("cpu")
    architect = Architect(net)
    x, y = torch.randn(8, 1, 28, 28), torch.arange(8)
    weights = [p.detach().clone() for p in net.parameters()]
    alphas = [a.detach().clone() for a in net.arch_parameters]
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), net.arch_parameters)
    architect.step(x, y)
    # Adam's first step moves each entry by lr * g / (|g| + eps) = lr * sign(g), g with weight decay 1e-3 * alpha.
    for before, g, after in zip(alphas, grads, net.arch_parameters, strict=True):
        torch.testing.assert_close(after.detach(), before - 3e-4 * torch.sign(g + 1e-3 * before), rtol=0, atol=1e-8)
        torch.testing.assert_close(after.grad, g)  # the step's gradient stays on α, as after the sheet's step
    for before, p in zip(weights, net.parameters(), strict=True):
        assert torch.equal(before, p.detach())
    opt = architect.arch_optimizer
    assert (opt.defaults["lr"], opt.defaults["betas"], opt.defaults["weight_decay"]) == (3e-4, (0.5, 0.999), 1e-3)


def test_the_sheets_weight_optimizer_leaves_alpha_alone():
    net = Network("cpu")
    optimizer = torch.optim.SGD(net.parameters(), 0.025, momentum=0.9, weight_decay=3e-4)  # as train_search.py
    alphas = [a.detach().clone() for a in net.arch_parameters]
    optimizer.zero_grad()
    F.cross_entropy(net(torch.randn(4, 1, 28, 28)), torch.arange(4)).backward()
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(alphas, net.arch_parameters, strict=True))


# --- the protocol of nasforge darts --space darts-mnist ---------------------------------------------------------


def test_darts_mnist_defaults_are_the_sheets_protocol_and_darts_keeps_its_refinements():
    sheet = SearchConfig(space="darts-mnist")
    assert (sheet.w_lr, sheet.w_momentum, sheet.w_weight_decay, sheet.batch_size) == (0.025, 0.9, 3e-4, 64)
    assert (sheet.epochs, sheet.seed, sheet.grad_clip, sheet.stem_multiplier) == (5, 2, 0.0, 0)
    assert (sheet.split, sheet.valid_sampling, sheet.valid_fraction) == ("halves", "random", 0.5)
    assert [sheet.lr_at(e) for e in range(5)] == [0.025] * 5  # constant
    darts = SearchConfig(space="darts")
    assert (darts.grad_clip, darts.stem_multiplier, darts.seed, darts.lr_schedule) == (5.0, 3, 0, "cosine")
    assert darts.lr_at(0) == 0.025 and math.isclose(darts.lr_at(5), 0.001)
    # The refinements stay options of darts-mnist.
    refined = SearchConfig(space="darts-mnist", lr_schedule="cosine", grad_clip=5.0, stem_multiplier=1)
    assert refined.lr_at(4) < 0.025 and refined.grad_clip == 5.0
    assert (
        sum(p.numel() for p in build_supernet("darts-mnist", "mnist", stem_multiplier=1).weight_parameters())
        > SHEET_WEIGHTS
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"lr_schedule": "step"}, "lr_schedule"), ({"grad_clip": -1.0}, "grad_clip"), ({"split": "x"}, "split")],
)
def test_bad_protocol_values_are_config_errors(changes, match):
    from nasforge.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        SearchConfig(space="darts-mnist", **changes)


def test_the_sheets_split_is_first_half_and_second_half():
    from nasforge.data import ImageDataset
    from nasforge.oneshot.search import search_split

    ds = ImageDataset(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.arange(10), "mnist", "ten")
    train, valid = search_split(ds, SearchConfig(space="darts-mnist"))
    assert train.labels.tolist() == [0, 1, 2, 3, 4] and valid.labels.tolist() == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("device", ["foo", "mps", "cuda:7"])
def test_a_device_this_machine_lacks_is_a_config_error(device):
    if device in {str(d) for d in available_devices()} or (device == "mps" and torch.backends.mps.is_available()):
        pytest.skip(f"this machine has {device}")
    with pytest.raises(ConfigError, match=device):
        Network(device)
