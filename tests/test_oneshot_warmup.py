"""α warm-up (``--warmup-epochs``): DrNAS' ``if epoch >= 10: architect.step(...)``, the epoch counted per stage."""

from __future__ import annotations

import pytest
import torch
from test_darts_cli import TINY, tiny_mnist  # noqa: F401  (the tiny MNIST fixture)

from nasforge.cli.main import main
from nasforge.data import load_dataset
from nasforge.errors import ConfigError
from nasforge.oneshot.search import SearchConfig, search
from nasforge.oneshot.supernet import build_supernet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


BASE = {"space": "nb201", "dataset": "mnist", "method": "drnas", "batch_size": 16, "C": 4, "layers": 1}


def _alphas_per_epoch(config: SearchConfig, data, out, *, resume: bool = False, stop_after: int | None = None):
    """α (and one conv weight) as saved in the checkpoint after each epoch of a search."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Stop(Exception):
        pass

    def on_epoch(record) -> None:
        state = torch.load(out / "checkpoint.pt", weights_only=False)
        conv = next(v for k, v in state["model"].items() if k.endswith("convs.nor_conv_3x3.0.weight"))
        seen.append((state["model"]["alpha"].clone(), conv.clone()))
        if stop_after is not None and record.epoch == stop_after:
            raise Stop

    try:
        result = search(config, data, out_dir=out, progress=False, resume=resume, on_epoch=on_epoch)
    except Stop:
        return seen, None
    return seen, result


def test_alpha_is_its_initialisation_through_the_warmup_and_moves_after(tiny_mnist, tmp_path):  # noqa: F811
    data = load_dataset("mnist", "train", tiny_mnist)
    config = SearchConfig(**BASE, epochs=3, warmup_epochs=2)
    seen, result = _alphas_per_epoch(config, data, tmp_path / "a")
    net = build_supernet("nb201", "mnist", C=4, layers=1, seed=config.seed)
    init_alpha = net.alpha.detach()
    init_conv = net.cells[0].fans[0].convs["nor_conv_3x3"][0].weight.detach()
    for alpha, conv in seen[:2]:  # warm-up: α bit-identical to its initialisation, the weights trained
        assert torch.equal(alpha, init_alpha)
        assert not torch.equal(conv, init_conv)
    assert (seen[2][0] - init_alpha).abs().max() > 0  # epoch W + 1: the architect steps
    assert [r.arch_loss for r in result.records[:2]] == [0.0, 0.0] and result.records[2].arch_loss > 0


def test_warmup_restarts_at_each_progressive_stage_and_resumes(tiny_mnist, tmp_path):  # noqa: F811
    """Stages of 2 epochs (K 2 then 1), W = 1: α frozen in epochs 1 and 3, stepped in 2 and 4; at stage 2's start
    only DrNAS' prune touches it (the 2 ops of each edge with the smallest α set to 0, the rest unchanged)."""
    data = load_dataset("mnist", "train", tiny_mnist)
    config = SearchConfig(**BASE, epochs=4, partial_channels=(2, 1), keep_ops=(5, 3), warmup_epochs=1)
    seen, full = _alphas_per_epoch(config, data, tmp_path / "a")
    alphas = [a for a, _ in seen]
    init = build_supernet("nb201", "mnist", C=4, layers=1, seed=config.seed).alpha.detach()
    assert torch.equal(alphas[0], init)
    assert (alphas[1] - init).abs().max() > 0
    kept = alphas[1].argsort(dim=-1, descending=True)[:, :3]
    pruned = torch.zeros_like(alphas[1]).scatter(1, kept, alphas[1].gather(1, kept))
    assert torch.equal(alphas[2], pruned)  # stage 2's warm-up epoch: the pruned α, not stepped
    assert (alphas[3] - alphas[2]).abs().max() > 0
    assert [r.arch_loss == 0 for r in full.records] == [True, False, True, False]
    # interrupted in stage 2's warm-up epoch, resumed: the uninterrupted run's α and cells
    first, _ = _alphas_per_epoch(config, data, tmp_path / "b", stop_after=3)
    rest, resumed = _alphas_per_epoch(config, data, tmp_path / "b", resume=True)
    assert all(torch.equal(a, b) for (a, _), b in zip(first + rest, alphas, strict=True))
    assert [r.genotype for r in resumed.records] == [r.genotype for r in full.records]


def test_warmup_settings_are_checked():
    SearchConfig(**BASE, epochs=5, partial_channels=(2, 1), keep_ops=(5, 3), warmup_epochs=1)  # stages of 3 and 2
    for method in ("darts", "gdas", "setn"):
        SearchConfig(**{**BASE, "method": method}, epochs=2, warmup_epochs=1)
    for bad, message in (
        ({"epochs": 3, "warmup_epochs": -1}, "integer >= 0"),
        ({"epochs": 3, "warmup_epochs": 3}, "the run has 3 epoch\\(s\\); use at most 2"),
        (
            {"epochs": 5, "partial_channels": (2, 1), "keep_ops": (5, 3), "warmup_epochs": 2},
            "shortest progressive stage has 2 epoch\\(s\\); use at most 1",
        ),
        ({"epochs": 3, "method": "spos", "warmup_epochs": 1}, "applies to darts, gdas, drnas, setn"),
        ({"epochs": 3, "method": "rsps", "warmup_epochs": 1}, "trains no architecture parameters"),
    ):
        with pytest.raises(ConfigError, match=message):
            SearchConfig(**{**BASE, **bad})


def test_warmup_cli_refusals_are_one_line(tiny_mnist, tmp_path, capsys):  # noqa: F811
    base = ["oneshot", "--space", "nb201", "--data-dir", str(tiny_mnist), "--json", *TINY]
    for extra, message in (
        (["--method", "drnas", "--epochs", "2", "--warmup-epochs", "-1"], "--warmup-epochs"),
        (["--method", "drnas", "--epochs", "2", "--warmup-epochs", "2"], "use at most 1"),
        (["--method", "spos", "--epochs", "2", "--warmup-epochs", "1"], "--warmup-epochs applies to"),
    ):
        try:
            code = main([*base, "--out", str(tmp_path / "bad"), *extra])
        except SystemExit as exc:  # argparse's own refusal of a negative number
            code = exc.code
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and message in err
        assert not (tmp_path / "bad" / "checkpoint.pt").exists()
    out = ["--out", str(tmp_path / "run"), "--method", "drnas", "--epochs", "2"]
    assert main([*base, *out, "--warmup-epochs", "1"]) == 0
    capsys.readouterr()
    for other in (["--warmup-epochs", "0"], []):  # another value, or the default: refused, naming the option
        assert main([*base, *out, *other, "--resume"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--warmup-epochs" in err
    assert main([*base, *out, "--warmup-epochs", "1", "--resume"]) == 0  # the same value: resumes (nothing left)
