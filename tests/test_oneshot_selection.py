"""SPOS, RSPS and SETN: uniform single paths, BatchNorm recalibration, the three selections, end to end."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from test_darts_cli import TINY, tiny_mnist  # noqa: F401  (the tiny MNIST fixture)

from nasforge.cli.main import main
from nasforge.oneshot.methods import METHODS, uniform_one_hot
from nasforge.oneshot.selection import (
    evolve,
    nb201_connected,
    one_hot,
    random_candidates,
    recalibrate_bn,
    template_sample,
)
from nasforge.oneshot.supernet import build_supernet
from nasforge.spaces.nb201 import OPS as NB201_OPS
from nasforge.spaces.nb201 import NB201Arch


def _ops(text: str) -> tuple[int, ...]:
    return tuple(NB201_OPS.index(op) for op in NB201Arch.parse(text).ops)


def test_uniform_paths_follow_the_uniform_frequencies_under_a_seed():
    alpha = torch.randn(6, 5, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([uniform_one_hot(alpha, 1.0, gen) for _ in range(20_000)])
    assert bool(((draws == 0) | (draws == 1)).all()) and bool((draws.sum(-1) == 1).all())
    freq = draws.mean(0)  # 1/5 each; sd sqrt(0.2 * 0.8 / 20,000) = 0.0028
    assert float((freq - 0.2).abs().max()) < 0.012
    assert not draws.requires_grad  # SPOS / RSPS never train α
    again = torch.stack([uniform_one_hot(alpha, 1.0, torch.Generator().manual_seed(0)) for _ in range(3)])
    assert torch.equal(again[0], draws[0]) and torch.equal(again[1], again[0])  # a seed fixes the draw


def test_spos_supernet_trains_the_sampled_path_only():
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    net.method, net.sample_gen = METHODS["spos"], torch.Generator().manual_seed(8)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    sampled = net(x)
    path = uniform_one_hot(net.alpha, 1.0, torch.Generator().manual_seed(8))  # the same draw, by hand
    net.fixed = path
    assert torch.equal(sampled, net(x))
    net.fixed = None
    sampled.sum().backward()
    assert net.alpha.grad is None  # no gradient reaches α
    first_cell = net.cells[0]
    conv = first_cell.fans[0].convs["nor_conv_3x3"][0]  # edges 0→1, 0→2, 0→3 share this fused conv
    chose = [NB201_OPS[int(path[edge].argmax())] == "nor_conv_3x3" for edge in (0, 1, 3)]
    assert any(chose) and not all(chose)  # seed 8: 0→1, 0→2 conv, 0→3 pool; nodes 1, 2 feed node 3
    for k, chose_conv in enumerate(chose):
        rows = conv.weight.grad[k * 4 : (k + 1) * 4]
        assert bool((rows != 0).any()) == chose_conv  # only a sampled conv gets a gradient


def test_a_fixed_path_cell_equals_the_all_ops_cell_with_its_one_hot_weights():
    from nasforge.oneshot.mixed import nb201_search_op
    from nasforge.oneshot.supernet import SearchCell

    cell = SearchCell(1, 3, 4, NB201_OPS, resolve=nb201_search_op, output="last")
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(5))
    for seed in range(4):
        path = uniform_one_hot(torch.zeros(6, 5), 1.0, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(cell([x], path, one_path=True), cell([x], path), rtol=1e-5, atol=1e-6)
    none_only = F.one_hot(torch.zeros(6, dtype=torch.long), 5).float()
    assert torch.equal(cell([x], none_only, one_path=True), torch.zeros_like(x))


def test_bn_recalibration_equals_the_batch_statistics_computed_independently():
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    candidate = _ops("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|")
    gen = torch.Generator().manual_seed(2)
    batches = [torch.randn(8, 3, 8, 8, generator=gen) for _ in range(2)]
    net.fixed = one_hot(candidate, 5)
    recalibrate_bn(net, batches)
    stem_conv, stem_bn = net.stem
    means, variances, edge_means, edge_vars = [], [], [], []
    for x in batches:  # by hand: conv, then train-mode BatchNorm on the batch's own statistics
        y = F.conv2d(x, stem_conv.weight, padding=1)
        means.append(y.mean(dim=(0, 2, 3)))
        variances.append(y.var(dim=(0, 2, 3), unbiased=True))
        biased = y.var(dim=(0, 2, 3), unbiased=False)
        s = (y - means[-1][None, :, None, None]) / torch.sqrt(biased + stem_bn.eps)[None, :, None, None]
        s = s * stem_bn.weight[None, :, None, None] + stem_bn.bias[None, :, None, None]
        conv = net.cells[0].fans[0].convs["nor_conv_3x3"][0]
        e = F.conv2d(torch.relu(s), conv.weight[:4], padding=1)  # edge 0→1's own output channels
        edge_means.append(e.mean(dim=(0, 2, 3)))
        edge_vars.append(e.var(dim=(0, 2, 3), unbiased=True))
    torch.testing.assert_close(stem_bn.running_mean, (means[0] + means[1]) / 2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stem_bn.running_var, (variances[0] + variances[1]) / 2, rtol=1e-5, atol=1e-6)
    fused_bn = net.cells[0].fans[0].convs["nor_conv_3x3"][1]
    torch.testing.assert_close(fused_bn.running_mean[:4], (edge_means[0] + edge_means[1]) / 2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fused_bn.running_var[:4], (edge_vars[0] + edge_vars[1]) / 2, rtol=1e-4, atol=1e-5)
    assert stem_bn.momentum == 0.1 and fused_bn.momentum == 0.1  # the training momentum is back


@pytest.mark.parametrize(
    ("arch", "connected"),
    [
        ("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", True),  # 0→3 directly
        ("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", False),  # 1 is reached, 3 is not
        ("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|", True),  # 0→1→2→3
        ("|none~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|", False),  # 1→2→3 but 1 unreached
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", False),
    ],
)
def test_nb201_connected_by_hand(arch, connected):
    assert nb201_connected(_ops(arch)) is connected


def test_spos_evolution_keeps_the_constraint_and_improves_on_its_population():
    def fitness(c: tuple[int, ...]) -> float:  # known optimum: every edge nor_conv_3x3 (6)
        return float(sum(op == NB201_OPS.index("nor_conv_3x3") for op in c))

    for seed in range(3):
        scored = evolve(fitness, 120, 6, 5, torch.Generator().manual_seed(seed), nb201_connected)
        assert len(scored) == 120 and all(nb201_connected(c) for c in scored)  # distinct (dict keys), all valid
        initial = list(scored.values())[:30]  # P = 120 // 4 random cells first
        assert max(scored.values()) >= max(initial) + 2  # children of the best beat the random population
    with pytest.raises(ValueError, match="no valid new candidate"):
        evolve(fitness, 3, 6, 5, torch.Generator().manual_seed(0), lambda c: False)


def test_random_candidates_are_distinct_and_cover_a_small_space():
    gen = torch.Generator().manual_seed(0)
    assert sorted(random_candidates(10, 2, 2, gen)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    many = random_candidates(500, 6, 5, gen)
    assert len(set(many)) == 500


def test_setn_template_sampling_follows_the_evaluators_product_distribution():
    alpha = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0]] * 3 + [[0.0, 1.0, 0.0, 0.0, -2.0]] * 3)
    probs = torch.softmax(alpha, dim=-1)
    gen = torch.Generator().manual_seed(0)
    draws = torch.tensor([template_sample(probs, gen) for _ in range(20_000)])
    for edge in range(6):
        freq = torch.bincount(draws[:, edge], minlength=5) / len(draws)
        assert float((freq - probs[edge]).abs().max()) < 0.015
    pair = float(((draws[:, 0] == 0) & (draws[:, 5] == 1)).float().mean())  # edges drawn independently
    assert abs(pair - float(probs[0, 0] * probs[5, 1])) < 0.015


def test_setn_mixes_every_op_in_the_alpha_step_and_one_path_for_the_weights():
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    net.method = METHODS["darts"]
    darts = net(x)
    net.method, net.arch_phase, net.sample_gen = METHODS["setn"], True, torch.Generator().manual_seed(0)
    torch.testing.assert_close(net(x), darts)  # the evaluator's step: softmax(α) over all ops, as DARTS
    net.arch_phase = False
    path = uniform_one_hot(net.alpha, 1.0, torch.Generator().manual_seed(0))
    single = net(x)
    net.fixed = path
    assert torch.equal(single, net(x))  # the template's step: a uniform single path


@pytest.mark.parametrize("method", ["spos", "rsps", "setn"])
def test_selecting_methods_run_and_resume_to_the_uninterrupted_result(method, tiny_mnist, tmp_path, capsys):  # noqa: F811
    from nasforge.data import load_dataset
    from nasforge.oneshot.search import SearchConfig, search

    argv = ["oneshot", "--method", method, "--space", "nb201", "--epochs", "2", "--out", str(tmp_path / "a")]
    argv += ["--candidates", "6", "--recalib-batches", "2", "--data-dir", str(tiny_mnist), "--json", *TINY]
    assert main(argv) == 0
    capsys.readouterr()
    straight = [json.loads(line) for line in (tmp_path / "a" / "search.jsonl").read_text().splitlines()]

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    config = SearchConfig(
        space="nb201", dataset="mnist", method=method, epochs=2, batch_size=16, C=4, candidates=6, recalib_batches=2
    )
    images = load_dataset("mnist", "train", tiny_mnist)
    with pytest.raises(Stop):
        search(config, images, out_dir=tmp_path / "b", progress=False, on_epoch=stop)
    result = search(config, images, out_dir=tmp_path / "b", progress=False, resume=True)
    resumed = [r.to_dict() for r in result.records]
    assert [r["genotype"] for r in resumed] == [r["genotype"] for r in straight]
    assert [r["valid_acc"] for r in resumed] == pytest.approx([r["valid_acc"] for r in straight], abs=1e-9)
    assert str(result.arch) == json.loads((tmp_path / "a" / "genotype.json").read_text())["arch"]
    if method != "setn":
        assert all(r["arch_loss"] == 0.0 for r in straight)  # no α step at all
        assert all(row == pytest.approx([0.2] * 5) for r in straight for row in r["alphas"]["alpha"])  # uniform
