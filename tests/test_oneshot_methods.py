"""One-shot methods (GDAS, DrNAS) against hand-computed facts, and ``nasforge oneshot`` end to end."""

from __future__ import annotations

import math

import pytest
import torch
from test_darts_cli import TINY, tiny_mnist  # noqa: F401  (the tiny MNIST fixture)
from torch import nn

from nasforge.cli.main import main
from nasforge.errors import ConfigError
from nasforge.oneshot.methods import dirichlet_sample, drnas_kl, get_method, gumbel_hard, temperature
from nasforge.oneshot.mixed import MixedOp, nb201_search_op
from nasforge.oneshot.search import SearchConfig
from nasforge.oneshot.supernet import build_supernet
from nasforge.spaces.nb201 import OPS as NB201_OPS


def _reference_op(op: MixedOp, name: str, x: torch.Tensor) -> torch.Tensor:
    """NB201's op ``name`` computed on its own (the fused conv module of a single edge is that op's conv)."""
    if name == "none":
        return torch.zeros_like(x)
    if name == "skip_connect":
        return x
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    return op.edges.convs[name](torch.relu(x))


def test_gdas_forward_is_exactly_the_sampled_op_and_its_gradient_reaches_every_alpha():
    op = MixedOp(4, 1, NB201_OPS, resolve=nb201_search_op)
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    seen = set()
    for seed in range(12):
        alpha = torch.zeros(1, len(NB201_OPS), requires_grad=True)
        tau = 0.7
        gen = torch.Generator().manual_seed(seed)
        w = gumbel_hard(alpha, tau, gen)
        k = int(w.detach().argmax())
        seen.add(k)
        assert w.detach().tolist() == [[1.0 if i == k else 0.0 for i in range(len(NB201_OPS))]]
        out = op(x, w[0])
        assert torch.equal(out, _reference_op(op, NB201_OPS[k], x))
        g_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(100 + seed))
        (out * g_out).sum().backward()
        # Straight-through by hand: dL/dw_o = <g_out, o(x)> (0 for none); dL/dα = (1/τ) s ⊙ (g − s·g),
        # s = the soft Gumbel sample, recomputed from the same noise.
        u = torch.rand((1, len(NB201_OPS)), generator=torch.Generator().manual_seed(seed))
        gumbel = -torch.log(-torch.log(u))
        s = torch.softmax(gumbel / tau, dim=-1)[0]
        g = torch.tensor([float((g_out * _reference_op(op, n, x)).detach().sum()) for n in NB201_OPS])
        expected = s * (g - (s * g).sum()) / tau
        assert torch.allclose(alpha.grad[0], expected, rtol=1e-4, atol=1e-6)
        assert bool((alpha.grad != 0).all())  # every α of the edge, none included
    assert len(seen) >= 3  # the samples do vary


def test_gdas_samples_follow_softmax_alpha_gumbel_max():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    alpha = torch.log(probs).expand(40_000, 4)
    w = gumbel_hard(alpha, 5.0, torch.Generator().manual_seed(1))  # τ does not change the argmax law
    freq = w.mean(dim=0)
    assert torch.allclose(freq, probs, atol=0.01)


def test_gdas_temperature_schedule_and_bad_temperatures():
    assert temperature(0, 5, 10.0, 0.1) == 10.0
    assert temperature(4, 5, 10.0, 0.1) == pytest.approx(0.1)
    assert temperature(2, 5, 10.0, 0.1) == pytest.approx(5.05)
    with pytest.raises(ConfigError, match="temperature"):
        gumbel_hard(torch.zeros(1, 3), 0.0, None)
    with pytest.raises(ConfigError, match="tau_min"):
        SearchConfig(space="nb201", dataset="cifar10", method="gdas", tau_max=1.0, tau_min=2.0)


def test_drnas_samples_lie_on_the_simplex_with_the_dirichlet_mean():
    alpha = torch.tensor([0.0, 1.0, -1.0, 2.0, 0.5]).expand(50_000, 5).clone().requires_grad_(True)
    before = torch.random.get_rng_state()
    w = dirichlet_sample(alpha, torch.Generator().manual_seed(3))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left alone
    assert bool((w >= 0).all()) and torch.allclose(w.sum(dim=-1), torch.ones(50_000), atol=1e-5)
    beta = torch.tensor([1.0, 2.0, math.exp(-1.0), 3.0, 1.5])  # elu(α) + 1 by hand
    assert torch.allclose(w.mean(dim=0), beta / beta.sum(), atol=0.005)
    w[:, 3].sum().backward()  # pathwise gradient: a sample depends on every concentration
    assert bool((alpha.grad != 0).all())
    same = dirichlet_sample(alpha[:2].detach(), torch.Generator().manual_seed(3))
    assert torch.equal(same, w[:2].detach())  # reproducible from the generator alone


def test_drnas_kl_anchor_by_hand():
    assert float(drnas_kl(torch.zeros(3, 4))) == pytest.approx(0.0, abs=1e-7)  # Dir(1) against itself
    # KL(Dir(2, 1) ‖ Dir(1, 1)) = ln Γ(3) − ln Γ(2) + (2 − 1)(ψ(2) − ψ(3)) = ln 2 − 1/2; α = (1, 0) gives β = (2, 1)
    assert float(drnas_kl(torch.tensor([[1.0, 0.0]]))) == pytest.approx(1e-3 * (math.log(2) - 0.5), rel=1e-5)


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ConfigError, match="valid methods: darts, gdas, drnas"):
        get_method("enas")
    with pytest.raises(ConfigError, match="unknown one-shot method"):
        SearchConfig(method="enas")
    with pytest.raises(ConfigError, match="methods for darts-mnist: darts, gdas, drnas$"):
        SearchConfig(method="spos")  # the default space darts-mnist
    with pytest.raises(ConfigError, match="--order 2 applies to darts, gdas, drnas, setn"):
        SearchConfig(space="nb201", dataset="cifar10", method="rsps", order=2)


def test_oneshot_gdas_runs_resumes_and_refuses_another_method(tiny_mnist, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "gdas"
    base = ["oneshot", "--space", "darts-mnist", "--out", str(out), "--data-dir", str(tiny_mnist), "--json", *TINY]
    assert main([*base, "--method", "gdas", "--epochs", "1"]) == 0
    assert main(["viz", "alphas", str(out), "-o", str(tmp_path / "figs")]) == 0  # drawings per method
    assert (tmp_path / "figs" / "alphas_normal.png").stat().st_size > 0
    capsys.readouterr()
    assert main([*base, "--method", "gdas", "--epochs", "2", "--resume"]) == 2  # epochs differ: refused
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert main([*base, "--method", "drnas", "--epochs", "1", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gdas" in err and "drnas" in err
    assert main([*base, "--method", "gdas", "--epochs", "1", "--arch-lr", "0.01", "--resume"]) == 2  # another α lr
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--arch-lr" in err
    # DARTS records no --method: the refusal still names the method given, not "(not set)"
    assert main([*base, "--method", "darts", "--epochs", "1", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--method "gdas" then, "darts" now' in err and "(not set) now;" not in err
    # without --json the refusal comes before the banner: nothing on stdout
    assert main([a for a in base if a != "--json"] + ["--method", "gdas", "--epochs", "2", "--resume"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1


def test_oneshot_killed_before_its_first_checkpoint_names_force(tiny_mnist, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "gdas"
    base = ["oneshot", "--space", "darts-mnist", "--out", str(out), "--data-dir", str(tiny_mnist), "--json", *TINY]
    assert main([*base, "--method", "gdas", "--epochs", "1"]) == 0
    for name in ("checkpoint.pt", "search.jsonl", "genotype.json"):  # as a run killed in its first epoch
        (out / name).unlink()
    capsys.readouterr()
    assert main([*base, "--method", "gdas", "--epochs", "1", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing to resume" in err and "--force" in err
    assert main([*base, "--method", "gdas", "--epochs", "1", "--force"]) == 0  # the named fix works
    assert (out / "checkpoint.pt").is_file()


def test_oneshot_arch_lr_reaches_the_architect_and_its_step(tiny_mnist, tmp_path):  # noqa: F811
    """--arch-lr is the α optimizer's lr: after one Adam step from zero moments every α moves by about the lr
    (Adam's first step is lr · g/|g|, here also weight decay 1e-3 · α, negligible), so 10x the lr moves α 10x."""
    moved = {}
    for lr in (0.001, 0.01):
        out = tmp_path / f"gdas-{lr}"
        base = ["oneshot", "--space", "darts-mnist", "--out", str(out), "--data-dir", str(tiny_mnist), "--json"]
        assert main([*base, *TINY, "--method", "gdas", "--epochs", "1", "--arch-lr", str(lr)]) == 0
        state = torch.load(out / "checkpoint.pt", weights_only=False)
        assert state["a_optimizer"]["param_groups"][0]["lr"] == lr
        assert state["config"]["a_lr"] == lr
        start = build_supernet("darts-mnist", "mnist", seed=state["config"]["seed"])
        moved[lr] = float((state["model"]["alpha_normal"] - start.alpha_normal.detach()).abs().max())
    assert 0 < moved[0.001] <= 0.001 * len(TINY) * 10 and moved[0.01] / moved[0.001] == pytest.approx(10, rel=0.2)
    # the default given explicitly is the default: the run resumes without the option
    out = tmp_path / "gdas-default"
    base = ["oneshot", "--space", "darts-mnist", "--out", str(out), "--data-dir", str(tiny_mnist), "--json"]
    assert main([*base, *TINY, "--method", "gdas", "--epochs", "1", "--arch-lr", "3e-4"]) == 0
    assert main([*base, *TINY, "--method", "gdas", "--epochs", "1", "--resume"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "enas"], "valid methods: darts, gdas, drnas"),
        (["--method", "gdas", "--tau-max", "0"], "--tau-max"),
        (["--method", "gdas", "--tau-min", "-1"], "--tau-min"),
        (["--method", "gdas", "--tau-max", "1", "--tau-min", "5"],
         "--tau-min 5.0 must lie in (0, --tau-max 1.0]: GDAS anneals from --tau-max down to --tau-min; e.g. "),
        (["--method", "gdas", "--epochs", "0"], "--epochs"),
        (["--method", "setn", "--space", "darts"], "methods for darts: darts, gdas, drnas"),
        (["--method", "spos", "--space", "nb201", "--candidates", "0"], "--candidates"),
        (["--method", "rsps", "--space", "nb201", "--recalib-batches", "-1"], "--recalib-batches"),
        (["--method", "gdas", "--arch-lr", "0"], "--arch-lr"),
        (["--method", "gdas", "--arch-lr", "nan"], "--arch-lr"),
        (["--method", "gdas", "--arch-lr", "11"], "--arch-lr"),
        (["--method", "spos", "--space", "nb201", "--arch-lr", "1e-3"], "--arch-lr applies to darts, gdas, drnas"),
        # the temperature is GDAS' alone: elsewhere it was once accepted and ignored
        (["--method", "drnas", "--tau-min", "0.5"], "--tau-min applies to gdas only"),
        (["--method", "setn", "--space", "nb201", "--tau-max", "3"], "--tau-max applies to gdas only"),
        (["--method", "darts", "--tau-min", "20"], "--tau-min applies to gdas only"),
    ],
)
def test_oneshot_bad_input_is_one_line_exit_2(extra, message, tmp_path, capsys):
    try:
        code = main(["oneshot", "--out", str(tmp_path / "o"), *extra])
    except SystemExit as exc:  # argparse's own refusals (range-checked numbers)
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o" / "checkpoint.pt").exists()


def test_gdas_one_path_cell_computes_only_the_chosen_ops_exactly():
    from nasforge.oneshot.supernet import SearchCell

    cell = SearchCell(1, 3, 4, NB201_OPS, resolve=nb201_search_op, output="last")
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(5))
    # edges 0→1, 0→2, 1→2, 0→3, 1→3, 2→3: avg_pool, skip, none, none, skip, skip
    names = ("avg_pool_3x3", "skip_connect", "none", "none", "skip_connect", "skip_connect")
    picks = [NB201_OPS.index(n) for n in names]
    alpha = torch.zeros(6, len(NB201_OPS), requires_grad=True)
    hard = torch.nn.functional.one_hot(torch.tensor(picks), len(NB201_OPS)).float()
    soft = torch.softmax(alpha, dim=-1)
    weights = hard + (soft - soft.detach())  # straight-through, value exactly one-hot
    out = cell([x], weights, one_path=True)
    # node 1 = avg_pool(x), node 2 = x, node 3 = node 1 + node 2: by hand, without the supernet's modules
    expected = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x) + x
    assert torch.equal(out, expected)
    full = cell([x], weights.detach())  # the all-ops path with the same one-hot weights
    assert torch.allclose(out, full, atol=1e-6)
    out.sum().backward()
    assert bool((alpha.grad.abs().sum(dim=-1) > 0).all())  # every edge's α gets a gradient


def test_gdas_one_path_weight_gradients_are_the_reference_codes():
    """xautodl's GDAS cell sums ``op(x) · w[o]`` for the sampled op and the bare scalar ``w[k]`` for every other op:
    dL/dw[o] = ⟨∂L/∂node, o(x)⟩ (0 for none) and dL/dw[k] = Σ ∂L/∂node. By hand for a cell whose node gradients
    are known: L = ⟨g, node 3⟩ with edges avg_pool, skip, none, none, skip, skip (so ∂L/∂node 1, 2, 3 are all g)."""
    from nasforge.oneshot.supernet import SearchCell

    cell = SearchCell(1, 3, 4, NB201_OPS, resolve=nb201_search_op, output="last")
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(6))
    g = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(7))
    names = ("avg_pool_3x3", "skip_connect", "none", "none", "skip_connect", "skip_connect")
    picks = [NB201_OPS.index(n) for n in names]
    w = torch.nn.functional.one_hot(torch.tensor(picks), len(NB201_OPS)).float().requires_grad_(True)
    (cell([x], w, one_path=True) * g).sum().backward()
    node1 = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(x)
    taken = [(g * node1).sum(), (g * x).sum(), 0.0, 0.0, (g * node1).sum(), (g * x).sum()]  # node 2 = x
    expected = torch.full((6, len(NB201_OPS)), float(g.sum()))
    for row, (pick, value) in enumerate(zip(picks, taken, strict=True)):
        expected[row, pick] = float(value)
    assert torch.allclose(w.grad, expected, rtol=1e-5, atol=1e-5)


def test_gdas_supernet_trains_with_one_path_and_evaluates_its_argmax():
    from nasforge.oneshot.methods import METHODS
    from nasforge.oneshot.supernet import build_supernet

    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    net.method, net.tau, net.sample_gen = METHODS["gdas"], 1.0, torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2])).backward()
    assert bool((net.alpha.grad != 0).all())
    net.eval()
    with torch.no_grad():
        one_path = net(x)
        net.method = METHODS["darts"]
        net.alpha.copy_(torch.nn.functional.one_hot(net.alpha.argmax(-1), len(NB201_OPS)) * 60.0)
        assert torch.allclose(one_path, net(x), atol=1e-4)  # softmax of ±60 is one-hot to float precision


def test_one_path_sum_equals_the_plain_products_and_sums():
    """GDAS' fused node against ``Σ w_k · t_k + rest`` written out: value, the gradients to every input (a hard
    weight of exactly 1 and a soft one, NHWC and NCHW tensors), and a double backward through it."""
    from nasforge.oneshot.mixed import one_path_sum

    gen = torch.Generator().manual_seed(4)
    t = [torch.randn(2, 3, 4, 5, generator=gen) for _ in range(3)]
    t[0] = t[0].contiguous(memory_format=torch.channels_last)
    g = torch.randn(2, 3, 4, 5, generator=gen)
    values = ([1.0, 1.0, 1.0], 0.0), ([1.0, 0.5, -2.0], 0.25)
    for coefficients, rest_value in values:
        results = []
        for fused in (True, False):
            w = torch.tensor(coefficients, requires_grad=True)
            rest = torch.tensor(rest_value, requires_grad=True)
            ts = [x.clone().requires_grad_() for x in t]
            out = one_path_sum(w, rest, ts) if fused else w[0] * ts[0] + w[1] * ts[1] + w[2] * ts[2] + rest
            grads = torch.autograd.grad((out * g).sum(), [w, rest, *ts], create_graph=True)
            second = torch.autograd.grad(grads[3].sum(), w)[0]  # d/dw of Σ ∂L/∂t_1 = Σ g, on w[1] only
            results.append((out.detach(), *(x.detach() for x in grads), second))
        for fast, plain in zip(*results, strict=True):
            assert torch.allclose(fast, plain, rtol=1e-6, atol=1e-6)
    # by hand: ∂L/∂w_k = ⟨g, t_k⟩, ∂L/∂rest = Σ g
    w, rest = torch.ones(3, requires_grad=True), torch.zeros((), requires_grad=True)
    (one_path_sum(w, rest, t) * g).sum().backward()
    assert torch.allclose(w.grad, torch.stack([(g * x).sum() for x in t]), rtol=1e-5)
    assert torch.allclose(rest.grad, g.sum())
    with pytest.raises(ValueError, match="one weight per tensor"):
        one_path_sum(torch.ones(2), torch.zeros(()), t)


@pytest.mark.parametrize("method", ["darts", "gdas", "drnas", "spos"])
def test_weight_step_without_alpha_graph_gives_the_plain_weight_gradients(method):
    """The weight step's forward mixes with α detached (no α terms, no α gradient): its weight gradients must equal
    those of the plain forward with α attached, from the same sample, and α's gradient is left as it was."""
    from nasforge.oneshot.methods import METHODS
    from nasforge.oneshot.search import weight_step

    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3])
    grads = []
    for weights_only in (False, True):
        net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
        net.method, net.tau, net.sample_gen = METHODS[method], 2.0, torch.Generator().manual_seed(3)
        net.weights_only = weights_only
        loss = torch.nn.functional.cross_entropy(net(x), y)
        weights = net.weight_parameters()
        grads.append(torch.autograd.grad(loss, weights, allow_unused=True))
        assert net.alpha.grad is None
    for plain, fast in zip(*grads, strict=True):
        assert (plain is None) == (fast is None)
        if plain is not None:
            assert torch.allclose(plain, fast, rtol=1e-5, atol=1e-6)  # sums in another order: rounding
    assert sum(g is not None for g in grads[1]) > 5  # the sampled path's weights did get gradients
    # weight_step itself: the weights move, α and its gradient from the α step stay as they were
    net = build_supernet("nb201", "cifar10", C=4, layers=1, seed=0)
    net.method, net.tau, net.sample_gen = METHODS[method], 2.0, torch.Generator().manual_seed(3)
    net.alpha.grad = torch.ones_like(net.alpha)
    alpha = net.alpha.detach().clone()
    optimizer = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    before = net.classifier.weight.detach().clone()
    weight_step(net, optimizer, (x, y), 5.0)
    assert not net.weights_only and torch.equal(net.alpha.detach(), alpha)
    assert torch.equal(net.alpha.grad, torch.ones_like(alpha))
    assert not torch.equal(net.classifier.weight.detach(), before)


@pytest.mark.parametrize("method", ["gdas", "drnas"])
def test_second_order_search_runs_with_each_method(method, tiny_mnist, tmp_path, capsys):  # noqa: F811
    import json

    out = tmp_path / method
    argv = ["oneshot", "--method", method, "--order", "2", "--epochs", "1", "--out", str(out)]
    assert main([*argv, "--data-dir", str(tiny_mnist), "--json", *TINY]) == 0
    (record,) = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    for rows in record["alphas"].values():  # the logged op weights: probabilities per edge
        assert all(abs(sum(row) - 1) < 1e-5 and min(row) > 0 for row in rows)
    assert json.loads((out / "genotype.json").read_text())["space"] == "darts-mnist"
