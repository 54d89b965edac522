"""Process memory: large blocks go back to the system when they are freed, so RSS follows what the server holds."""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameter number for the mmap threshold (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
# glibc's own starting value: blocks of this size or more are mapped on their own and unmapped when freed.
LARGE_BLOCK = 128 * 1024


def return_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Pin glibc's mmap threshold, so that every block of `threshold` bytes or more is unmapped when freed.

    glibc raises the threshold each time such a block is freed (up to 32 MiB); from then on response bodies and the
    long strings parsed from them come from the heap, which keeps what they leave behind. Reading 1,200 cases of
    400 KB under an 8 MiB cache, RSS grew 0.9-1.6x the cache bound while live objects grew by about 2 MiB
    (bench/memory.py). Returns False, changing nothing, where malloc is not glibc's.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl without mallopt): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
