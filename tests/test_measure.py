"""Wall time and peak memory of a study step (issue 23)."""

import numpy as np

from anomaly_ref.studies.measure import measured


def test_peak_sees_a_temporary_allocation():
    record = {}
    with measured(record, interval=0.001):
        a = np.ones(64 << 20, np.uint8)  # 64 MB, touched
        a[::4096] = 2
        import time

        time.sleep(1.0)  # the sampler thread must be scheduled while the array lives: on loaded cores 50 ms was not
        del a
    assert record["peak_above_start_mb"] >= 50
    assert record["seconds"] >= 1.0 and "statm" in record["memory_method"]
