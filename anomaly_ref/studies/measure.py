"""Wall time and peak memory of one step of a study.

Peak memory is the process's resident set size (RSS), sampled every ``interval`` seconds
from ``/proc/self/statm`` by a background thread while the step runs: it sees torch's and
numpy's allocations alike (tracemalloc misses torch's), and, unlike ``ru_maxrss``, it is the
peak *of this step*, not of the process so far. Reported as the step's peak RSS and its peak
above the RSS at the step's start. Where ``/proc`` is missing (not Linux), ``ru_maxrss`` is
used instead and the record says so.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from contextlib import contextmanager
from typing import Iterator

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1 << 20


def rss_bytes() -> int | None:
    """Resident set size of this process now, or None without /proc."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def measured(record: dict, interval: float = 0.01) -> Iterator[dict]:
    """Fill ``record`` with ``seconds``, ``peak_rss_mb``, ``peak_above_start_mb`` and ``memory_method``."""
    start = rss_bytes()
    peak = [start or 0]
    stop = threading.Event()

    def sample():
        while not stop.wait(interval):
            now = rss_bytes()
            if now is not None and now > peak[0]:
                peak[0] = now

    thread = threading.Thread(target=sample, daemon=True) if start is not None else None
    if thread:
        thread.start()
    t0 = time.perf_counter()
    try:
        yield record
    finally:
        seconds = time.perf_counter() - t0
        if thread:
            stop.set()
            thread.join()
            end = rss_bytes() or 0
            top = max(peak[0], end)
            record.update(seconds=round(seconds, 2), peak_rss_mb=round(top / MB, 1),
                          peak_above_start_mb=round((top - start) / MB, 1),
                          memory_method=f"RSS sampled every {interval * 1000:g} ms from /proc/self/statm")
        else:
            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            record.update(seconds=round(seconds, 2), peak_rss_mb=round(kb / 1024, 1), peak_above_start_mb=None,
                          memory_method="ru_maxrss: the process's peak so far, not this step's")
