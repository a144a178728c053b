"""``--config FILE.toml`` on every command: the file's keys are the command's long options, flags override them.

A config ``search.toml``::

    optimizer = "rea"
    train = true
    dataset = "my-images/"
    n-iter = 20          # or n_iter

is ``nasforge search --optimizer rea --train --dataset my-images/ --n-iter 20``. The file's options are put
before the command line's, so a flag given on the command line wins (argparse keeps the last value). A ``true``
switch is the bare flag, ``false`` leaves it out; a list is joined with commas (``optimizers = ["rs", "rea"]``).
Positional arguments stay on the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomllib

from nasforge.errors import ConfigError


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="read options from a TOML file (keys: long options; flags override)")  # fmt: skip


def expand_config(parser: argparse.ArgumentParser, argv: Sequence[str], command: str, path: str) -> list[str]:
    """``argv`` with the options of the config file at ``path`` inserted right after ``command``.

    :class:`ConfigError` (one line) for an unreadable file, an unknown key, or a value of the wrong kind.
    """
    options = _read(Path(path))
    flags = {s: a for a in parser._actions for s in a.option_strings if s.startswith("--")}
    inserted: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        action = flags.get(flag)
        if action is None or flag in ("--config", "--help"):
            known = ", ".join(sorted(f[2:] for f in flags if f not in ("--config", "--help")))
            raise ConfigError(f"{path}: unknown key {key!r} for 'nasforge {command}'; known keys: {known}")
        inserted += _as_flags(path, key, flag, action, value)
    at = list(argv).index(command) + 1
    return [*argv[:at], *inserted, *argv[at:]]


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; give the path of a .toml file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix it or drop --config") from None


def _as_flags(path: str, key: str, flag: str, action: argparse.Action, value: Any) -> list[str]:
    if action.nargs == 0:  # a switch (store_true / store_false)
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {key} is a switch; give true or false, got {value!r:.40}")
        return [flag] if value else []
    if isinstance(value, bool):
        raise ConfigError(f"{path}: {key} takes a value, not {str(value).lower()}; give e.g. {key} = \"...\"")
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    elif isinstance(value, dict):
        raise ConfigError(f"{path}: {key} takes a value, not a table; give e.g. {key} = \"...\"")
    # One token: argparse would take a value starting with '-' (budgets = [-5, 14]) for another option.
    return [f"{flag}={value}"]
