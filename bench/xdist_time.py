"""Wall time of the reproduction bench with -n 0 and -n 2 --dist loadgroup on a local mirror of
synthetic features (8 cases; the README's xdist figure). Run from the repository root."""
import io, os, subprocess, sys, time, numpy as np
sys.path.insert(0, "tests")
from httpserver import Reply, Server
def npy(a):
    b = io.BytesIO(); np.save(b, a); return b.getvalue()
rng = np.random.default_rng(1)
with Server() as s:
    for name, dim in (("convnext_tiny", 768), ("repvgg_a0", 1280)):
        for kind, loc in (("normal", -1.0), ("anomaly", 1.0)):
            s.route(f"/features/ped2/{kind}_features_{name}.npy", Reply(npy(rng.normal(loc, 1.0, (80, dim)).astype(np.float32))))
    for n in ("0", "2"):
        d = f"/tmp/xdist_time/{n}"  # fresh caches: both runs download
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "ANOMALY_REF_MIRROR": s.base, "ANOMALY_REF_CACHE": d + "/cache",
               "ANOMALY_REF_REPORT_DIR": d + "/report", "ANOMALY_REF_BENCH_RUNS": "2", "ANOMALY_REF_MAX_EPOCHS": "2", "ANOMALY_REF_DEVICE": "cpu"}
        cmd = [sys.executable, "-m", "pytest", "bench/test_reproduce.py", "-k", "ped2 and (convnext_tiny or repvgg_a0)", "-q", "-p", "no:cacheprovider", "-n", n] + (["--dist", "loadgroup"] if n != "0" else [])
        t = time.monotonic(); p = subprocess.run(cmd, env=env, capture_output=True, text=True); dt = time.monotonic() - t
        print(n, f"{dt:.1f}s", p.stdout.strip().splitlines()[-1], flush=True)
