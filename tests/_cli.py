"""Running the ``nasforge`` command in-process for CLI tests: ``run(capsys, *argv) -> (exit code, stdout, stderr)``."""

from __future__ import annotations

from nasforge.cli.main import main


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse rejects the value itself: one line, exit 2
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
