"""nasforge: neural architecture search on NAS-Bench-201 and DARTS spaces, by lookup or by training."""

from nasforge.errors import ArchError, BenchmarkError, DataError, NasforgeError
from nasforge.spaces.nb201 import NB201Arch

__version__ = "0.1.0"

__all__ = ["ArchError", "BenchmarkError", "DataError", "NB201Arch", "NasforgeError", "__version__"]
