"""Shared pieces of every subcommand: one-line errors, ``--json`` output, value checks, progress bars."""

from __future__ import annotations

import argparse
import json
import math
import sys
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


# --- argparse value types: each raises a one-line error naming the value and what is valid -------------------


def positive_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def nonnegative_int(text: str) -> int:
    value = _parse(int, text, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; expected 0 or more")
    return value


def positive_float(text: str) -> float:
    value = _parse(float, text, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def fraction(text: str) -> float:
    """A fraction in (0, 1]."""
    value = _parse(float, text, "a number")
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is outside (0, 1]; give a fraction such as 0.05")
    return value


def _parse(kind: Callable[[str], T], text: str, what: str) -> T:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def check(condition: bool, message: str) -> None:
    """Raise a :class:`ConfigError` (one line, exit 2 on the CLI) unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
