"""Where nasforge looks for data: ``--data-dir`` first, then the ``NASFORGE_DATA`` environment variable.

There is deliberately no silent default location: a command that needs data and finds none says
where it looked and how to point it at the data.
"""

from __future__ import annotations

import os
from pathlib import Path

from nasforge.errors import DataError

ENV_VAR = "NASFORGE_DATA"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The data directory given explicitly or by ``NASFORGE_DATA``; ``None`` when neither is set."""
    value = explicit if explicit is not None else os.environ.get(ENV_VAR) or None
    return None if value is None else Path(value).expanduser()


def require_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Like :func:`data_dir`, but raise :class:`DataError` unless the directory exists."""
    path = data_dir(explicit)
    if path is None:
        raise DataError(f"no data directory given: pass --data-dir DIR or set {ENV_VAR}=DIR")
    if not path.is_dir():
        source = "--data-dir" if explicit is not None else ENV_VAR
        raise DataError(
            f"data directory {path} (from {source}) does not exist: point {source} at an existing directory"
        )
    return path
