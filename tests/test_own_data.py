"""Your own data: image folders and .npz files through the library and every training command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nasforge.cli.main import main
from nasforge.data import load_dataset
from nasforge.errors import DataError

PIL = pytest.importorskip("PIL.Image")

# Class c's images are one flat grey level: 0, 102, 204 (0, 0.4, 0.8 after /255).
LEVELS = (0, 102, 204)


def _folder(root: Path, per_class: int = 10, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> Path:
    for c, level in enumerate(LEVELS):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            img = PIL.new(mode, size, (level,) * 3 if mode == "RGB" else level)
            img.save(root / f"class{c}" / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path / "cache"))


def test_folder_split_and_normalisation_are_the_hand_computed_ones(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    train, test = load_dataset(str(root), "train"), load_dataset(str(root), "test")
    # 20% of each class of 10 is held out: 2 test and 8 train images per class.
    assert train.class_counts() == [8, 8, 8] and test.class_counts() == [2, 2, 2]
    assert train.image_shape == (3, 8, 8) and train.spec.classes == ("class0", "class1", "class2")
    # Equal shares of 0, 0.4, 0.8: mean 0.4, std sqrt((0 + 0.16 + 0.64) / 3 - 0.16) = 0.326599.
    assert train.spec.mean == pytest.approx((0.4,) * 3, abs=1e-6)
    assert train.spec.std == pytest.approx((0.326599,) * 3, abs=1e-6)
    # Labels follow the sorted folder names: every image of label c has grey level LEVELS[c].
    for label, image in zip(train.labels.tolist(), train.images):
        assert int(image.float().mean()) == LEVELS[label]
    # The cache is decoded once: a second load reads the same images from the .npy cache.
    assert len(list((tmp_path / "cache" / "owndata").glob("*.npy"))) == 1
    again = load_dataset(str(root), "train")
    assert bool((again.images == train.images).all())


def test_grey_images_give_one_channel_and_split_folders_are_used(tmp_path: Path) -> None:
    _folder(tmp_path / "own" / "train", per_class=4, mode="L")
    _folder(tmp_path / "own" / "test", per_class=1, mode="L")
    train = load_dataset(str(tmp_path / "own"), "train")
    test = load_dataset(str(tmp_path / "own"), "test")
    assert train.image_shape == (1, 8, 8) and len(train) == 12 and len(test) == 3


def test_undecodable_files_are_skipped_and_counted_or_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "class1" / "broken.png").write_bytes(b"not a png")
    train = load_dataset(str(root), "train")
    assert "skipped 1 unreadable file(s), e.g. class1/broken.png" in train.source
    assert train.class_counts() == [8, 8, 8]
    with pytest.raises(DataError, match="1 file.* could not be decoded"):
        load_dataset(str(root), "train", strict_images=True)


def test_npz_any_size_one_channel(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.integers(0, 256, (20, 12, 16), dtype=np.uint8), y=np.arange(20) % 2)
    train = load_dataset(str(path), "train")
    assert train.image_shape == (1, 12, 16) and train.class_counts() == [8, 8]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda r: _folder(r).joinpath("class0", "notes.txt").write_text("hi"), "not an image file"),
        (lambda r: (_folder(r) / "empty").mkdir(), "class 'empty' has no images"),
        (
            lambda r: [p.unlink() for p in _folder(r).glob("class[12]/*")] and [p.rmdir() for p in r.glob("class[12]")],
            "at least 2 classes",
        ),  # fmt: skip
        (lambda r: PIL.new("RGB", (12, 12)).save(_folder(r) / "class0" / "big.png"), "pass --image-size N"),
        (lambda r: _folder(r, size=(6, 6)), "multiples of 4 .*--image-size 8"),
    ],
)
def test_bad_folders_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, expected) -> None:
    root = tmp_path / "imgs"
    make(root)
    out = tmp_path / "run"
    code, err = _run(["train", "0", "--dataset", str(root), "--epochs", "1", "--out", str(out)], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("nasforge: error:")
    import re

    assert re.search(expected, err), err
    assert not out.exists()  # nothing partial written


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [({"images": np.zeros((4, 8, 8), np.uint8), "y": np.arange(4)}, "needs arrays 'x' and 'y'"),
     ({"x": np.zeros((4, 8, 8), np.float32), "y": np.arange(4)}, "x must be uint8"),
     ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(4)}, "y must be integers")],
)  # fmt: skip
def test_bad_npz_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], arrays, expected) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    code, err = _run(["train", "0", "--dataset", str(path), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and expected in err and len(err.splitlines()) == 1


def test_folder_through_search_darts_and_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Pillow-made folder end to end: black-box search with training, DARTS, retraining, training an arch."""
    root = _folder(tmp_path / "imgs", per_class=8, size=(8, 12))
    fast = ["--device", "cpu", "--json"]
    search = tmp_path / "search"
    code = main(["search", "--train", "--dataset", str(root), "--n-iter", "2", "--epochs", "1",
                 "--train-fraction", "0.5", "--out", str(search), *fast])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["trials"] == 2
    darts = tmp_path / "darts"
    code = main(["darts", "--space", "darts", "--dataset", str(root), "--epochs", "1", "--C", "4", "--layers", "3",
                 "--batch-size", "4", "--out", str(darts), *fast])  # fmt: skip
    assert code == 0 and json.loads(capsys.readouterr().out)["arch"].startswith("Genotype(")
    code = main(["train-genotype", str(darts), "--dataset", str(root), "--epochs", "1", "--C", "4",
                 "--batch-size", "4", *fast])  # fmt: skip
    retrained = json.loads(capsys.readouterr().out)
    assert code == 0 and retrained["test_size"] == 6  # 2 held-out images of each of 3 classes
    code = main(["train", summary["incumbent"]["arch"], "--dataset", str(root), "--epochs", "1", "--C", "4",
                 "--N", "1", "--fraction", "1", "--out", str(tmp_path / "train"), *fast])  # fmt: skip
    trained = json.loads(capsys.readouterr().out)
    assert code == 0 and trained["train_size"] == 18 and trained["valid_size"] == 6


def test_exported_torchscript_equals_the_trained_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from nasforge.data import Normalizer
    from nasforge.spaces.nb201 import NB201Arch
    from nasforge.train.models import build_nb201

    root = _folder(tmp_path / "imgs", per_class=4)
    run, model_file = tmp_path / "run", tmp_path / "model.pt"
    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    assert main(["train", arch, "--dataset", str(root), "--epochs", "1", "--C", "4", "--N", "1", "--fraction", "1",
                 "--device", "cpu", "--out", str(run), "--json"]) == 0  # fmt: skip
    assert main(["export", str(run), "-o", str(model_file), "--json"]) == 0
    capsys.readouterr()
    # nasforge's own path: the checkpoint's weights, the loader's normalisation of uint8 images.
    train = load_dataset(str(root), "train")
    net = build_nb201(NB201Arch.parse(arch), train.spec, C=4, N=1).eval()
    net.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=True)["model"])
    with torch.no_grad():
        expected = net(Normalizer(train.spec, 3)(train.images))
        exported = torch.jit.load(str(model_file))(train.images.float() / 255)
    assert torch.allclose(exported, expected, atol=1e-5)
    # The arch alone exports too; an existing file is not overwritten without --force.
    assert main(["export", arch, "--dataset", str(root), "-o", str(model_file)]) == 2
    assert "exists" in capsys.readouterr().err


def test_search_refuses_a_bad_folder_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "imgs", size=(10, 10))
    out = tmp_path / "search"
    assert main(["search", "--train", "--dataset", str(root), "--n-iter", "1", "--out", str(out)]) == 2
    assert "multiples of 4" in capsys.readouterr().err and not out.exists()
