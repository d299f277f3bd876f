"""Keeping a long-running process's memory bounded by what it holds, not by its history.

- glibc's malloc raises its mmap threshold each time a large block is freed, so later
  large blocks (a note's HTML, a batch's JSON) come from heaps that are rarely given back
  and RSS climbs with the largest batches ever held. A fixed threshold and two arenas keep
  RSS near what the process holds (figures: docs/PERFORMANCE.md).
- The cyclic garbage collector re-traverses every batch's objects and the start-up
  objects; the worker freezes what exists after start-up and collects less often.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2
#: gc.set_threshold after start-up: a young collection every 20k new container objects
#: (700 by default), older generations as often as the defaults make them, relatively.
GC_THRESHOLDS = (20_000, 20, 20)


def bound_heap_growth() -> bool:
    """Apply the settings above through glibc's `mallopt`; False (and nothing done) where
    the C library is not glibc. Call it at the start of a long-running command."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(_M_ARENA_MAX, ARENA_MAX) == 1
    if not ok:
        log.debug("mallopt refused the heap settings")
    return ok


def settle_after_startup() -> None:
    """Collect once, freeze every object made so far and raise the collector's thresholds
    (see above). The worker calls it once it has imported and built what it keeps, just
    before it consumes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
