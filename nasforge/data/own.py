"""Your own images: an image folder (read with Pillow) or an ``.npz`` array file, as an :class:`ImageDataset`.

Layouts::

    ROOT/<class>/*.png|jpg|jpeg                       one folder per class; a seeded stratified split holds out
                                                      TEST_FRACTION of each class as the test split
    ROOT/train/<class>/...  ROOT/test/<class>/...     your own split (``val/`` is taken as the test split when
                                                      there is no ``test/``; with both, ``val/`` joins train)
    FILE.npz with ``x`` (uint8, N×H×W or N×H×W×C, C = 1 or 3) and ``y`` (integers 0..K-1, length N)

Classes are the sorted folder names (label = position). Images are all grey (1 channel) or else RGB (3);
they must share one size unless ``image_size`` resizes every image to ``image_size``×``image_size``.
Decoding happens once: the decoded uint8 images go, one image at a time, into a ``.npy`` file under
``$NASFORGE_CACHE/owndata/`` keyed by the folder's file names, sizes and modification times (and the
resize); later loads memory-map it, so the raw files and the decoded copy are never both in memory.
Files Pillow cannot decode are skipped and counted in ``source`` (or refused with ``strict``).

The normalisation (per-channel mean and std of pixels/255) is computed from the training split only and
travels in the dataset's :class:`~nasforge.data.specs.DatasetSpec`, which sizes the networks too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasforge._io import atomic_write_text
from nasforge.data._dataset import ImageDataset
from nasforge.data.specs import DatasetSpec
from nasforge.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the held-out test images never depend on a run's --seed, so every run scores the same images
_CACHE_VERSION = 1


@dataclass(frozen=True)
class OwnData:
    """A user dataset's (train, test) splits, their shared spec, and the files that could not be decoded."""

    spec: DatasetSpec
    train: ImageDataset
    test: ImageDataset
    skipped: tuple[str, ...] = ()


def is_own_dataset(name: str) -> bool:
    """Whether ``name`` names a user dataset (an existing directory or file) rather than a built-in one."""
    from nasforge.data.specs import DATASETS

    return name not in DATASETS and Path(name).expanduser().exists()


def load_own_dataset(
    path: str | os.PathLike, *, image_size: int | None = None, strict: bool = False, cache_dir: Path | None = None
) -> OwnData:
    """Load an image folder or ``.npz`` file (layouts in the module docstring).

    Raises :class:`DataError` with one line naming the problem and its fix: a missing path, one class, an
    empty class folder, a non-image file, mixed sizes without ``image_size``, bad ``.npz`` keys/dtypes, or
    (with ``strict``) any image Pillow cannot decode.
    """
    root = Path(path).expanduser()
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise DataError(f"image size {image_size!r} must be a whole number >= 1, e.g. 32")
    if root.is_dir():
        images, labels, classes, test_mask, skipped = _read_folder(root, image_size, strict, cache_dir)
    elif root.is_file() and root.suffix == ".npz":
        images, labels, classes = _read_npz(root, image_size)
        test_mask, skipped = None, ()
    else:
        raise DataError(
            f"dataset {str(path)!r} is neither a built-in dataset (cifar10, mnist), an image folder nor an .npz "
            "file: give a folder of class subfolders or an .npz with x and y"
        )
    if test_mask is None:
        test_mask = stratified_test_mask(labels, TEST_FRACTION, SPLIT_SEED)
    train_idx, test_idx = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    if train_idx.size == 0 or test_idx.size == 0:
        raise DataError(f"{root}: too few images for a train and a test split ({labels.size}); add images")
    mean, std = _channel_stats(images, train_idx)
    c, h, w = images.shape[1:]
    sizes = (("train", int(train_idx.size)), ("test", int(test_idx.size)))
    spec = DatasetSpec(str(root.resolve()), len(classes), int(h), int(c), sizes, mean=mean, std=std, width=int(w),
                       classes=tuple(classes))  # fmt: skip
    note = f"; skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}" if skipped else ""
    all_images = torch.from_numpy(images)
    all_labels = torch.from_numpy(labels)
    split = "your split folders" if root.is_dir() and (root / "train").is_dir() else (
        f"stratified {TEST_FRACTION:g} test split, seed {SPLIT_SEED}")  # fmt: skip
    source = f"{root} ({len(classes)} classes, {c}×{h}×{w}, {split}{note})"

    def part(index: np.ndarray, name: str) -> ImageDataset:
        idx = torch.from_numpy(index)
        return ImageDataset(all_images[idx], all_labels[idx], spec.name, f"{source}: {name} split", spec=spec)

    return OwnData(spec, part(train_idx, "train"), part(test_idx, "test"), tuple(skipped))


def stratified_test_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """True for the images held out as test: ``round(fraction * n)`` of each class of ``n`` >= 2 images."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(labels.size, dtype=bool)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        k = int(round(fraction * where.size)) if where.size >= 2 else 0
        mask[rng.permutation(where)[: max(k, 1 if where.size >= 2 else 0)]] = True
    return mask


def _channel_stats(images: np.ndarray, index: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # Chunked float64 sums keep memory flat on a memory-mapped 50,000-image cache.
    c = images.shape[1]
    total, sq, count = np.zeros(c), np.zeros(c), 0
    rows = max(1, 2**21 // int(np.prod(images.shape[1:])))  # about 16 MB of float64 per chunk, whatever the size
    for start in range(0, index.size, rows):
        chunk = images[np.sort(index[start : start + rows])].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        sq += (chunk**2).sum(axis=(0, 2, 3))
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = total / count
    # A constant channel has std 0; dividing by 1 leaves it centred instead of producing infinities.
    std = np.sqrt(np.maximum(sq / count - mean**2, 0.0))
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(s), 6) if s > 1e-6 else 1.0 for s in std)


# --- .npz ---------------------------------------------------------------------------------------------------


def _read_npz(path: Path, image_size: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files or "y" not in f.files:
                found = ", ".join(f.files) or "none"
                raise DataError(f"{path}: an .npz dataset needs arrays 'x' and 'y', found {found}")
            x, y = f["x"], f["y"]
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path}: not a readable .npz file ({exc}); save it with numpy.savez(path, x=..., y=...)"
        ) from None
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3)):
        raise DataError(
            f"{path}: x must be uint8 N×H×W or N×H×W×C with C 1 or 3, got {x.dtype} {x.shape}; "
            "convert with (x * 255).astype('uint8') for floats in [0, 1]"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (x.shape[0],):
        raise DataError(f"{path}: y must be integers, one per image ({x.shape[0]}), got {y.dtype} {y.shape}")
    if y.size and y.min() < 0:
        raise DataError(f"{path}: labels must be 0..K-1, found {int(y.min())}")
    images = x[:, None] if x.ndim == 3 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if image_size is not None and images.shape[2:] != (image_size, image_size):
        images = _resize_array(images, image_size)
    labels = y.astype(np.int64)
    classes = [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
    _check_classes(path, classes, np.bincount(labels, minlength=len(classes)).tolist())
    return images, labels, classes


def _resize_array(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((images.shape[0], images.shape[1], size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        arr = np.asarray(pil.resize((size, size), Image.BILINEAR))
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out


def _check_classes(where: Path, classes: list[str], counts: list[int]) -> None:
    if len(classes) < 2:
        raise DataError(f"{where}: a classification dataset needs at least 2 classes, found {len(classes)}")
    empty = [name for name, n in zip(classes, counts) if n == 0]
    if empty:
        raise DataError(f"{where}: class {empty[0]!r} has no images; add images or remove the class")


# --- image folders --------------------------------------------------------------------------------------------


def _list_folder(root: Path) -> tuple[list[Path], np.ndarray, list[str], np.ndarray | None]:
    """Image files, their labels, the classes, and the test mask when the folder brings its own split."""
    if (root / "train").is_dir():
        parts = [("train", False)] + [(s, True) for s in ("test", "val") if (root / s).is_dir()]
        if len(parts) == 1:
            raise DataError(
                f"{root}: has train/ but no test/ or val/ folder; add one, or put the class folders in {root} directly"
            )
        if len(parts) == 3:  # both: val/ joins train (the commands hold out their own validation images)
            parts = [("train", False), ("val", False), ("test", True)]
        classes = _class_names(root / "train")
    else:
        parts, classes = [(".", False)], _class_names(root)
    files: list[Path] = []
    labels: list[int] = []
    test: list[bool] = []
    for folder, is_test in parts:
        base = root / folder
        extra = sorted(set(_class_names(base, check=False)) - set(classes))
        if extra:
            raise DataError(f"{base}: class folder {extra[0]!r} is not among the training classes {', '.join(classes)}")
        for label, name in enumerate(classes):
            found = _images_in(base / name) if (base / name).is_dir() else []
            if not found and not is_test:
                raise DataError(f"{base / name}: class {name!r} has no images; add .png/.jpg files or remove it")
            files += found
            labels += [label] * len(found)
            test += [is_test] * len(found)
    _check_classes(root, classes, [1] * len(classes))
    mask = np.array(test, dtype=bool) if len(parts) > 1 else None
    return files, np.array(labels, dtype=np.int64), classes, mask


def _class_names(folder: Path, check: bool = True) -> list[str]:
    entries = [e for e in sorted(folder.iterdir()) if not e.name.startswith(".")]
    if check:
        stray = [e for e in entries if not e.is_dir()]
        if stray:
            raise DataError(f"{stray[0]}: expected only class folders in {folder}; move or delete the file")
    return [e.name for e in entries if e.is_dir()]


def _images_in(folder: Path) -> list[Path]:
    files = [e for e in sorted(folder.iterdir()) if not e.name.startswith(".")]
    for e in files:
        if not e.is_file() or e.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{e}: not an image file ({', '.join(IMAGE_SUFFIXES)}); move it out of the class folder")
    return files


def _read_folder(
    root: Path, image_size: int | None, strict: bool, cache_dir: Path | None
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None, list[str]]:
    files, labels, classes, test_mask = _list_folder(root)
    key = _fingerprint(root, files, image_size)
    if cache_dir is None:
        from nasforge.benchmarks.nb201 import cache_dir as default_cache

        cache_dir = default_cache()
    folder = cache_dir / "owndata"
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    if npy.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        keep = np.array(meta["keep"], dtype=bool)
        skipped = meta["skipped"]
        if strict and skipped:
            _refuse(skipped)
        # Copy-on-write: torch gets a writable array without reading the file into memory up front.
        images = np.load(npy, mmap_mode="c")
    else:
        images, keep, skipped = _decode(files, root, image_size, strict, folder, key)
        atomic_write_text(meta_path, json.dumps({"keep": keep.tolist(), "skipped": skipped}))
    mask = None if test_mask is None else test_mask[keep]
    return images, labels[keep], classes, mask, skipped


def _refuse(skipped: list[str]) -> None:
    raise DataError(
        f"{len(skipped)} file(s) could not be decoded as images, e.g. {skipped[0]}; "
        "fix or delete them, or drop --strict-images to skip them"
    )


def _fingerprint(root: Path, files: list[Path], image_size: int | None) -> str:
    digest = hashlib.sha256(f"v{_CACHE_VERSION} size={image_size}\n".encode())
    for f in files:
        st = f.stat()
        digest.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _decode(
    files: list[Path], root: Path, image_size: int | None, strict: bool, folder: Path, key: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image, UnidentifiedImageError

    # Pass 1 reads headers only (Pillow opens lazily): sizes, modes and the files it cannot identify.
    keep = np.ones(len(files), dtype=bool)
    skipped: list[str] = []
    sizes: dict[tuple[int, int], Path] = {}
    grey = True
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                sizes.setdefault(im.size, f)
                grey = grey and im.mode in ("1", "L", "I", "I;16", "F")
        except (UnidentifiedImageError, OSError):
            keep[i] = False
            skipped.append(str(f.relative_to(root)))
    if strict and skipped:
        _refuse(skipped)
    if image_size is None and len(sizes) > 1:
        (w1, h1), first = next(iter(sizes.items()))
        (w2, h2), other = list(sizes.items())[1]
        raise DataError(
            f"{root}: images differ in size ({first.name} is {w1}×{h1}, {other.name} is {w2}×{h2}); "
            "pass --image-size N to resize every image to N×N"
        )
    if not keep.any():
        raise DataError(f"{root}: none of the {len(files)} files could be decoded as an image")
    w, h = (image_size, image_size) if image_size is not None else next(iter(sizes))
    channels, mode = (1, "L") if grey else (3, "RGB")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{key}.{os.getpid()}.npy"
    # Pass 2 decodes straight into the memory-mapped cache file, one image at a time.
    planned = int(keep.sum())
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(planned, channels, h, w))
    row = 0
    for i, f in enumerate(files):
        if not keep[i]:
            continue
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                arr = np.asarray(im)
        except (OSError, ValueError):  # a truncated file fails only when its pixels are read
            keep[i] = False
            skipped.append(str(f.relative_to(root)))
            continue
        out[row] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        row += 1
    if strict and skipped:
        del out
        tmp.unlink()
        _refuse(skipped)
    out.flush()
    del out
    final = folder / f"{key}.npy"
    if row < planned:
        # Files that failed only while decoding leave empty rows at the end: keep the decoded ones.
        np.save(final, np.load(tmp, mmap_mode="r")[:row])
        tmp.unlink()
    else:
        os.replace(tmp, final)
    return np.load(final, mmap_mode="c"), keep, skipped
