"""Per-arch proxy scores other projects published for NB201, to compare ours with arch by arch.

* NASLib's ``zc_nasbench201.json`` subset (about 725 archs per dataset, 13 proxies): keys are NASLib
  ``op_indices`` tuples, edges (0→1),(0→2),(0→3),(1→2),(1→3),(2→3), ops 0=skip_connect, 1=none,
  2=nor_conv_3x3, 3=nor_conv_1x1, 4=avg_pool_3x3 (see the data directory's ``nb201/README.md``), decoded by
  :mod:`nasforge.compat.naslib`.
* The NASWOT authors' ``arch_score_acc.pd`` (BayesWatch/nas-without-training v1.0): one score per arch for all
  NB201 archs, the paper's v1 (Jacobian-covariance) score. It is a pandas pickle, so it is only unpickled when
  its sha256 is the published file's.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from nasforge.compat.naslib import read_naslib_zc
from nasforge.errors import BenchmarkError, DataError

NASLIB_FILE = "nb201/raw/naslib-1bdbd960__zc_nasbench201_subset.json.gz"
NASWOT_FILE = "nb201/raw/nas-without-training__arch_score_acc.pd.gz"
NASWOT_SHA256 = "1e0d7551a908a0b37404cee249605287ca1936fb9c090461c7347f29a173b014"
NASLIB_NAMES = {"jacob_cov": "jacov"}  # our proxy name -> NASLib's, where they differ
_LIMIT = 64 << 20


def naslib_scores(data_dir: str | os.PathLike, dataset: str) -> dict[str, dict[int, float]]:
    """NASLib's published scores on ``dataset``: ``{proxy (our name): {arch index: score}}``, plus
    ``val_accuracy``. Read and checked by :func:`nasforge.compat.naslib.read_naslib_zc`."""
    path = Path(data_dir) / NASLIB_FILE
    try:
        raw = read_naslib_zc(path)
    except BenchmarkError as exc:
        raise DataError(str(exc)) from None
    key = "cifar10" if dataset in ("cifar10", "cifar10-valid") else dataset
    if key not in raw:
        raise DataError(f"{path} has no {dataset} entries (it has {', '.join(raw)})")
    ours = {v: k for k, v in NASLIB_NAMES.items()}
    out: dict[str, dict[int, float]] = {}
    for arch, scores in raw[key].items():
        for name, value in scores.items():
            out.setdefault(ours.get(name, name), {})[arch.index] = value
    return out


def naswot_scores(data_dir: str | os.PathLike) -> np.ndarray:
    """The NASWOT authors' score of every arch by official index (NaN where they have none)."""
    import hashlib
    import io

    path = Path(data_dir) / NASWOT_FILE
    if not path.is_file() or path.stat().st_size > _LIMIT:
        raise DataError(f"{path} is missing or too large; it should be the 0.4 MB NASWOT score file")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != NASWOT_SHA256:
        raise DataError(f"{path} is not the published NASWOT score file (sha256 differs); it is not unpickled")
    import pandas as pd

    frame = pd.read_pickle(io.BytesIO(gzip.decompress(data)))
    out = np.full(15_625, np.nan)
    out[frame["arch"].to_numpy(int)] = frame["score"].to_numpy(float)
    return out
