"""``nasforge train`` in-process: outputs (JSON, curves files, per-epoch lines), resume, and one-line errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge.cli.main import main
from nasforge.spaces.nb201 import NB201Arch

TINY = ["--epochs", "2", "--fraction", "0.05", "--C", "4", "--N", "1", "--eval-size", "200", "--threads", "1"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NASFORGE_DATA", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # --threads changes the process-wide setting


def test_train_on_embedded_mnist_writes_curves_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    arch = NB201Arch.from_index(6111)
    assert main(["train", arch.to_string(), "--dataset", "mnist", *TINY, "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["index"] == 6111 and payload["dataset"] == "mnist"
    assert "embedded MNIST" in payload["train_source"]
    assert payload["train_size"] == 200  # 5% of the 4,000 embedded training digits, 20 per class
    assert payload["valid_size"] == 200
    assert [r["epoch"] for r in payload["records"]] == [1, 2]
    assert all(0 <= r["valid_acc"] <= 100 for r in payload["records"])
    assert "epoch   2/2" in captured.err  # progress lines go to stderr with --json
    on_disk = json.loads((out / "curves.json").read_text())
    assert on_disk["records"] == payload["records"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_reuses_finished_epochs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    args = ["train", "0", "--dataset", "mnist", *TINY, "--out", str(out)]
    assert main(args) == 0
    first = json.loads((out / "curves.json").read_text())["records"]
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "epoch " not in capsys.readouterr().out  # nothing left to train
    assert json.loads((out / "curves.json").read_text())["records"] == first


def write_mnist_dir(root: Path, *, magic: int = 2051, truncate: bool = False) -> None:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 10
    img = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (20, 28, 28)) + images.tobytes()
    lab = (2049).to_bytes(4, "big") + (20).to_bytes(4, "big") + labels.tobytes()
    for prefix in ("train", "t10k"):
        data = gzip.compress(img)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2] if truncate else data)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lab))


@pytest.mark.parametrize(
    ("extra", "setup", "message"),
    [
        (["--data-dir", "{tmp}/absent"], None, "absent (from --data-dir) does not exist"),
        (["--data-dir", "{tmp}"], None, "MNIST file not found: expected {tmp}/mnist/train-images-idx3-ubyte.gz"),
        (["--data-dir", "{tmp}"], {"magic": 2049}, "wrong IDX magic number 2049 (0x00000801); expected 2051"),
        (["--data-dir", "{tmp}"], {"truncate": True}, "train-images-idx3-ubyte.gz: truncated or corrupt gzip"),
        (["--fraction", "0"], None, "'0' is outside (0, 1]"),
        (["--fraction", "1.5"], None, "'1.5' is outside (0, 1]"),
        (["--fraction", "x"], None, "'x' is not a number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, extra, setup, message) -> None:
    if setup is not None:
        write_mnist_dir(tmp_path, **setup)
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    code = _run(["train", "0", "--dataset", "mnist", "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message.replace("{tmp}", str(tmp_path)) in err
    assert not (tmp_path / "out" / "curves.json").exists()


def test_unknown_dataset_cifar_without_data_and_bad_arch(tmp_path: Path, capsys) -> None:
    assert _run(["train", "0", "--dataset", "svhn"]) == 2
    assert "--dataset svhn: no such dataset or path; give cifar10, mnist, an image folder" in capsys.readouterr().err
    assert _run(["train", "0", "--dataset", "cifar10", "--out", str(tmp_path)]) == 2
    assert "CIFAR-10 has no embedded copy: pass --data-dir" in capsys.readouterr().err
    assert _run(["train", "99999", "--dataset", "mnist", "--out", str(tmp_path)]) == 2
    assert "99999" in capsys.readouterr().err


def _run(argv: list[str]) -> int:
    # argparse errors exit through SystemExit(2); library errors return 2 from main().
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.realdata
def test_train_on_real_cifar10_subset(real_data_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["train", "6111", "--dataset", "cifar10", "--data-dir", str(real_data_dir), "--epochs", "1"]
    args += ["--fraction", "0.002", "--C", "4", "--N", "1", "--eval-size", "100", "--threads", "1"]
    args += ["--out", str(tmp_path), "--json"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["train_size"] == 100  # 0.2% of 50,000, 10 per class, from the 10,000-image shared file
    assert payload["train_source"].endswith("(100 images, seed 0)")


def test_compile_flag_reaches_the_training_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Compiling a whole network takes about a minute; the engine's compiled path is tested in test_train.py.
    from nasforge.errors import ConfigError

    seen = []

    def fake_train(model, train_set, eval_set, config, **kwargs):  # noqa: ANN001, ANN003
        seen.append(config)
        raise ConfigError("stopped before training")

    monkeypatch.setattr("nasforge.train.train", fake_train)
    for flag, expected in (["--compile"], True), ([], False):
        assert _run(["train", "0", "--dataset", "mnist", *TINY, *flag, "--out", str(tmp_path)]) == 2
        assert seen.pop().compile is expected


def test_a_diverging_run_ends_with_its_message_in_one_line(tmp_path: Path, capsys) -> None:
    # The input: `train --lr 1e30` used to end in a TrainingDivergedError traceback.
    images = np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        header = b"".join(n.to_bytes(4, "big") for n in (2051, 40, 28, 28))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
        labels = (np.arange(40) % 10).astype(np.uint8).tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"".join(
            n.to_bytes(4, "big") for n in (2049, 40)) + labels))  # fmt: skip
    out = tmp_path / "out"
    argv = ["train", "0", "--dataset", "mnist", "--lr", "1e30", *TINY, "--fraction", "1", "--batch-size", "8",
            "--data-dir", str(tmp_path / "data"), "--out", str(out)]  # fmt: skip
    assert _run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nasforge: error: training loss became ")
    assert "lower the learning rate" in err[0] and not (out / "curves.json").exists()
