"""The dataset table (nasforge.data.specs) against the datasets themselves: every loadable dataset's files
have the recorded shape, classes, split sizes and normalisation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nasforge.data import DATASETS, dataset_spec, list_datasets, load_dataset, load_embedded_mnist
from nasforge.errors import ConfigError


@pytest.mark.parametrize("name", list(DATASETS))
def test_spec_is_consistent(name: str) -> None:
    spec = dataset_spec(name)
    assert spec.input_shape == (spec.channels, spec.image_size, spec.image_size)
    assert spec.split_size("train") > 0
    if spec.mean is not None:
        assert spec.std is not None and len(spec.mean) == len(spec.std) == spec.channels
    assert spec.loadable == (name in list_datasets(loadable=True))


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(ConfigError, match="'svhn'.*ImageNet16-120"):
        dataset_spec("svhn")
    with pytest.raises(ConfigError, match="'valid'.*train, test"):
        dataset_spec("mnist").split_size("valid")


def test_specs_import_no_torch() -> None:
    # The CLI parses --dataset choices from the table before any torch import.
    code = "import sys, nasforge.data.specs, nasforge.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_embedded_mnist_matches_spec() -> None:
    spec = dataset_spec("mnist")
    ds = load_embedded_mnist("train")
    assert ds.image_shape == spec.input_shape and ds.num_classes == spec.num_classes


@pytest.mark.realdata
@pytest.mark.parametrize("name", list_datasets(loadable=True))
def test_real_files_match_spec(name: str, real_data_dir: Path) -> None:
    spec = dataset_spec(name)
    test = load_dataset(name, "test", real_data_dir)
    assert test.image_shape == spec.input_shape
    assert len(test) == spec.split_size("test")
    assert int(test.labels.max()) + 1 == spec.num_classes
    train = load_dataset(name, "train", real_data_dir)
    assert (train.full_size or len(train)) == spec.split_size("train")
    if name == "mnist":  # the files' own statistics (shared/data/README.md: mean 0.1307, std 0.3081)
        pixels = train.images.double() / 255
        assert (round(float(pixels.mean()), 4), round(float(pixels.std()), 4)) == (spec.mean[0], spec.std[0])
