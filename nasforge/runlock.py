"""A run directory's lock: one live process at a time works in a run directory.

The lock is an ``fcntl.flock`` on ``<run dir>/.nasforge.lock``. The kernel releases a flock when its holder
dies, ``kill -9`` included, so a lock left by a killed process is stale by construction: the next process
takes it over, with no PID guessing. The holder writes its PID (and command) into the file so that a
refused process can say who holds the run. On release the holder removes the file while still holding it.

Locking happens between processes on one machine (``flock`` on a local file system); a second lock in the
same process on the same directory is refused too, since each :class:`RunLock` opens its own file.

>>> import tempfile
>>> run = tempfile.mkdtemp()
>>> with RunLock(run):
...     try:
...         RunLock(run).acquire()
...     except RunLockedError as exc:
...         print("refused")
refused
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from pathlib import Path

from nasforge.errors import StudyError

LOCK_NAME = ".nasforge.lock"


class RunLockedError(StudyError):
    """The run directory is in use by another live process (``holder`` is its PID, when it could be read)."""

    def __init__(self, message: str, holder: int | None) -> None:
        super().__init__(message)
        self.holder = holder


class RunLock:
    """An exclusive lock on run directory ``directory`` (which must exist), held until :meth:`release`.

    Raises :class:`RunLockedError` (one line naming the holder's PID) when another process holds it, and
    :class:`~nasforge.errors.StudyError` when the lock file cannot be created (a read-only directory).
    ``stale_holder`` is the PID recorded by a dead holder whose lock this one took over, else ``None``.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.stale_holder: int | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        while self._fd is None:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StudyError(f"cannot lock {self.directory} ({exc.strerror})") from None
                who = f"process {holder}" if holder is not None else "another process"
                raise RunLockedError(
                    f"{self.directory} is in use by {who}; wait for it to finish or choose another directory",
                    holder,
                ) from None
            # The previous holder may have removed the file between our open and our flock: then we hold a lock
            # on a file nobody else can see. Only a lock on the file at the path counts; otherwise try again.
            if not _same_file(fd, self.path):
                os.close(fd)
                continue
            self.stale_holder = _read_pid(fd)  # a live holder removes its file, so a PID left here is a dead one
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {' '.join(sys.argv)[:500]}\n".encode(), 0)
            self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # Remove the file while still holding it: a waiting process that opened it sees it vanish and retries.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StudyError(
                f"cannot lock {self.directory}: cannot create {LOCK_NAME} there ({exc.strerror}); "
                "a run directory must be writable: copy it somewhere writable or choose another directory"
            ) from None


def _read_pid(fd: int) -> int | None:
    try:
        first = os.pread(fd, 64, 0).split(maxsplit=1)
        return int(first[0]) if first else None
    except (OSError, ValueError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
