"""viz: every plot and drawing (matplotlib imported lazily, Agg)."""

from __future__ import annotations

import os
from pathlib import Path

from nasforge.errors import ConfigError


def figure_format(path: str | os.PathLike) -> str:
    """The image format a plot written to ``path`` gets: its suffix (``png`` without one).

    Raises :class:`ConfigError` for a suffix matplotlib cannot write, so a command can refuse it before any work.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    supported = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if suffix not in supported:
        raise ConfigError(
            f"{path}: matplotlib cannot write .{suffix} images; give one of {', '.join(sorted(supported))}"
        )
    return suffix
