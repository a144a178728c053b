"""nasforge.train: determinism, checkpoint/resume, divergence, the cosine schedule, evaluation, and a real
MNIST run that must reach 97% test accuracy in one epoch."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from nasforge.data import ImageDataset, load_dataset
from nasforge.errors import ConfigError, TrainingDivergedError
from nasforge.train import CHECKPOINT_NAME, TrainConfig, evaluate, seeded, select_device, train


def stripes(n: int = 120, seed: int = 0) -> ImageDataset:
    """A learnable 1-channel task: class c has a bright horizontal stripe at row 2c (plus noise)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 60, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
    for i, c in enumerate(labels.tolist()):
        images[i, 0, 2 * c + 4] = 250
    return ImageDataset(images, labels, "mnist", "stripes fixture")


def small_net(seed: int = 0) -> nn.Module:
    with seeded(seed):
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d((7, 7)),
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 49, 10),
        )  # fmt: skip


def comparable(records) -> list[tuple]:
    return [(r.epoch, r.train_loss, r.train_acc, r.valid_loss, r.valid_acc, r.lr) for r in records]


CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.1, seed=7)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_same_seed_same_numbers_and_learning_happens() -> None:
    data = stripes()
    a_model, b_model = small_net(), small_net()
    a = train(a_model, data, data, CONFIG, progress=False)
    b = train(b_model, data, data, CONFIG, progress=False)
    assert comparable(a.records) == comparable(b.records)
    assert all(torch.equal(p, q) for p, q in zip(a_model.state_dict().values(), b_model.state_dict().values()))
    c = train(small_net(), data, data, TrainConfig(epochs=3, batch_size=32, lr=0.1, seed=8), progress=False)
    assert comparable(c.records) != comparable(a.records)
    assert a.records[-1].train_loss < a.records[0].train_loss
    assert a.records[-1].valid_acc > 50  # stripes are easy; chance is 10%
    assert a.device == "cpu" and a.train_size == 120


def test_train_leaves_the_callers_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(small_net(), stripes(40), None, TrainConfig(epochs=1, batch_size=16), progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_resume_after_interruption_gives_the_uninterrupted_records(tmp_path: Path) -> None:
    data = stripes()
    full_model = small_net()
    full = train(full_model, data, data, CONFIG, progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_two(record) -> None:
        if record.epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(small_net(), data, data, CONFIG, checkpoint_dir=tmp_path, progress=False, on_epoch=stop_after_two)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    # A fresh process would build a differently initialized model: the checkpoint must override it.
    resumed_model = small_net(seed=99)
    seen = []
    resumed = train(
        resumed_model, data, data, CONFIG, checkpoint_dir=tmp_path, resume=True, progress=False, on_epoch=seen.append
    )
    assert [r.epoch for r in seen] == [3]  # only the missing epoch ran
    assert comparable(resumed.records) == comparable(full.records)
    assert all(torch.equal(p, q) for p, q in zip(full_model.state_dict().values(), resumed_model.state_dict().values()))
    with pytest.raises(ConfigError, match="different training config.*lr"):
        train(small_net(), data, data, TrainConfig(epochs=3, batch_size=32, lr=0.2, seed=7),
              checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="weights of a different model"):  # e.g. another genotype's network
        train(bn_net(), data, data, CONFIG, checkpoint_dir=tmp_path, resume=True, progress=False)


def bn_net(seed: int = 0) -> nn.Module:
    """A net with no randomness in its forward pass (compiled dropout draws other random numbers)."""
    with seeded(seed):
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d((7, 7)),
            nn.Flatten(), nn.Linear(4 * 49, 10),
        )  # fmt: skip


def test_compiled_training_gives_the_eager_numbers() -> None:
    # 40 images in batches of 16: the last batch of 8 of each epoch takes the eager path.
    data, config = stripes(40), TrainConfig(epochs=2, batch_size=16, lr=0.1, seed=3)
    eager_model, compiled_model = bn_net(), bn_net()
    eager = train(eager_model, data, data, config, progress=False)
    compiled = train(compiled_model, data, data, replace(config, compile=True), progress=False)
    for e, c in zip(comparable(eager.records), comparable(compiled.records)):
        assert c == pytest.approx(e, rel=1e-5, abs=1e-6)  # fused kernels round differently, in the last digits
    for name, p in compiled_model.state_dict().items():  # the module itself trained; no "_orig_mod." prefix
        torch.testing.assert_close(p, eager_model.state_dict()[name], rtol=1e-4, atol=1e-5)
    assert compiled.config.compile and not eager.config.compile
    again = train(bn_net(), data, data, replace(config, compile=True), progress=False)
    assert comparable(again.records) == comparable(compiled.records)  # compiled runs repeat exactly


def test_a_failed_compilation_is_a_user_error(tmp_path: Path) -> None:
    # Inductor reads CXX when it loads, so the broken compiler is set up in a fresh interpreter.
    script = """
import torch
from torch import nn
from nasforge.data import ImageDataset
from nasforge.errors import ConfigError
from nasforge.train import TrainConfig, train
data = ImageDataset(torch.zeros(8, 1, 8, 8, dtype=torch.uint8), torch.arange(8) % 2, "mnist", "zeros")
model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2))
try:
    train(model, data, None, TrainConfig(epochs=1, batch_size=4, compile=True), progress=False)
except ConfigError as exc:
    print(exc)
"""
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path),
           "TORCHINDUCTOR_FX_GRAPH_CACHE": "0"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert out.startswith("torch.compile failed (") and "train without compile" in out, out


class Blowup(nn.Module):
    """Finite logits until ``after`` forward passes in training mode, then ``value``."""

    def __init__(self, value: float, after: int) -> None:
        super().__init__()
        self.linear = nn.Linear(784, 10)
        self.value, self.after, self.calls = value, after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.linear(x.flatten(1))
        return out * self.value if self.calls > self.after else out


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_loss_raises_training_diverged(value: float) -> None:
    with pytest.raises(TrainingDivergedError, match=r"(nan|inf) at epoch 1, step 3"):
        train(Blowup(value, after=2), stripes(), None, TrainConfig(epochs=2, batch_size=16), progress=False)


def test_cosine_and_constant_learning_rates_per_epoch() -> None:
    data = stripes(64)  # 4 steps per epoch of 16
    cos = train(small_net(), data, None, TrainConfig(epochs=4, batch_size=16, lr=0.2), progress=False)
    steps = 16  # 4 epochs × 4 steps
    assert [r.lr for r in cos.records] == pytest.approx(
        [0.1 * (1 + math.cos(math.pi * 4 * e / steps)) for e in range(4)]
    )
    const = train(small_net(), data, None, TrainConfig(epochs=2, batch_size=16, lr=0.2, schedule="constant"),
                  progress=False)  # fmt: skip
    assert [r.lr for r in const.records] == [0.2, 0.2]
    assert all(r.valid_acc is None and r.valid_loss is None for r in const.records)


def test_adam_label_smoothing_and_grad_clip_train() -> None:
    config = TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=3e-3, weight_decay=0, label_smoothing=0.1,
                         grad_clip=1.0)  # fmt: skip
    result = train(small_net(), stripes(), stripes(seed=1), config, progress=False)
    assert result.records[-1].valid_acc > 30


def test_evaluate_matches_hand_computed_loss_and_accuracy() -> None:
    class Constant(nn.Module):  # always the same logits: class 3 wins
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(x.shape[0], 10)
            logits[:, 3] = math.log(9.0)  # p(3) = 9 / (9 + 9) = 0.5, every other class 1/18
            return logits

    data = stripes(50)  # labels 0..9 five times each
    loss, acc = evaluate(Constant(), data, batch_size=7)
    assert acc == pytest.approx(10.0)
    assert loss == pytest.approx(0.1 * math.log(2) + 0.9 * math.log(18))


def test_config_validation_and_devices() -> None:
    for bad in ({"epochs": 0}, {"lr": -1}, {"optimizer": "rmsprop"}, {"schedule": "step"}, {"momentum": 0.0},
                {"label_smoothing": 1.0}, {"grad_clip": 0.0}, {"batch_size": 0}, {"compile": "yes"}):  # fmt: skip
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
    assert TrainConfig(augment=None).augment_for("cifar10") and not TrainConfig().augment_for("mnist")
    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    assert select_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' is not available with torch"):
            select_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        select_device("tpu9")


@pytest.mark.realdata
@pytest.mark.slow
def test_small_cnn_reaches_97_percent_on_full_mnist_in_one_epoch(real_data_dir: Path) -> None:
    train_set = load_dataset("mnist", "train", real_data_dir)
    test_set = load_dataset("mnist", "test", real_data_dir)
    assert len(train_set) == 60_000 and len(test_set) == 10_000
    with seeded(0):
        model = nn.Sequential(
            nn.Conv2d(1, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
        )  # fmt: skip
    config = TrainConfig(epochs=1, batch_size=128, optimizer="adam", lr=3e-3, weight_decay=0, schedule="constant")
    result = train(model, train_set, test_set, config, progress=False)
    assert result.records[0].valid_acc >= 97.0
