"""Shared pieces of every subcommand: one-line errors, ``--json`` output, value checks, progress bars."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn, TypeVar

# The argparse value types live in _argtypes; these four stay importable from here for older callers.
from nasforge.cli._argtypes import fraction, nonnegative_int, positive_float, positive_int  # noqa: F401
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


def json_safe(value: float) -> float | None:
    """JSON has no NaN or infinity; report them as null."""
    return None if value is None or not math.isfinite(value) else value


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True) -> Iterator[T]:
    """A progress bar on stderr (tqdm); silent when stderr is not a terminal or ``enabled`` is false."""
    from tqdm import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, disable=None if enabled else True, file=sys.stderr, leave=False))


def check(condition: bool, message: str) -> None:
    """Raise a :class:`ConfigError` (one line, exit 2 on the CLI) unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
