"""Keep freed memory in the process so the next allocation of the same size costs no page faults.

Rollouts and sampling allocate and free the same few-MB tensors (logit blocks, conv outputs) tens of
thousands of times per iteration. glibc's malloc serves each from a fresh mmap, or trims the heap
top back to the OS after each free, so every reuse faults its pages in again: on the CPU preset
that was over a million page faults and a third of the rollout time, spent in the kernel. Fixing
the mmap threshold (which also stops glibc from adjusting it) and raising the trim threshold keeps
those blocks in the heap. Only glibc has `mallopt`; elsewhere this does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # the largest glibc accepts on 64-bit: smaller blocks come from the heap
TRIM_THRESHOLD_BYTES = 1 << 30  # free heap kept before any is returned to the OS


def reuse_freed_memory() -> bool:
    """Apply the settings to this process (idempotent); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_set = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    return bool(mmap_set) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
