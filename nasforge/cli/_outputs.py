"""Where commands write: output locations checked before any work, run directories claimed, --force, resume.

Every command that writes checks its output locations first (:func:`check_output_dir`,
:func:`check_output_file`): a directory option that names a file or lies under one, a file option that names a
directory, or a place nasforge cannot write to is one error line before anything runs. A command that keeps
a run in a directory (search, compare, darts, train, train-genotype) claims it with :func:`claim_run_dir`:

* the directory is locked for the command's lifetime (:mod:`nasforge.runlock`): a second process gets one
  line naming the first one's PID; a lock left by a killed process is taken over;
* a directory holding that kind's files is refused unless ``--resume`` continues the run or ``--force``
  replaces it, and ``--force`` removes only the files of that kind (:class:`RunKind`), never the directory
  nor anything else in it, and only once the new run is ready to write (:meth:`RunDir.begin`);
* the settings that shape the run are recorded in ``nasforge-run.json`` and compared on ``--resume``
  (:meth:`RunDir.begin`): a difference is one line naming the setting and both values.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge._io import atomic_write_text, temp_prefix
from nasforge.errors import ConfigError
from nasforge.runlock import LOCK_NAME, RunLock
from nasforge.search.study import DB_FILES, DB_NAME

SETTINGS_NAME = "nasforge-run.json"


@dataclass(frozen=True)
class RunKind:
    """The files one kind of run writes in its directory (names or ``fnmatch`` patterns), and the file that
    must be there to resume it (``None``: the kind cannot be resumed)."""

    name: str
    files: tuple[str, ...]
    resume_from: str | None = None
    # Files the run writes under generic names (the DARTS sheet's log.txt): the run's own only beside its other
    # files; alone, they are the user's, and a run that would overwrite them is refused.
    companions: tuple[str, ...] = ()

    def owns(self, name: str) -> bool:
        # Atomic writes stage ".<name>.<random>.tmp" beside each file: a killed run's leftovers are ours too.
        patterns = (*self.files, SETTINGS_NAME)
        return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, f".{p}.*.tmp") for p in patterns)

    def existing(self, directory: Path) -> list[Path]:
        """This kind's files in ``directory``, sorted by name (the lock file is not one of them)."""
        if not directory.is_dir():
            return []
        own = [p for p in directory.iterdir() if p.name != LOCK_NAME and self.owns(p.name)]
        if own:
            own += [directory / name for name in self.companions if (directory / name).exists()]
        return sorted(own)

    def foreign_companions(self, directory: Path) -> list[Path]:
        """Files under the run's generic names that belong to someone else (no file of the run beside them)."""
        if not directory.is_dir() or self.existing(directory):
            return []
        return [directory / name for name in self.companions if (directory / name).exists()]

    def force_help(self) -> str:
        files = ", ".join((*self.files, *self.companions))
        return f"replace the {self.name} in --out: removes only its files ({files}), nothing else"


# The study's names come from nasforge.search.study; the others are the library's (oneshot.search.*_NAME,
# train.engine.CHECKPOINT_NAME) spelt out so that `--help` need not import torch. tests/test_outputs.py checks them.
# optuna.journal: the Optuna mirror a search keeps (nasforge.integrations.optuna.MIRROR_NAME; with the optuna extra)
SEARCH_RUN = RunKind("search", (*DB_FILES, "incumbent.png", "params_vs_accuracy.png", "optuna.journal"), DB_NAME)
COMPARE_RUN = RunKind("comparison", ("compare.json", "results.md", "anytime_*.png"))
DARTS_RUN = RunKind(
    "one-shot search", ("checkpoint.pt", "search.jsonl", "genotype.json", "search.log"), "checkpoint.pt",
    companions=("log.txt", "architecture"),
)
TRAIN_RUN = RunKind("training run", ("checkpoint.pt", "curves.json", "curves.png"), "checkpoint.pt")
RETRAIN_RUN = RunKind("genotype training run", ("checkpoint.pt",), "checkpoint.pt")


# --- output locations -------------------------------------------------------------------------------------------


def check_output_dir(path: str | os.PathLike, option: str, *, fix: str = "choose a writable place") -> Path:
    """``path`` is a directory nasforge can write in, or can be created as one; else a one-line ConfigError
    (``fix`` ends the message when the place is not writable)."""
    _check_named(path, option, "a directory")
    path = Path(path)
    with _os_errors(option, path):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{option} {path} is a file, not a directory; give a directory")
        _check_writable(_nearest_existing(path, option), option, path, fix)
    return path


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` is a file nasforge can (re)write, or create; else a one-line ConfigError."""
    _check_named(path, option, "a file name")
    if str(path).endswith(os.sep):  # before Path() drops the slash
        raise ConfigError(f"{option} {path} names a directory; give a file name")
    path = Path(path)
    with _os_errors(option, path):
        if path.is_dir():
            raise ConfigError(f"{option} {path} is a directory; give a file name, e.g. {path / 'out'}")
        # Files are written through a temporary file and a rename in their directory: it must be writable.
        _check_writable(_nearest_existing(path.parent, option, path), option, path, "choose a writable place")
    return path


def _check_named(path: str | os.PathLike, option: str, what: str) -> None:
    # Path("") is ".": an empty value would silently write into the current directory.
    if not str(path).strip():
        raise ConfigError(f"{option} is empty; give {what}")


@contextlib.contextmanager
def _os_errors(option: str, path: Path) -> Iterator[None]:
    """A path the system refuses to look at (a name too long, too many links, ...) is a bad option value too."""
    try:
        yield
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ConfigError(f"{option} {path}: {reason}; choose another place") from None


def _nearest_existing(path: Path, option: str, shown: Path | None = None) -> Path:
    """The closest existing ancestor of ``path`` (itself included), which must be a directory."""
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise ConfigError(
                    f"{option} {shown or path} lies under {candidate}, which is a file; choose another place"
                )
            return candidate
        if candidate.is_symlink():
            raise ConfigError(f"{option} {shown or path}: {candidate} is a broken symbolic link; choose another place")
    return Path("/")


def _check_writable(directory: Path, option: str, path: Path, fix: str) -> None:
    # os.access is not enough: root passes it on a chmod-read-only directory and on /sys, where the write itself
    # fails; and it cannot say why. A real create-and-remove is the honest test, and its error names the reason.
    try:
        stat = directory.stat()
        fd, probe = tempfile.mkstemp(dir=directory, prefix=temp_prefix("nasforge-probe"), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
        with contextlib.suppress(OSError):  # a check leaves no trace, not even a new modification time
            os.utime(directory, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        where = "" if directory == path else f" (in {directory})"
        raise ConfigError(f"{option} {path}: cannot write there{where}: {reason}; {fix}") from None


# --- run directories -------------------------------------------------------------------------------------------


class RunDir:
    """A claimed run directory (see :func:`claim_run_dir`)."""

    def __init__(self, path: Path, kind: RunKind, *, resume: bool, replaced: list[Path]) -> None:
        self.path = path
        self.kind = kind
        self.resume = resume
        self.replaced = replaced
        self.recorded = False  # whether this run wrote the directory's settings record

    def begin(self, settings: Mapping[str, Any] | None = None, implied: Mapping[str, Any] | None = None) -> None:
        """Call when the run is ready to write: with ``--resume``, checks ``settings`` against the recorded
        ones (a ConfigError naming each difference); otherwise removes the old run's files (``--force``).
        Then records ``settings`` (labels as the user knows them, e.g. ``"--fraction"``; JSON values).
        ``implied`` holds the values of settings left out of the record when at their default (compared and
        shown for a recorded run that has them, never recorded)."""
        if self.resume:
            self._check_settings(settings or {}, implied or {})
        for path in self.replaced:
            path.unlink(missing_ok=True)
        self.replaced = []
        # A resumed run keeps its record (a run from before settings were recorded stays without one: writing
        # today's settings there would vouch for settings nobody checked).
        if settings is not None and not self.resume:
            record = {"run": self.kind.name, "settings": _plain(settings)}
            atomic_write_text(self.path / SETTINGS_NAME, json.dumps(record, indent=1) + "\n")
            self.recorded = True

    def _check_settings(self, settings: Mapping[str, Any], implied: Mapping[str, Any]) -> None:
        record = read_run_record(self.path)
        if record is None:
            return  # a run written before settings were recorded: the library's own checks still apply
        stored = record["settings"]
        now = {**_plain(implied), **_plain(settings)}
        now = {k: v for k, v in now.items() if k in settings or k in stored}
        diffs = [
            f"{key} {_show(stored.get(key))} then, {_show(now.get(key))} now"
            for key in [*now, *(k for k in stored if k not in now)]
            if stored.get(key) != now.get(key)
        ]
        if diffs:
            raise ConfigError(
                f"cannot resume {self.path}: it was run with other settings ({'; '.join(diffs)}); "
                "resume with the original settings or choose another --out"
            )


@contextlib.contextmanager
def claim_run_dir(
    path: str | os.PathLike, kind: RunKind, *, resume: bool = False, force: bool = False, option: str = "--out"
) -> Iterator[RunDir]:
    """Check, create and lock the run directory ``path`` for a run of ``kind``, for the block's duration.

    Refuses (ConfigError / StudyError, one line): ``--resume`` with ``--force``; an unusable location; a
    directory locked by a live process; ``--resume`` without the kind's resume file; a directory holding the
    kind's files without ``--resume`` or ``--force``. Directories created here are removed again if the block
    fails while they are still empty, so a refused run leaves nothing behind.
    """
    _check_named(path, option, "a directory")
    path = Path(path)
    if resume and force:
        raise ConfigError("--resume and --force contradict each other; pick one")
    # A run that cannot be written cannot be continued either, whatever its state: never suggest --force here.
    check_output_dir(path, option, fix="copy the run somewhere writable to continue it" if resume else
                     "choose a writable place")  # fmt: skip
    created = [p for p in (path, *path.parents) if not p.exists()]
    with _os_errors(option, path):  # the checks above make a failure here rare (a full disk, a race)
        before = None if created else path.stat()
        path.mkdir(parents=True, exist_ok=True)
    run: RunDir | None = None
    try:
        with RunLock(path):
            try:
                run = RunDir(path, kind, resume=resume, replaced=_occupancy(path, kind, resume=resume, force=force))
                yield run
            finally:
                # A run that stopped before writing anything of its own leaves no settings record either (only
                # the record it wrote itself: another kind's record in a refused directory is not ours to remove).
                if run is not None and run.recorded and [p.name for p in kind.existing(path)] == [SETTINGS_NAME]:
                    (path / SETTINGS_NAME).unlink()
    except BaseException:
        for directory in created:  # deepest first; stop at the first one that holds something
            try:
                directory.rmdir()
            except OSError:
                break
        if before is not None:  # a refused run leaves the directory as it found it, its modification time too
            with contextlib.suppress(OSError):
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        raise


def _occupancy(path: Path, kind: RunKind, *, resume: bool, force: bool) -> list[Path]:
    """The files a forced run replaces, after refusing a resume without a run or an occupied directory."""
    try:
        record = read_run_record(path)
    except ConfigError:
        if not force:
            raise
        record = None  # a damaged record of ours: --force replaces it with the rest of the run
    if record is not None and record["run"] != kind.name:
        # Kinds share file names (checkpoint.pt): never continue or replace another kind's run.
        raise ConfigError(f"{path} holds a {record['run']}, not a {kind.name}; choose another --out")
    foreign = kind.foreign_companions(path)
    if foreign:  # not ours to replace, even with --force
        raise ConfigError(
            f"{path} holds {foreign[0].name}, which is not a nasforge file, and a {kind.name} would overwrite it; "
            "move it away or choose another --out"
        )
    existing = kind.existing(path)
    if resume:
        if kind.resume_from is None or not (path / kind.resume_from).is_file():
            # A run stopped before its first checkpoint left files of its own: without --resume it is refused as
            # occupied, so name the way that works.
            fix = ("start it again with --force (removes only the run's own files)" if existing
                   else "start a new run without --resume")  # fmt: skip
            raise ConfigError(f"nothing to resume in {path}: it has no {kind.resume_from}; {fix}")
        return []
    if existing and not force:
        resumable = kind.resume_from is not None and (path / kind.resume_from).is_file()
        # Name the file a resume reads where there is one (a search's study.db, not its Optuna mirror), and offer
        # --resume only then: a run stopped before its first checkpoint can only be started again.
        if resumable:
            shown, fix = kind.resume_from, "continue it with --resume, replace it with --force"
        elif kind.resume_from:
            shown = existing[0].name
            fix = f"it has no {kind.resume_from} to resume from; start it again with --force"
        else:
            shown, fix = existing[0].name, "replace it with --force"
        raise ConfigError(
            f"{path} already holds a {kind.name} ({shown}); {fix} (removes only the run's own files), "
            "or choose another --out"
        )
    return existing


def read_run_record(path: Path, fix: str | None = None) -> dict[str, Any] | None:
    """The run record in ``path`` (``{"run": kind name, "settings": {...}}``), or None when there is none; an
    unreadable or malformed one is a :class:`ConfigError` ending in ``fix`` (default: move it away)."""
    file = path / SETTINGS_NAME
    fix = fix or f"move it away to use {path}"
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{file} is unreadable ({exc}); {fix}") from None
    if not (isinstance(record, dict) and isinstance(record.get("run"), str)
            and isinstance(record.get("settings"), dict)):  # fmt: skip
        raise ConfigError(f"{file} is not a nasforge run record; {fix}")
    return record


def _plain(settings: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(settings), sort_keys=True, default=str))


def _show(value: Any) -> str:
    return "(not set)" if value is None else json.dumps(value)
