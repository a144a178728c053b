"""Entry point of the ``nasforge`` command: builds the subcommand parsers and turns user errors into exit 2.

Each subcommand lives in its own module under ``nasforge.cli`` and exposes ``register(subparsers)``;
the parser it adds sets ``func`` (called with the parsed arguments, returning an exit code or None).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from nasforge.cli._common import EXIT_USAGE, ArgumentParser
from nasforge.cli._config import add_config_option, expand_config
from nasforge.errors import NasforgeError, SettingError, TrainingDivergedError
from nasforge.runtime import keep_freed_memory

EXIT_BROKEN_PIPE = 141

# Subcommand modules, in the order ``nasforge --help`` lists them.
SUBCOMMAND_MODULES = (
    "nasforge.cli.space",
    "nasforge.cli.bench",
    "nasforge.cli.train",
    "nasforge.cli.search",
    "nasforge.cli.study",
    "nasforge.cli.pareto",
    "nasforge.cli.dashboard",
    "nasforge.cli.darts",
    "nasforge.cli.viz",
    "nasforge.cli.zc",
    "nasforge.cli.predictors",
    "nasforge.cli.export",
)


def build_parser() -> ArgumentParser:
    from nasforge import __version__

    parser = ArgumentParser(prog="nasforge", description="Neural architecture search: spaces, benchmarks, search.")
    parser.add_argument("--version", action="version", version=f"nasforge {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside the module is a real error
                raise
            continue
        module.register(subparsers)
    _add_config(subparsers)
    return parser


def _add_config(subparsers: argparse._SubParsersAction) -> None:
    """``--config FILE.toml`` on every command (each leaf parser), implemented once in :mod:`nasforge.cli._config`."""
    for sub in subparsers.choices.values():
        inner = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if inner:
            _add_config(inner[0])
        else:
            add_config_option(sub)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            code = _run(argv)
        finally:  # also after --help or a usage error (SystemExit): a closed pipe is caught here, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        return _closed_pipe()
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        # Before parsing: the file may give options the command requires (--out). Its options go first, so the
        # command line's win.
        config = _config_path(argv)
        if config is not None and (leaf := _leaf(parser, argv)) is not None:
            argv = expand_config(leaf[0], argv, leaf[1], config)
    except NasforgeError as exc:
        print(f"nasforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    # This process is ours: let training reuse freed activations instead of faulting pages in every step.
    keep_freed_memory()
    try:
        code = args.func(args)
    except (NasforgeError, TrainingDivergedError) as exc:  # a diverged run: its message names the fix
        # The library names settings (time_budget); here they are the flags that set them (--time-budget).
        message = exc.spelled(lambda name: "--" + name.replace("_", "-")) if isinstance(exc, SettingError) else exc
        print(f"nasforge: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nasforge: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _config_path(argv: list[str]) -> str | None:
    for i, token in enumerate(argv):
        if token == "--":
            return None
        if token == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith("--config="):
            return token.split("=", 1)[1]
    return None


def _leaf(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.ArgumentParser, str] | None:
    """The (sub)command parser ``argv`` selects and its name: the leaf that carries ``--config``."""
    current, name = parser, None
    for token in argv:
        inner = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not inner:
            break
        if token in inner[0].choices:
            current, name = inner[0].choices[token], token
    return None if name is None else (current, name)


def _closed_pipe() -> int:
    """The reader of stdout went away (``nasforge ... | head -1``): stop quietly, as ``yes | head -1`` does.

    Python would report the broken pipe again when it flushes stdout at exit; pointing stdout at /dev/null
    first (the remedy in Python's ``signal`` documentation) keeps the exit silent. Exit code 141 is a shell's
    128 + SIGPIPE, what a tool killed by the signal reports.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
