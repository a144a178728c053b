"""Process-wide settings that make CPU training faster.

They change the whole process, so library code never calls them: the ``nasforge`` command and its worker
processes do, once, at start-up, and a script of yours may.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h) and its cap on the mmap threshold for 64-bit systems
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2**20
_NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Ask the C allocator to keep freed memory for reuse instead of giving it back to the OS; True if it did.

    A training step frees megabytes of activations that the next step allocates again. glibc's default is to
    return large blocks to the OS (``munmap``, heap trimming), so every step faults the same pages back in,
    zero-filled by the kernel: about 20,000 page faults per step of the NB201 network at batch 64 on this
    project's machines, 4% of the step (``perf/bench_nb201_network.py``). After this call blocks below
    32 MB come from the heap and the heap is never trimmed; the peak memory stays what it was, the process
    simply keeps it. Linux with glibc only; elsewhere nothing changes and it returns False.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0 for everything
    return mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX) == 1 and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1
