"""DrNAS' progressive partial-channel schedule: channel shuffle, the partial edge, pruning, masked Dirichlet."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from test_darts_cli import TINY, tiny_mnist  # noqa: F401  (the tiny MNIST fixture)

from nasforge.cli.main import main
from nasforge.errors import ConfigError
from nasforge.oneshot.methods import METHODS
from nasforge.oneshot.mixed import MixedEdges, channel_shuffle, nb201_search_op
from nasforge.oneshot.search import SearchConfig
from nasforge.oneshot.supernet import SearchCell, build_supernet
from nasforge.spaces.nb201 import OPS as NB201_OPS


def _shuffle_by_hand(x: torch.Tensor, groups: int) -> torch.Tensor:
    per = x.shape[1] // groups  # output channel a * groups + b is input channel b * per + a
    order = [b * per + a for a in range(per) for b in range(groups)]
    return x[:, order]


def test_channel_shuffle_by_hand():
    x = torch.arange(8.0).reshape(1, 8, 1, 1).expand(2, 8, 3, 3)
    assert channel_shuffle(x, 2)[0, :, 0, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert channel_shuffle(x, 4)[0, :, 0, 0].tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_partial_channel_cell_equals_the_hand_composition():
    cell = SearchCell(1, 3, 4, NB201_OPS, resolve=nb201_search_op, output="last")
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    skip, none = NB201_OPS.index("skip_connect"), NB201_OPS.index("none")
    # edges 0→1, 0→2, 1→2, 0→3, 1→3, 2→3
    picks = [skip, none, skip, none, none, skip]
    weights = F.one_hot(torch.tensor(picks), len(NB201_OPS)).float()
    out = cell([x], weights, partial=2)

    def edge(s: torch.Tensor, op: int) -> torch.Tensor:  # shuffle(cat(op(s[:2]), s[2:]), 2)
        head = s[:, :2] if op == skip else torch.zeros_like(s[:, :2])
        return _shuffle_by_hand(torch.cat([head, s[:, 2:]], dim=1), 2)

    n1 = edge(x, skip)
    n2 = edge(x, none) + edge(n1, skip)
    n3 = edge(x, none) + edge(n1, none) + edge(n2, skip)
    torch.testing.assert_close(out, n3)
    mixed = torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(1)), dim=-1)
    torch.testing.assert_close(cell([x], mixed, partial=1), cell([x], mixed))  # K = 1: every channel, DARTS


def test_partial_conv_uses_the_leading_block_of_its_edges_weight():
    cell = SearchCell(1, 3, 4, NB201_OPS, resolve=nb201_search_op, output="last")
    x = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(2))
    conv3, none = NB201_OPS.index("nor_conv_3x3"), NB201_OPS.index("none")
    picks = [none, none, none, conv3, none, none]  # only 0→3: node 3 = shuffle(cat(conv(x[:2]), x[2:]))
    out = cell([x], F.one_hot(torch.tensor(picks), 5).float(), partial=2)
    conv = cell.fans[0].convs["nor_conv_3x3"][0]  # 0→1, 0→2, 0→3: edge 2's rows are 8..11
    y = F.conv2d(torch.relu(x[:, :2]), conv.weight[8:10, :2], padding=1)
    var = y.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    y = (y - y.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(var + 1e-5)  # BatchNorm, affine-free, train mode

    def edge(s: torch.Tensor, head: torch.Tensor | None) -> torch.Tensor:  # `none`: zeros in the op's channels
        head = torch.zeros_like(s[:, :2]) if head is None else head
        return _shuffle_by_hand(torch.cat([head, s[:, 2:]], dim=1), 2)

    n1 = edge(x, None)
    n2 = edge(x, None) + edge(n1, None)
    expected = edge(x, y) + edge(n1, None) + edge(n2, None)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_prune_keeps_the_largest_alphas_among_those_kept_so_far():
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    with torch.no_grad():
        net.alpha.copy_(torch.tensor([[-1.0, -2.0, 0.5, -3.0, -0.5]] * 6))
    net.prune(3)
    assert net.op_mask[0].tolist() == [True, False, True, False, True]
    assert net.alpha[0].tolist() == [-1.0, 0.0, 0.5, 0.0, -0.5]  # kept α unchanged, pruned ones 0
    net.prune(2)  # 0 (a pruned op's α) beats -0.5, but a pruned op never comes back
    assert net.op_mask[0].tolist() == [False, False, True, False, True]
    with torch.no_grad():
        net.alpha[:, 1] = 9.0
    assert net.derive().ops == (NB201_OPS[2],) * 6  # argmax among the kept: index 2 (α 0.5)


def test_masked_dirichlet_samples_are_the_kept_ops_dirichlet():
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    net.method, net.sample_gen = METHODS["drnas"], torch.Generator().manual_seed(0)
    alpha = torch.tensor([0.5, -0.5, 1.0, 2.0, 0.0])
    with torch.no_grad():
        net.alpha.copy_(alpha.expand(6, 5))
    net.op_mask = torch.tensor([True, False, True, True, False]).expand(6, 5).clone()
    draws = torch.stack([net.mixing(net.alpha).detach() for _ in range(4000)])
    assert bool((draws[..., [1, 4]] == 0).all())
    torch.testing.assert_close(draws.sum(-1), torch.ones(4000, 6))
    beta = torch.tensor([1.5, 0.0, 2.0, 3.0, 0.0])  # elu(α) + 1 of the kept ops, by hand: mean β / Σβ
    assert float((draws.mean(dim=(0, 1)) - beta / beta.sum()).abs().max()) < 0.01
    net.eval()
    torch.testing.assert_close(net.mixing(net.alpha)[0], beta / beta.sum())


def test_schedule_settings_are_checked():
    base = {"space": "nb201", "dataset": "cifar10", "method": "drnas", "epochs": 4, "C": 8}
    SearchConfig(**base, partial_channels=(4, 2), keep_ops=(5, 3))
    for bad, message in (
        ({"partial_channels": (4, 2), "keep_ops": (5,)}, "one --keep-ops per"),
        ({"partial_channels": (3,), "keep_ops": (5,)}, "divide C=8"),
        ({"partial_channels": (2, 1), "keep_ops": (3, 5)}, "--keep-ops must be non-increasing"),
        ({"partial_channels": (2, 4), "keep_ops": (5, 3)}, "--partial-channels must be non-increasing"),
        ({"partial_channels": (2, 1), "keep_ops": (5, 3), "method": "gdas"}, "DrNAS' on nb201"),
    ):
        with pytest.raises(ConfigError, match=message):
            SearchConfig(**{**base, **bad})


def test_progressive_drnas_prunes_at_the_stage_start_and_resumes(tiny_mnist, tmp_path, capsys):  # noqa: F811
    from nasforge.data import load_dataset
    from nasforge.oneshot.search import search

    argv = ["oneshot", "--method", "drnas", "--space", "nb201", "--epochs", "2", "--out", str(tmp_path / "a")]
    argv += ["--partial-channels", "2,1", "--keep-ops", "5,3", "--data-dir", str(tiny_mnist), "--json", *TINY]
    assert main(argv) == 0
    capsys.readouterr()
    first, second = [json.loads(line) for line in (tmp_path / "a" / "search.jsonl").read_text().splitlines()]
    assert all(min(row) > 0 for row in first["alphas"]["alpha"])  # stage 1: every op
    for row in second["alphas"]["alpha"]:
        assert sum(w > 0 for w in row) == 3 and abs(sum(row) - 1) < 1e-5  # stage 2: 3 ops per edge
    kept = [[w > 0 for w in row] for row in second["alphas"]["alpha"]]
    ops = [part.split("~")[0] for part in second["genotype"].strip("|").split("|") if part != "+"]
    assert all(kept[e][NB201_OPS.index(op)] for e, op in enumerate(ops))  # derived among the kept

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    config = SearchConfig(
        space="nb201", dataset="mnist", method="drnas", epochs=2, batch_size=16, C=4,
        partial_channels=(2, 1), keep_ops=(5, 3),
    )  # fmt: skip
    images = load_dataset("mnist", "train", tiny_mnist)
    with pytest.raises(Stop):
        search(config, images, out_dir=tmp_path / "b", progress=False, on_epoch=stop)
    resumed = search(config, images, out_dir=tmp_path / "b", progress=False, resume=True).records
    assert [r.genotype for r in resumed] == [first["genotype"], second["genotype"]]
    assert resumed[1].alphas == pytest.approx(second["alphas"])


def test_widen_replicates_channels_as_net2wider():
    """K 4 -> 2 on C = 8 (ops of 2 -> 4 channels): with the input's new channels zero, each widened conv outputs the
    old conv's 2 channels exactly, then 2 copies of them (BatchNorm in eval mode with its copied statistics); the
    weight's trained block and the rows beyond the op are untouched, and the momentum buffer follows the copies."""
    gen = torch.Generator().manual_seed(3)
    fan = MixedEdges(8, 1, NB201_OPS, 2, nb201_search_op)
    buffers = {}
    for conv, bn in fan.convs.values():
        bn.running_mean.copy_(torch.randn(16, generator=gen))
        bn.running_var.copy_(torch.rand(16, generator=gen) + 0.5)
        buffers[conv.weight] = torch.randn(conv.weight.shape, generator=gen)
    fan.eval()
    x = torch.randn(3, 8, 5, 5, generator=gen)
    before = fan.partial(x, 4)
    old = {name: (conv.weight.detach().clone(), buffers[conv.weight].clone()) for name, (conv, _) in fan.convs.items()}
    fan.widen(2, 4, torch.Generator().manual_seed(0), buffers.get)
    x[:, 2:4] = 0  # the channels the widened op reads for the first time
    after = fan.partial(x, 2)
    for name, (conv, _) in fan.convs.items():
        k = fan.live_ops.index(NB201_OPS.index(name))
        weight, buffer = conv.weight.detach(), buffers[conv.weight]
        for e in range(2):
            a, b = after[e][k], before[e][k]
            torch.testing.assert_close(a[:, :2], b)
            rows = e * 8
            assert torch.equal(weight[rows : rows + 2, :2], old[name][0][rows : rows + 2, :2])
            assert torch.equal(weight[rows + 4 : rows + 8], old[name][0][rows + 4 : rows + 8])
            for m in (2, 3):
                (source,) = [r for r in (0, 1) if torch.allclose(a[:, m], b[:, r])]  # a copy of exactly one
                assert torch.equal(weight[rows + m, :4], weight[rows + source, :4])
                assert torch.equal(buffer[rows + m, :4], buffer[rows + source, :4])
                # its columns 2, 3 are copies of columns 0, 1 (the same in the weight and its momentum)
                for t, o in ((weight, old[name][0]), (buffer, old[name][1])):
                    cols = [[c for c in (0, 1) if torch.equal(t[rows + r, m], o[rows + r, c])] for r in (0, 1)]
                    assert all(cols) and set(cols[0]) & set(cols[1])


@pytest.mark.usefixtures("one_torch_thread")
def test_progressive_search_widens_at_the_stage_boundary(tiny_mnist, tmp_path):  # noqa: F811
    """K 2 -> 1 on C = 4 with a weight lr of 1e-9 (the weights all but frozen): after stage 2's first epoch each edge's
    conv rows 2, 3 are copies of its rows 0, 1 (to 1e-6), where fresh initial rows would differ by ~0.1."""
    from nasforge.data import load_dataset
    from nasforge.oneshot.search import search

    config = SearchConfig(
        space="nb201", dataset="mnist", method="drnas", epochs=2, batch_size=16, C=4, layers=1,
        partial_channels=(2, 1), keep_ops=(5, 5), w_lr=1e-9, lr_schedule="constant",
    )  # fmt: skip
    search(config, load_dataset("mnist", "train", tiny_mnist), out_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    for key in ("cells.0.fans.0.convs.nor_conv_3x3.0.weight", "cells.0.fans.1.convs.nor_conv_1x1.0.weight"):
        weight = state["model"][key]
        for e in range(weight.shape[0] // 4):
            rows = weight[4 * e : 4 * e + 4, :4]
            for m in (2, 3):
                assert any(torch.allclose(rows[m], rows[r], rtol=0, atol=1e-6) for r in (0, 1)), (key, e, m)
