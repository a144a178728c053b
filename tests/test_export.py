"""``nasforge export``: TorchScript and ONNX files that compute what nasforge's networks compute, DARTS runs and
arch strings of every space, ``--summary`` against torch's own FLOP counter, and bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _cli import run

from nasforge.data import Normalizer, load_dataset

PIL = pytest.importorskip("PIL.Image")

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
# Every node reaches the output through a conv: NB201's counter and the executed ops agree but for the bias.
ALL_LIVE = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('max_pool_3x3', 2), "
    "('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('skip_connect', 0), ('dil_conv_5x5', 4)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 0), ('sep_conv_5x5', 1), "
    "('dil_conv_3x3', 3), ('skip_connect', 4), ('max_pool_3x3', 0)], reduce_concat=range(2, 6))"
)
# Only onnxruntime's absence skips: with it installed, a missing onnx or onnxscript fails the test with the
# export's own one line naming the install command.
ONNX_REASON = "onnxruntime is not installed (pip install 'nasforge[onnx]'), so the ONNX file cannot be run"
HAVE_ONNX = importlib.util.find_spec("onnxruntime") is not None


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))


def _noise_folder(root: Path, per_class: int = 6, size: int = 8) -> Path:
    """3 classes of random RGB images (seeded), so every pixel and channel matters to the comparisons."""
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            PIL.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


def _images(n: int, shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _trained(root: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = run(capsys, "train", ARCH, "--dataset", str(root), "--epochs", "1", "--C", "4", "--N", "1",
                       "--fraction", "1", "--device", "cpu", "--out", str(out), "--json")  # fmt: skip
    assert code == 0, err
    return out


def _checkpoint_weights(model: torch.nn.Module, run_dir: Path) -> torch.nn.Module:
    model.load_state_dict(torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"])
    return model.eval()


def test_formats_are_the_librarys() -> None:
    from nasforge.cli.export import FORMATS as CLI_FORMATS
    from nasforge.train.export import FORMATS

    assert CLI_FORMATS == FORMATS


@pytest.mark.skipif(not HAVE_ONNX, reason=ONNX_REASON)
def test_onnx_file_computes_the_trained_network_through_onnxruntime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime as ort

    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.train.models import build_nb201

    root = _noise_folder(tmp_path / "imgs")
    run_dir = _trained(root, tmp_path / "run", capsys)
    out = tmp_path / "model.onnx"
    code, stdout, err = run(capsys, "export", str(run_dir), "--format", "onnx", "-o", str(out), "--json")
    assert code == 0 and err == "", err
    assert json.loads(stdout)["weights"].startswith("trained weights from")
    spec = load_dataset(str(root), "train").spec
    net = _checkpoint_weights(build_nb201(NB201Arch.parse(ARCH), spec, C=4, N=1), run_dir)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for n in (1, 5):  # the batch dimension is free
        images = _images(n, spec.input_shape)
        with torch.no_grad():
            expected = net(Normalizer(spec, 3)(images))
        got = session.run(None, {"images": (images.float() / 255).numpy()})[0]
        assert got.shape == (n, 3)
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_onnx_without_its_extra_is_one_line_naming_the_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    out = tmp_path / "m.onnx"
    code, _, err = run(capsys, "export", ARCH, "--dataset", "cifar10", "--format", "onnx", "-o", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and "pip install 'nasforge[onnx]'" in err
    assert not out.exists()


def test_darts_search_then_retrained_network_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nasforge.oneshot.search import load_genotype
    from nasforge.train.models import build_darts

    root = _noise_folder(tmp_path / "imgs")
    logdir, out = tmp_path / "darts", tmp_path / "net.pt"
    code, _, err = run(capsys, "darts", "--space", "darts", "--dataset", str(root), "--epochs", "1", "--C", "4",
                       "--layers", "3", "--batch-size", "4", "--device", "cpu", "--out", str(logdir),
                       "--json")  # fmt: skip
    assert code == 0, err
    # A search holds a genotype, not trained weights: one line, exit 2, nothing written, the way out named.
    code, _, err = run(capsys, "export", str(logdir), "-o", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and not out.exists()
    assert "--untrained" in err and "train-genotype" in err
    code, stdout, _ = run(capsys, "export", str(logdir), "--untrained", "--C", "4", "-o", str(out), "--json")
    assert code == 0 and json.loads(stdout)["weights"].startswith("UNTRAINED") and out.exists()
    out.unlink()
    code, _, err = run(capsys, "train-genotype", str(logdir), "--dataset", str(root), "--epochs", "1", "--C", "4",
                       "--batch-size", "4", "--device", "cpu", "--json")  # fmt: skip
    assert code == 0, err
    # Now the search's message points at the retrained run, and that run exports with its weights.
    code, _, err = run(capsys, "export", str(logdir), "-o", str(out))
    assert code == 2 and f"nasforge export {logdir / 'retrain'}" in err
    code, stdout, err = run(capsys, "export", str(logdir / "retrain"), "-o", str(out), "--json")
    assert code == 0, err
    assert json.loads(stdout)["space"] == "darts"
    doc, genotype = load_genotype(logdir)
    spec = load_dataset(str(root), "train").spec
    net = build_darts(genotype, spec, "darts", C=4, layers=3)
    net = _checkpoint_weights(net, logdir / "retrain")
    images = _images(4, spec.input_shape)
    with torch.no_grad():
        expected = net(Normalizer(spec, 3)(images))
        exported = torch.jit.load(str(out))(images.float() / 255)
    assert torch.allclose(exported, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "space"), [(ARCH, "nb201"), (GENOTYPE, "darts"), ("8:16:24:32:16", "nats-sss")]
)  # fmt: skip
def test_an_arch_of_each_space_exports_its_initialised_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str, space: str
) -> None:
    from nasforge.spaces.darts import Genotype
    from nasforge.spaces.darts_model import DartsNetwork, Macro
    from nasforge.spaces.nats_sss import SSSArch
    from nasforge.spaces.nats_sss_model import SSSNetwork
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.spaces.nb201_model import NB201Network
    from nasforge.train import seeded

    root = _noise_folder(tmp_path / "imgs")
    out = tmp_path / "m.pt"
    code, stdout, err = run(capsys, "export", arch, "--dataset", str(root), "--C", "4", "--N", "1", "--layers", "3",
                            "-o", str(out), "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["space"] == space and "UNTRAINED" in json.loads(stdout)["weights"]
    with seeded(0):  # the documented initialisation: seed 0, built straight from the space's model classes
        if space == "nb201":
            net = NB201Network(NB201Arch.parse(arch), num_classes=3, C=4, N=1)
        elif space == "darts":  # DARTS' CIFAR macro: 3 cells, reductions at 1/3 and 2/3, stem 3C
            net = DartsNetwork(Genotype.parse(arch), Macro((False, True, True), 2, 4, 4, 3, 3, 3))
        else:
            net = SSSNetwork(SSSArch.parse(arch), num_classes=3)
    spec = load_dataset(str(root), "train").spec
    images = _images(3, spec.input_shape)
    with torch.no_grad():
        expected = net.eval()(Normalizer(spec, 3)(images))
        exported = torch.jit.load(str(out))(images.float() / 255)
    assert torch.allclose(exported, expected, atol=1e-5)


def test_summary_counts_agree_with_torch_flop_counter_and_time_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.spaces.nb201_model import NB201Network

    root = _noise_folder(tmp_path / "imgs", size=12)
    code, stdout, err = run(capsys, "export", ALL_LIVE, "--dataset", str(root), "--C", "4", "--N", "1", "--summary",
                            "--runs", "5", "--json")  # fmt: skip
    assert code == 0, err
    payload = json.loads(stdout)
    summary = payload["summary"]
    # nothing written but the decoded-images cache
    assert payload["output"] is None and {p.name for p in tmp_path.iterdir()} == {"imgs", "cache"}
    net = NB201Network(NB201Arch.parse(ALL_LIVE), num_classes=3, C=4, N=1).eval()
    counter = FlopCounterMode(display=False)
    # On the meta device: shapes only, and the 3x3 pool runs as torch's pool (on CPU nasforge computes it as a
    # depthwise conv of ones, which the counter would count as convolution FLOPs; NB201 counts a pool as none).
    with torch.no_grad(), counter:
        net.to("meta")(torch.zeros(1, 3, 12, 12, device="meta"))
    # torch counts 2 FLOPs per multiply-accumulate of convs and the classifier; NB201 adds the classifier's bias.
    assert summary["macs"] == counter.get_total_flops() // 2 + 3
    assert summary["macs_source"] == "NB201Network.flops"
    assert summary["params"] == sum(p.numel() for p in net.parameters()) == payload["params"]
    assert summary["runs"] == 5 and summary["threads"] == 1 and summary["warmup"] == 10
    low, high = summary["latency_iqr_ms"]
    assert 0 < low <= summary["latency_ms"] <= high
    # Without --json the same facts are lines a person reads.
    code, stdout, _ = run(capsys, "export", ALL_LIVE, "--dataset", str(root), "--C", "4", "--N", "1", "--summary",
                          "--runs", "2")  # fmt: skip
    assert code == 0 and "batch 1, 1 thread(s)" in stdout and f"{summary['macs']:,} per image" in stdout


def test_darts_summary_counts_with_torch_flop_counter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _noise_folder(tmp_path / "imgs")
    code, stdout, err = run(capsys, "export", GENOTYPE, "--dataset", str(root), "--C", "4", "--layers", "3",
                            "--summary", "--runs", "2", "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)["summary"]
    # DARTS networks have no counter of their own; the stem alone is 3x3 conv 3 -> 12 channels on 8x8 pixels.
    assert summary["macs_source"] == "torch.utils.flop_counter" and summary["macs"] > 3 * 12 * 9 * 64


@pytest.mark.parametrize(
    ("make", "argv", "expected"),
    [
        (None, ["--format", "pdf"], "invalid choice: 'pdf'"),
        ("empty", [], "not a nasforge run"),
        ("study", [], "holds no network to export"),
        ("no-weights", [], "no checkpoint.pt, so no trained weights"),
        ("train", ["--untrained"], "drop --untrained"),
        (None, ["--untrained"], "an ARCH alone is always exported with initial weights"),
        ("nothing", [], "give -o FILE"),
        ("word", [], "not an arch"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str | None, argv: list[str], expected: str
) -> None:
    root = _noise_folder(tmp_path / "imgs")
    source, extra = ARCH, ["--dataset", str(root)]
    if make in ("empty", "study", "no-weights", "train"):
        source, extra = str(tmp_path / "run"), []
        (tmp_path / "run").mkdir()
        if make == "study":
            record = {"run": "search", "settings": {}}
            (tmp_path / "run" / "nasforge-run.json").write_text(json.dumps(record))
        if make in ("no-weights", "train"):
            _trained(root, tmp_path / "run", capsys)
            if make == "no-weights":
                (tmp_path / "run" / "checkpoint.pt").unlink()
    elif make == "word":
        source = "resnet18"
    out = tmp_path / "m.pt"
    output = [] if make == "nothing" else ["-o", str(out)]
    code, stdout, err = run(capsys, "export", source, *output, *extra, *argv)
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not out.exists() and not list(tmp_path.glob(".m.pt*"))


def _export_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    # One call site: TorchScript's debug information records the Python calls around the export.
    code, stdout, err = run(capsys, "export", ARCH, "--dataset", "cifar10", "--C", "4", "--N", "1", *argv, "--json")
    return code, json.loads(stdout) if code == 0 else {}, err


@pytest.mark.parametrize(
    ("name", "argv", "expected"),
    [
        ("m.onnx", ["--format", "torchscript"], "--format torchscript contradicts -o"),
        ("m.pt", ["--format", "onnx"], "--format onnx contradicts -o"),
        ("m.bin", [], "names no format; pass --format torchscript or --format onnx"),
        ("m", [], "names no format; pass --format torchscript or --format onnx"),
    ],
)
def test_format_contradicting_or_missing_for_the_extension_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, argv: list[str], expected: str
) -> None:
    code, _, err = _export_json(capsys, "-o", str(tmp_path / name), *argv)
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []  # nothing written


def test_format_defaults_to_the_output_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("m.ts", "m.PTH", "m.torchscript"):
        code, payload, err = _export_json(capsys, "-o", str(tmp_path / name))
        assert code == 0 and payload["format"] == "torchscript", err
        assert torch.jit.load(str(tmp_path / name))(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    code, payload, err = _export_json(capsys, "-o", str(tmp_path / "b.bin"), "--format", "torchscript")
    assert code == 0 and payload["format"] == "torchscript", err
    # .onnx without --format is ONNX: without the extra it is refused as ONNX, naming the install.
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    code, _, err = _export_json(capsys, "-o", str(tmp_path / "m.onnx"))
    assert code == 2 and "pip install 'nasforge[onnx]'" in err and not (tmp_path / "m.onnx").exists()


def test_summary_without_output_reports_the_size_output_writes(tmp_path: Path) -> None:
    # Two processes, as a user runs them: a TorchScript file's bytes depend on what the process traced before.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "NASFORGE_CACHE": str(tmp_path)}
    sizes = []
    for output in ([], ["-o", str(tmp_path / "m.pt")]):
        argv = ["export", ARCH, "--dataset", "cifar10", "--C", "4", "--N", "1", *output, "--summary", "--runs", "1"]
        done = subprocess.run([sys.executable, "-m", "nasforge.cli.main", *argv, "--json"], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        sizes.append(json.loads(done.stdout)["summary"]["file_bytes"])
    assert sizes[0] == sizes[1] == (tmp_path / "m.pt").stat().st_size


def test_counted_macs_counts_the_nb201_pool_as_none_like_nb201s_own_counter() -> None:
    """The generic counter (used where a space has no counter of its own) agrees with NB201's own count on a cell
    with a 3x3 pool: nasforge computes that pool as a depthwise conv on CPU, which must not count as MACs."""
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.spaces.nb201_model import NB201Network
    from nasforge.train.export import counted_macs

    net = NB201Network(NB201Arch.parse(ALL_LIVE), num_classes=3, C=4, N=1)
    before = [p.clone() for p in net.parameters()]
    # NB201's counter adds the classifier's bias (3 outputs), which torch's counter leaves out
    assert counted_macs(net, (3, 12, 12)) == net.flops(12) - 3
    assert all(p.device.type == "cpu" and torch.equal(p, b) for p, b in zip(net.parameters(), before))
