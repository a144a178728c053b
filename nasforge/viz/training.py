"""Plots of a training run's per-epoch records (loss and accuracy curves).

matplotlib is imported lazily with the Agg backend; the image is written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasforge._io import atomic_write_bytes
from nasforge.viz import figure_format


def plot_training_curves(
    records: Sequence[Any], path: str | os.PathLike, *, title: str = "", eval_label: str = "valid"
) -> Path:
    """Loss (left) and accuracy in percent (right) per epoch; ``records`` are EpochRecords or their dicts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [r if isinstance(r, dict) else r.to_dict() for r in records]
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, kind, unit in ((axes[0], "loss", "cross-entropy"), (axes[1], "acc", "accuracy (%)")):
        ax.plot(epochs, [r[f"train_{kind}"] for r in rows], "o-", label="train")
        evals = [(e, r[f"valid_{kind}"]) for e, r in zip(epochs, rows) if r[f"valid_{kind}"] is not None]
        if evals:
            ax.plot(*zip(*evals), "s-", label=eval_label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=figure_format(path), dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
