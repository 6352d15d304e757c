"""Wall time and peak memory of a study step (issue 23)."""

import numpy as np

from anomaly_ref.studies.measure import measured


def test_peak_sees_a_temporary_allocation():
    import gc
    import mmap
    import time

    gc.collect()  # earlier tests' garbage freed now, not during the step (it would lower RSS under the start)
    record = {}
    with measured(record, interval=0.001):
        # A fresh anonymous mapping, every page touched: new resident memory whatever the allocator
        # holds already (in a long test session malloc reuses freed, still-resident memory).
        buf = mmap.mmap(-1, 64 << 20)
        for off in range(0, len(buf), mmap.PAGESIZE):
            buf[off] = 1
        time.sleep(1.0)  # the sampler thread must be scheduled while the pages live
        buf.close()
    assert record["peak_above_start_mb"] >= 50
    assert record["seconds"] >= 1.0 and "statm" in record["memory_method"]
