"""Keeping a long-running process's memory bounded by what it holds, not by its history.

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MiB),
so later large blocks (a note's 1 MB of HTML, a batch's JSON) come from heaps that are
rarely given back, and a process's RSS climbs with the largest set of big batches it
ever held at once, which grows with the size of the migration. A fixed threshold keeps
every block over 128 KiB in its own mapping, returned to the system when freed; two
arenas keep thread heaps from multiplying. Measured in bench.ingest (20k notes): worker
peak RSS 218 MB by default, 140 MB with both settings, at the same throughput.

The cyclic garbage collector: by default it runs every 700 new container objects and
promotes what survives, so a batch's thousands of notes are traversed again and again,
and every full collection walks the ~57k objects of start-up (modules, schemas,
compiled grammars) too. Hardly any of it is cyclic garbage (about 30 objects over a
20k-note bench.ingest run); reference counting frees the rest. After start-up the
worker freezes what exists (never traversed again) and collects less often. Measured side
by side in bench.ingest's workload: worker CPU 4.42 s by default, 4.07 s settled (medians
of 3 runs), the collector's own time 0.35 s to 0.09 s, peak RSS unchanged. A young
threshold of 100k saved a little more (3.99 s) but no collection ran at all in 18.6k
notes, so a cycle holding a batch's data (a failed job's traceback, say) could stay for
hours; at 20k one runs every batch or two. Not in `run`
or the API: neither spent less CPU (bench.pipeline), and `run`'s peak RSS rose from 84 to
135 MB (one run each). Traced afterwards: httpx's request/response objects form cycles
that each reached their batch body (`client._SentOnce` now lets go of it once sent).
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
