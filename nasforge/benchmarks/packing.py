"""A store as one compressed file for distribution (``.tar.xz``), and back; and rewriting old stores.

``pack_store`` checks every file of a store against its checksums and writes the manifest and the files
into one xz-compressed tar (members in a fixed order, no owner names or times, so packing the same store twice
gives the same bytes). ``unpack_store`` reads such a file as a stream: the manifest must come first and every
later member must be a plain file the manifest lists, with the size it records, so an archive can neither
write outside the store nor expand past what its manifest declares; the result is checked against every
sha256 before it is published (atomically, like every store). A store is always unpacked before it is opened:
the reader memory-maps plain ``.npy`` files.

xz (Python's ``lzma``) rather than zstd: it is in the standard library, and the store is decompressed once.
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from nasforge._io import atomic_directory, remove_stale_temps, temp_prefix
from nasforge.benchmarks.builder import StoreBuilder
from nasforge.benchmarks.store import MANIFEST, SCHEMA_VERSION, _check_rel, _ManifestError, _read_manifest, open_store
from nasforge.errors import BenchmarkError

MANIFEST_LIMIT = 1 << 26  # 64 MB: the full NB201 store's manifest is 0.1 MB


def pack_store(
    store: str | os.PathLike, out: str | os.PathLike, *, preset: int = 9, force: bool = False
) -> dict[str, Any]:
    """Write ``store`` (checked against its sha256s first) to ``out`` as one ``.tar.xz``; returns the sizes.

    An existing ``out`` is replaced only with ``force`` and only when it is itself a packed store (a file this
    function wrote); ``out`` may not lie inside ``store``. Raises :class:`BenchmarkError` when the store is
    damaged or ``out`` may not be written.
    """
    store, out = Path(store), Path(out)
    if out.resolve().is_relative_to(store.resolve()):
        raise BenchmarkError(f"-o {out} is inside the store {store} being packed; write it outside the store")
    if out.exists() or out.is_symlink():
        if not force:
            raise BenchmarkError(f"{out} already exists; pass --force to replace it (a packed store only)")
        if not _is_packed_store(out):
            raise BenchmarkError(f"{out} exists and is not a packed store written by 'nasforge bench pack'; "
                                 "not replacing it, choose another -o")  # fmt: skip
    with open_store(store, checksums="eager") as opened:
        names = [MANIFEST, *sorted(opened.manifest["files"])]
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=temp_prefix(out.name), suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)
        with tarfile.open(tmp, "w:xz", preset=preset, format=tarfile.PAX_FORMAT) as tar:
            for name in names:
                info = tar.gettarinfo(store / name, arcname=name)
                info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                with open(store / name, "rb") as f:
                    tar.addfile(info, f)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    store_bytes = sum((store / name).stat().st_size for name in names)
    return {"store": str(store), "out": str(out), "store_bytes": store_bytes, "packed_bytes": out.stat().st_size}


def _is_packed_store(path: Path) -> bool:
    """``path`` is a plain file that opens as a ``.tar.xz`` whose first member is a store manifest."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with tarfile.open(path, "r:xz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > MANIFEST_LIMIT:
                return False
            _listed_files(path, tar.extractfile(first).read())  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, BenchmarkError):
        return False
    return True


def _check_replaceable(out: Path) -> None:
    """``out`` is a store directory holding only the store's own files (its manifest and the files it lists)."""
    if not out.is_dir() or out.is_symlink():
        raise BenchmarkError(f"{out} exists and is not a store directory; choose another -o")
    if not any(out.iterdir()):
        return
    if not (out / MANIFEST).is_file():
        raise BenchmarkError(f"{out} holds files but no nasforge store ({MANIFEST} missing); choose another -o")
    try:
        own = set(_listed_files(out, (out / MANIFEST).read_bytes())) | {MANIFEST}
    except OSError as exc:
        raise BenchmarkError(f"{out / MANIFEST}: cannot be read ({exc.strerror}); choose another -o") from None
    dirs = {parent.as_posix() for rel in own for parent in Path(rel).parents}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if rel not in (dirs if path.is_dir() and not path.is_symlink() else own):
            raise BenchmarkError(f"{out} holds {rel}, which is not one of the store's files; "
                                 "--overwrite replaces only a store: move it or choose another -o")  # fmt: skip


def unpack_store(archive: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Unpack a :func:`pack_store` file into the store directory ``out`` (checked file by file); returns ``out``.

    With ``overwrite`` an existing ``out`` is replaced only when it is a store holding nothing but the store's
    own files. Raises :class:`BenchmarkError` naming the archive when it is not such a file or does not match
    its manifest.
    """
    archive, out = Path(archive), Path(out)
    if archive.is_dir():
        raise BenchmarkError(f"{archive} is a directory, not a packed .tar.xz file ('nasforge bench pack' makes one)")
    if not archive.is_file():
        raise BenchmarkError(f"{archive} does not exist; give a file written by 'nasforge bench pack'")
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise BenchmarkError(f"{out} already exists; pass --overwrite to replace it")
        _check_replaceable(out)
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            _extract(archive, tmp)
            open_store(tmp, checksums="eager").close()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        if isinstance(exc, FileExistsError):
            raise BenchmarkError(f"{out} already exists; pass --overwrite to replace it") from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise BenchmarkError(f"{archive}: not a packed nasforge store ({reason}); pack one with 'nasforge bench "
                             "pack'") from None  # fmt: skip
    return out


def _extract(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r|*") as tar:
        expected: dict[str, int] | None = None
        for member in tar:
            if expected is None:
                if member.name != MANIFEST or not member.isfile() or member.size > MANIFEST_LIMIT:
                    raise BenchmarkError(f"{archive}: the first member must be the store's {MANIFEST}")
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                (root / MANIFEST).write_bytes(data)
                expected = _listed_files(archive, data)
                continue
            size = expected.pop(member.name, None)
            if size is None or not member.isfile() or member.size != size:
                raise BenchmarkError(
                    f"{archive}: member {member.name!r} is not a file its manifest lists with {member.size} bytes"
                )
            target = root / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as f:
                shutil.copyfileobj(tar.extractfile(member), f, 1 << 20)  # type: ignore[arg-type]
        if expected is None or expected:
            missing = "its manifest" if expected is None else f"{len(expected)} files (e.g. {next(iter(expected))})"
            raise BenchmarkError(f"{archive}: the archive lacks {missing}; it is incomplete")


def _listed_files(archive: Path, manifest: bytes) -> dict[str, int]:
    try:
        files = json.loads(manifest)["files"]
        for rel in files:
            _check_rel(rel)
        return {rel: int(entry["bytes"]) for rel, entry in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, _ManifestError):
        raise BenchmarkError(f"{archive}: its {MANIFEST} is not a store manifest") from None


def upgrade_store(store: str | os.PathLike, out: str | os.PathLike | None = None) -> tuple[int, int]:
    """Rewrite a store of an older schema in the current one, value for value (at ``out``, else in place).

    Returns (old schema version, new). The store is checked against its sha256s first, whatever the target; one
    already at the current version is left alone and nothing is written (not even at ``out``).
    Raises :class:`BenchmarkError` when the store cannot be read or is damaged.
    """
    store = Path(store)
    version = _read_manifest(store)["schema_version"]
    with open_store(store, checksums="eager") as opened:
        if version == SCHEMA_VERSION:
            return version, version
        builder = StoreBuilder.from_store(opened)
    builder.write(out if out is not None else store, overwrite=out is None)
    return version, SCHEMA_VERSION
