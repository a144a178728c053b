"""Shared pieces of every subcommand: one-line errors, ``--json`` output, value checks, progress (bar or lines)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, TypeVar

from nasforge.errors import ConfigError

T = TypeVar("T")

EXIT_USAGE = 2


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="data directory (default: the NASFORGE_DATA environment variable)",
    )


def add_dataset_options(parser: argparse.ArgumentParser, default: str, builtin: tuple[str, ...]) -> None:
    """``--dataset`` (a built-in name, or your own image folder / .npz), ``--image-size``, ``--strict-images``."""
    parser.add_argument(
        "--dataset", default=default, metavar="NAME|PATH",
        help=f"{', '.join(builtin)}, or your own data: an image folder (CLASS/*.png|jpg, optional train/ test/) "
        f"or an .npz with x and y (default {default})",
    )  # fmt: skip
    from nasforge.cli._argtypes import image_size

    parser.add_argument("--image-size", type=image_size, default=None, metavar="N",
                        help="your own data: resize every image to NxN (needed when sizes differ)")  # fmt: skip
    parser.add_argument("--strict-images", action="store_true",
                        help="your own data: refuse files that cannot be decoded instead of skipping them")  # fmt: skip


def check_dataset_options(args: argparse.Namespace, builtin: tuple[str, ...]) -> None:
    """One line for a built-in name that is not loadable here, or own-data flags given with a built-in name."""
    from pathlib import Path

    from nasforge.data.specs import DATASETS

    if args.dataset in DATASETS:
        check(args.dataset in builtin, f"--dataset {args.dataset} cannot be trained on here; use {', '.join(builtin)} "
              "or a path to your own data")  # fmt: skip
        check(args.image_size is None and not args.strict_images,
              "--image-size and --strict-images apply to your own data (a folder or .npz), not to " + args.dataset)
        return
    check(Path(args.dataset).exists(), f"--dataset {args.dataset}: no such dataset or path; give "
          f"{', '.join(builtin)}, an image folder or an .npz file")  # fmt: skip
    # Your own data is named by its absolute path (the dataset's name everywhere), so a resume from elsewhere agrees.
    args.dataset = str(Path(args.dataset).resolve())
    check(args.image_size is None or args.image_size >= 1, f"--image-size {args.image_size} must be >= 1, e.g. 32")


def emit(args: argparse.Namespace, payload: Any, text: str | Callable[[], str]) -> None:
    """Print ``payload`` as JSON with ``--json``, otherwise the human-readable ``text``."""
    if getattr(args, "json", False):
        json.dump(payload, sys.stdout, indent=2, default=_json_default, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(text() if callable(text) else text)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, Paths and frozen dataclasses with a to_dict()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def log_stream(args: argparse.Namespace) -> Any:
    """Where per-epoch / per-step lines go: stdout, or stderr with ``--json`` (stdout holds the JSON)."""
    return sys.stderr if getattr(args, "json", False) else sys.stdout


def json_safe(value: float) -> float | None:
    """JSON has no NaN or infinity; report them as null."""
    return None if value is None or not math.isfinite(value) else value


class Progress:
    """How far a long job is, on stderr: the one place that chooses between a bar and plain lines.

    On a terminal it is a tqdm bar (``postfix`` shown beside it). Anywhere else (CI, ``nohup``, a log file,
    a pipe) a bar would be hidden or garble the log, so each :meth:`update` prints one plain line instead:
    wall time, elapsed time, the count and the ``postfix`` (e.g. the incumbent), at most one line every
    ``min_interval`` seconds (the last update of a known ``total`` and :meth:`close` always print the latest).

    >>> import io
    >>> log = io.StringIO()
    >>> with Progress("rs search", total=2, unit="trials", stream=log) as p:
    ...     p.update(valid="91.20")
    >>> log.getvalue().split("] ", 1)[1].rstrip()
    'rs search: 1/2 trials; valid 91.20'
    """

    def __init__(
        self,
        desc: str,
        *,
        total: int | None = None,
        initial: int = 0,
        unit: str = "",
        min_interval: float = 0.0,
        enabled: bool = True,
        stream: Any = None,
    ) -> None:
        self.desc, self.total, self.count, self.unit = desc, total, initial, unit
        self.min_interval = min_interval
        self.stream = sys.stderr if stream is None else stream
        self._bar: Any = None
        self._lines = False
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit or "it", file=self.stream,
                             leave=False)  # fmt: skip
        else:
            self._lines = enabled
        self._started = time.monotonic()
        self._printed_at = -math.inf
        self._printed = initial
        self._postfix: dict[str, Any] = {}

    def update(self, n: int = 1, **postfix: Any) -> None:
        """``n`` more done; ``postfix`` (name -> value) describes the state now."""
        self.count += n
        if postfix:
            self._postfix = postfix
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
        elif self._lines:
            now = time.monotonic()
            last = self.total is not None and self.count >= self.total
            if last or now - self._printed_at >= self.min_interval:
                self._line(now)

    def _line(self, now: float) -> None:
        self._printed_at, self._printed = now, self.count
        elapsed = int(now - self._started)
        count = f"{self.count}/{self.total}" if self.total is not None else str(self.count)
        unit = f" {self.unit}" if self.unit else ""
        state = "; " + ", ".join(f"{k} {v}" for k, v in self._postfix.items()) if self._postfix else ""
        stamp = f"[{time.strftime('%H:%M:%S')} +{elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}]"
        try:
            print(f"{stamp} {self.desc}: {count}{unit}{state}", file=self.stream, flush=True)
        except (BrokenPipeError, ValueError):  # the reader went away: progress is not worth failing the job
            self._lines = False

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._lines and self._printed != self.count:
            self._line(time.monotonic())
        self._lines = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True, min_interval: float = 5.0
) -> Iterator[T]:
    """Iterate ``iterable`` with a :class:`Progress` (a bar on a terminal, else a line every ``min_interval`` s)."""
    with Progress(desc, total=total, enabled=enabled, min_interval=min_interval) as bar:
        for item in iterable:
            yield item
            bar.update()


def check(condition: bool, message: str) -> None:
    """Raise a :class:`ConfigError` (one line, exit 2 on the CLI) unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
