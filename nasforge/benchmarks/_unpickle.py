"""The one restricted unpickler nasforge uses for downloaded pickles (benchmark files, CIFAR-10 batches).

A pickle is a program: ``pickle.load`` calls whatever callable the file names, so a file from the
internet could run ``os.system``. The benchmark formats we read (NASLib's ``nb201_*_full_training.pickle``,
NATS-Bench's ``*.pickle.pbz2``) only need plain containers, numbers and numpy arrays/scalars, so this
unpickler resolves exactly those globals from a fixed table and refuses every other one *before*
anything is called.
"""

from __future__ import annotations

import _codecs
import collections
import io
import os
import pickle
from typing import Any

import numpy as np

from nasforge._io import open_capped, read_capped
from nasforge.errors import BenchmarkError

# (module, name) -> the object to use. numpy 2 pickles name ``numpy._core``; numpy 1 files name ``numpy.core``.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): _codecs.encode,  # protocol-2 pickles spell bytes as encode(str, 'latin1')
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = np._core.multiarray._reconstruct
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = np._core.multiarray.scalar
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = np._core.numeric._frombuffer

ALLOWED_GLOBALS: tuple[str, ...] = tuple(sorted(f"{m}.{n}" for m, n in _ALLOWED))
"""What a benchmark pickle may reference, as ``module.name``."""


# What a damaged pickle makes the unpickler raise (a deeply nested one: RecursionError).
_BROKEN = (
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    MemoryError,
    OverflowError,
    RecursionError,
)


class _Refused(pickle.UnpicklingError):
    """A global outside the allow-list; raised before anything is called."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = {"__builtin__": "builtins"}.get(module, module)  # protocol 0-2 files written by Python 2
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"persistent id {pid!r}")


def safe_loads(data: bytes, *, source: str = "<bytes>", encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` allowing only containers, numbers and numpy arrays/scalars.

    ``encoding`` is how Python 2 ``str`` objects are decoded (``"bytes"`` keeps them bytes, which the
    official CIFAR-10 batches need). Raises :class:`BenchmarkError` naming the refused global (nothing it
    names is ever called) or saying the data is not a readable pickle.
    """
    return _load(io.BytesIO(data), source, encoding)


def _load(stream: Any, source: str, encoding: str) -> Any:
    try:
        return _RestrictedUnpickler(stream, encoding=encoding).load()
    except BenchmarkError:
        raise  # the capped stream's own error (too large, corrupt compression): already one line
    except _Refused as exc:
        raise BenchmarkError(
            f"{source}: refused to unpickle: the file references {exc}, which a data file never "
            f"needs (it could run code); only {', '.join(sorted({m for m, _ in _ALLOWED}))} objects are "
            "allowed. Use the original file."
        ) from None
    except pickle.UnpicklingError as exc:
        raise BenchmarkError(f"{source}: not a readable pickle ({exc}); the file is corrupt or not a pickle") from None
    except _BROKEN as exc:
        raise BenchmarkError(
            f"{source}: not a readable pickle ({type(exc).__name__}: {exc}); the file is truncated or corrupt"
        ) from None


def read_maybe_compressed(path: str | os.PathLike, limit: int, *, what: str) -> bytes:
    """The bytes of ``path``, decompressed when it is gzip, bz2 or xz (recognised by magic bytes).

    More than ``limit`` bytes (decompressed) is refused with :class:`BenchmarkError`: each format's caller
    sets a limit well above its largest real file, so a corrupt or hostile file cannot fill memory.
    """
    return read_capped(path, limit, what=what, error=BenchmarkError)


def safe_load_file(path: str | os.PathLike, limit: int, *, what: str) -> Any:
    """:func:`safe_loads` of a (possibly gzip/bz2/xz-compressed) pickle file of at most ``limit`` bytes.

    The file is unpickled as a stream (never held whole in memory besides the objects it builds); past
    ``limit`` decompressed bytes it is refused with :class:`BenchmarkError`.
    """
    with open_capped(path, limit, what=what, error=BenchmarkError) as reader:
        return _load(reader, str(path), "ASCII")
