"""File plumbing shared by every reader and writer: atomic writes and capped decompression.

Atomic writes: a reader (or a killed run) never sees a half-written file or directory. The data goes to a
temporary ``.<name>.<host>-<pid>-<random>.tmp`` beside the target and is renamed over it at the end. A run
killed mid-write leaves that temporary behind; every later atomic write into the same directory removes the
temporaries whose writer (same host, that PID) is no longer alive, and never a live process's.

Capped reads: compressed inputs are stream-decompressed with a size limit that each caller derives from
its format, so a small corrupt or hostile file (a "decompression bomb") is refused after at most ``limit``
bytes instead of filling memory.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import hashlib
import lzma
import numbers
import os
import re
import shutil
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from nasforge.errors import DataError


def is_int(value: object) -> bool:
    """Whether a value read from a file (JSON, a pickle, numpy) is a whole number: Python and numpy ints, never a
    bool (JSON's true/false load as bools, which Python counts as ints)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)

# --- temporary names -----------------------------------------------------------------------------------------

# A temp written by this nasforge: ".<target name>.<host tag>-<pid>-<8 random chars>.tmp".
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)-[a-z0-9_]{8}\.tmp$")
# Written by nasforge before temps carried their writer (".<name>.<8 random chars>.tmp", mkstemp's form, for
# the files nasforge writes): whose they are is unknown, so only ones untouched for a day count as a dead run's.
_LEGACY_TEMP = re.compile(
    r"^\.(checkpoint\.pt|search\.log|search\.jsonl|genotype\.json|curves\.json|results\.md|compare\.json"
    r"|[^/]+\.(png|pdf|svg)|nb201-[0-9a-f]{16}|naslib-[^/]+-[0-9a-f]{16})\.[a-z0-9_]{8}\.tmp$"
)
LEGACY_TEMP_AGE_S = 24 * 3600.0


def _host_tag() -> str:
    # The PID only identifies a writer on its own machine (a directory may be shared over NFS).
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def temp_prefix(name: str) -> str:
    """The start of a temporary's name for ``name`` written by this process (see the module doc)."""
    return f".{name}.{_host_tag()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or a number no PID can be): not ours to judge dead
    return True


def is_stale_temp(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary left by a nasforge write whose process has died (see the module doc)."""
    path = Path(path)
    match = _TEMP.match(path.name)
    if match:
        return match["host"] == _host_tag() and not _pid_alive(int(match["pid"]))
    if _LEGACY_TEMP.match(path.name):
        try:
            return time.time() - path.lstat().st_mtime > LEGACY_TEMP_AGE_S
        except OSError:
            return False
    return False


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporaries that killed nasforge writes left in ``directory``; returns what was removed.

    Only names of nasforge's own temporary form are considered, and of those only a dead writer's.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.endswith(".tmp") or not is_stale_temp(entry.path):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


# --- atomic writes ---------------------------------------------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by others too
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``target`` only if the block succeeds.

    On any exception the temporary directory is removed and ``target`` is left as it was.
    With ``overwrite`` an existing ``target`` is replaced (by whichever of several concurrent writers
    finishes last); otherwise ``target`` existing, before or when the block ends, raises
    :class:`FileExistsError` and the new directory is discarded.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent)
    if target.exists() and not overwrite:
        raise FileExistsError(errno.EEXIST, f"{target} already exists", str(target))
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp"))
    try:
        yield tmp
        _publish_directory(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish_directory(tmp: Path, target: Path, overwrite: bool) -> None:
    # rename(2) moves a directory onto a missing or empty one atomically and fails on a non-empty one, so
    # two writers can never merge; a replaced target is first moved aside under a temporary name.
    while True:
        try:
            os.rename(tmp, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if not overwrite:
            raise FileExistsError(errno.EEXIST, f"{target} already exists", str(target))
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name), suffix=".tmp"))
        try:
            os.rename(target, old)
        except FileNotFoundError:  # another writer moved it aside first: try again
            os.rmdir(old)
            continue
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            shutil.rmtree(old, ignore_errors=True)
            continue  # a concurrent writer published in between: replace that one too
        shutil.rmtree(old, ignore_errors=True)
        return


# --- capped reads ------------------------------------------------------------------------------------------------

_OPENERS = ((b"\x1f\x8b", "gzip", gzip.open), (b"BZh", "bz2", bz2.open), (b"\xfd7zXZ\x00", "xz", lzma.open))
_CORRUPT = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n:,} bytes"


class CappedReader:
    """A binary reader over a (possibly gzip/bz2/xz) file that refuses to yield more than ``limit`` bytes.

    Made by :func:`open_capped`; ``read(n)`` raises ``error`` (a :class:`DataError` subclass) naming the file
    once the decompressed content passes ``limit``, or when the compressed stream is corrupt or truncated.
    """

    def __init__(self, path: Path, raw: BinaryIO, limit: int, what: str, error: type[DataError]) -> None:
        self.path, self._raw, self.limit, self._what, self._error = path, raw, limit, what, error
        magic = raw.read(6)
        raw.seek(0)
        self.kind, opener = next(((k, o) for m, k, o in _OPENERS if magic.startswith(m)), ("", None))
        self.compressed = opener is not None
        self._f: BinaryIO = opener(raw, "rb") if opener is not None else raw  # type: ignore[operator]
        self.position = 0

    def read(self, n: int = -1) -> bytes:
        want = self.limit + 1 - self.position if n < 0 else min(n, self.limit + 1 - self.position)
        chunks = []
        try:
            while want > 0:
                block = self._f.read(min(want, 1 << 20))
                if not block:
                    break
                chunks.append(block)
                want -= len(block)
                self.position += len(block)
        except _CORRUPT as exc:
            raise self._error(
                f"{self.path}: truncated or corrupt {self.kind + ' ' if self.compressed else ''}file ({exc}); "
                "replace it with a complete copy"
            ) from None
        if self.position > self.limit:
            kind = "decompresses to" if self.compressed else "holds"
            raise self._error(
                f"{self.path}: {kind} more than {_mb(self.limit)}, far more than any real {self._what}; "
                "the file is corrupt or not what it claims to be, replace it with the original"
            )
        return b"".join(chunks)

    def readline(self, size: int = -1) -> bytes:
        """One line (for pickle's text opcodes), counted against the limit like :meth:`read`."""
        room = self.limit + 1 - self.position
        try:
            line = self._f.readline(room if size < 0 else min(size, room))
        except _CORRUPT as exc:
            raise self._error(f"{self.path}: truncated or corrupt {self.kind} file ({exc}); replace it") from None
        self.position += len(line)
        if self.position > self.limit:
            self.read(1)  # raises the size error
        return line

    def close(self) -> None:
        self._f.close()  # a decompressor does not close the file object it was given
        self._raw.close()

    def __enter__(self) -> CappedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_capped(path: str | os.PathLike, limit: int, *, what: str, error: type[DataError] = DataError) -> CappedReader:
    """Open ``path`` for reading at most ``limit`` (decompressed) bytes; gzip, bz2 and xz are recognised by
    their magic bytes and decompressed as a stream. ``what`` names the format in errors ("MNIST IDX file")."""
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - handed to the reader, closed by it
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return CappedReader(path, raw, limit, what, error)
    except OSError as exc:
        raw.close()
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None


def read_capped(path: str | os.PathLike, limit: int, *, what: str, error: type[DataError] = DataError) -> bytes:
    """All of ``path`` (decompressed when gzip/bz2/xz) as bytes, refusing past ``limit`` bytes; see
    :func:`open_capped`."""
    with open_capped(path, limit, what=what, error=error) as reader:
        return reader.read()
