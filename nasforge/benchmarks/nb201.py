"""Finding (or building once) the NB201 store: :func:`load_nb201` and :func:`build_nb201_store`.

Resolution order: an explicit ``store`` path → ``$NASFORGE_STORE`` → ``<data_dir>/nb201/store`` →
a store built automatically from ``<data_dir>/nb201/`` (the CSV tables, curves and NATS files) into
the cache directory (``$NASFORGE_CACHE``, default ``~/.cache/nasforge``) as ``nb201-<source>-<key>``: the
data folder's path and the sources' names, sizes and mtimes, so that a changed source rebuilds and the store
it supersedes is pruned (see :func:`cached_store`). The data directory itself is never written to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from nasforge._io import remove_stale_temps, temp_prefix
from nasforge.benchmarks import importers
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.store import MANIFEST, BenchmarkStore, open_store
from nasforge.errors import BenchmarkError
from nasforge.paths import data_dir as _data_dir

STORE_ENV = "NASFORGE_STORE"
CACHE_ENV = "NASFORGE_CACHE"
CSV_NAME = "nb201_final.csv.gz"
LATENCY_NAME = "nb201_hw_latency_help.csv.gz"
CURVES_CSV = "curves/nb201_curves_c10valid_arch0-199_seedmean.csv.gz"
NATS_DIR = "curves/raw"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nasforge").expanduser()


def nb201_sources(nb201_dir: Path) -> list[Path]:
    """The source files :func:`build_nb201_store` uses from an ``nb201/`` data folder (the CSV first)."""
    sources = [nb201_dir / CSV_NAME]
    sources += [p for p in (nb201_dir / LATENCY_NAME, nb201_dir / CURVES_CSV) if p.is_file()]
    if (nb201_dir / NATS_DIR).is_dir():
        sources += importers.nats_files([nb201_dir / NATS_DIR]) if any((nb201_dir / NATS_DIR).iterdir()) else []
    return sources


def build_nb201_store(nb201_dir: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Import everything in an ``nb201/`` data folder into one store at ``out`` (atomically)."""
    nb201_dir = Path(nb201_dir)
    if not (nb201_dir / CSV_NAME).is_file():
        raise BenchmarkError(f"{nb201_dir / CSV_NAME} not found: point --data-dir at the folder holding nb201/")
    builder = StoreBuilder()
    importers.import_table(builder, nb201_dir / CSV_NAME, importers.NB201_FINAL_MAPPING, name="nb201-csv")
    if (nb201_dir / LATENCY_NAME).is_file():
        importers.import_table(builder, nb201_dir / LATENCY_NAME, importers.help_latency_mapping(), name="help-latency")
    if (nb201_dir / CURVES_CSV).is_file():
        importers.import_curves_csv(builder, nb201_dir / CURVES_CSV)
    nats = [p for p in nb201_sources(nb201_dir) if p.name.endswith((".pickle.pbz2", ".pickle"))]
    if nats:
        importers.import_nats(builder, nats)
    return builder.write(out, overwrite=overwrite)


# Bumped when an importer keeps more of the same files, so cached stores built by older code are rebuilt
# (2: NATS per-split evaluation times and per-seed costs; 3: the compact schema-2 layout, 2.6x smaller for
# the NB201 folder, so caches written in the dense layout are rebuilt once rather than kept; 4: schema 3, 27 MB
# -> 7 MB, decimal columns and files written once).
IMPORT_VERSION = 4


def _cache_key(sources: list[Path]) -> str:
    digest = hashlib.sha256(f"import-v{IMPORT_VERSION}\n".encode())
    for p in sources:
        stat = p.stat()
        digest.update(f"{p.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def source_tag(path: Path) -> str:
    """A short name for where a cached store's sources live (its resolved path), shared by every version."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


def cached_store(prefix: str, key: str, write: Callable[[Path, bool], object]) -> BenchmarkStore:
    """The cache's store ``<prefix>-<key>``, written first by ``write(path, overwrite)`` if absent.

    Several processes may build the same store at once: each writes its own temporary directory and the
    first to finish publishes it; the others discard theirs and open that one. The stores of the same
    source (``<prefix>-<other key>``: older versions of its files) are then pruned.
    """
    cache = cache_dir()
    target = cache / f"{prefix}-{key}"
    if not (target / MANIFEST).is_file():
        if target.exists():
            _set_aside(target)
        try:
            write(target, False)  # a published store is never replaced: readers may have it open
        except (FileExistsError, BenchmarkError):
            if not (target / MANIFEST).is_file():
                raise
            # another process published the same store first: use it
    store = open_store(target)
    prune_cache(cache, prefix, keep=target)
    return store


def _set_aside(target: Path) -> None:
    """Remove a directory without a manifest at a cache store's name (never a store nasforge published)."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp") as aside:
        try:
            os.rename(target, aside)
        except OSError:
            return  # gone already (another process set it aside) or not a directory: the write will say so
        if (Path(aside) / MANIFEST).is_file():  # a store was published there meanwhile: put it back
            with contextlib.suppress(OSError):
                os.rename(aside, target)
                os.mkdir(aside)  # for TemporaryDirectory's cleanup


def prune_cache(cache: Path, prefix: str, keep: Path) -> list[Path]:
    """Remove the cached stores ``<prefix>-<16 hex>`` other than ``keep`` that no process has open.

    An open store holds a shared lock on its directory (:class:`BenchmarkStore`); a store is removed only
    when an exclusive lock on it succeeds, and it is first renamed to a temporary name, so no reader ever
    sees a half-removed store. A killed pruner leaves a temporary that the next write in the cache removes.
    """
    import fcntl

    pattern = re.compile(re.escape(prefix) + r"-[0-9a-f]{16}")
    remove_stale_temps(cache)
    removed = []
    for entry in cache.iterdir() if cache.is_dir() else []:
        if entry == keep or not pattern.fullmatch(entry.name) or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with tempfile.TemporaryDirectory(dir=cache, prefix=temp_prefix(entry.name), suffix=".tmp") as aside:
                os.rename(entry, aside)  # onto the empty temporary directory: atomic, then removed with it
            removed.append(entry)
        except OSError:
            pass  # in use (or removed meanwhile): kept until a later run finds it free
        finally:
            os.close(fd)
    return removed


def load_nb201(data_dir: str | os.PathLike | None = None, store: str | os.PathLike | None = None) -> BenchmarkStore:
    """The NB201 benchmark store (see the module docstring for where it is looked for)."""
    if store is not None:
        return open_store(store)
    if os.environ.get(STORE_ENV):
        return open_store(os.environ[STORE_ENV])
    root = _data_dir(data_dir)
    looked = [f"${STORE_ENV} (unset)"]
    if root is not None:
        nb201 = root / "nb201"
        if (nb201 / "store").is_dir():
            return open_store(nb201 / "store")
        looked.append(str(nb201 / "store"))
        if (nb201 / CSV_NAME).is_file():
            key = _cache_key(nb201_sources(nb201))
            return cached_store(f"nb201-{source_tag(nb201)}", key, lambda path, overwrite: build_nb201_store(
                nb201, path, overwrite=overwrite))  # fmt: skip
        looked.append(str(nb201 / CSV_NAME))
    else:
        looked.append("no data directory (--data-dir / $NASFORGE_DATA unset)")
    raise BenchmarkError(
        f"no NB201 benchmark store found (looked in: {'; '.join(looked)}); build one with "
        "'nasforge bench import nb201 --data-dir DATA -o STORE' (or 'nasforge bench import nb201-csv "
        "DATA/nb201/nb201_final.csv.gz -o STORE') and pass --store STORE or set NASFORGE_STORE=STORE"
    )
