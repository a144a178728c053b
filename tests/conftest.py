"""Fixtures shared by the whole suite. Real-data tests skip, with the reason, only when the data is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The shared data directory sits beside the repository on the project's machines; CI exports NASFORGE_DATA.
_DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _real_data_dir() -> Path | None:
    value = os.environ.get("NASFORGE_DATA")
    path = Path(value) if value else _DEFAULT_SHARED
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data directory (NASFORGE_DATA, else ../shared/data); skips the test when it is absent."""
    path = _real_data_dir()
    if path is None:
        pytest.skip("real data directory absent: set NASFORGE_DATA to the shared data folder to run this test")
    return path


@pytest.fixture(scope="session")
def nb201_csv(real_data_dir: Path) -> Path:
    path = real_data_dir / "nb201" / "nb201_final.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} absent: the real NB201 table is needed for this test")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory in the real layout with tiny NB201 files: the final-results CSV and one NATS curve file."""
    from _benchmark_fixtures import write_nats_file, write_nb201_csv

    nb201 = tmp_path / "data" / "nb201"
    (nb201 / "curves" / "raw").mkdir(parents=True)
    write_nb201_csv(nb201 / "nb201_final.csv.gz")
    write_nats_file(nb201 / "curves" / "raw")
    return tmp_path / "data"


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restored after. The suite's models are tiny: a second OpenMP thread gains
    nothing and, on a busy 2-core machine, spin-waits for a descheduled sibling (tests run ~10x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
