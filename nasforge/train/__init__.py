"""The training engine: train any classifier on an ImageDataset with per-epoch records, checkpoints, resume.

See :func:`nasforge.train.train`; the configuration is a frozen :class:`TrainConfig`.
"""

from nasforge.train.config import EpochRecord, TrainConfig, TrainResult
from nasforge.train.engine import CHECKPOINT_NAME, available_devices, evaluate, seeded, select_device, train

__all__ = [
    "CHECKPOINT_NAME",
    "EpochRecord",
    "TrainConfig",
    "TrainResult",
    "available_devices",
    "evaluate",
    "seeded",
    "select_device",
    "train",
]
