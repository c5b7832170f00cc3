"""Time every fusion metric of `fusion_papers.metrics`.

Two workloads, each per metric:
* one 640×480 pair (MSRS 00537D from the shared fixtures, fused by averaging; synthetic if absent);
* the 21 VIFB pairs (their SeAFusion fused images), total time.

Each workload runs twice, in a child process limited to one thread (OMP/MKL/OpenBLAS/cv2/torch) and in one
with the default thread counts. Times are wall-clock (median of repeats) and CPU time of the process.
When torch sees a CUDA GPU, the FMI variants (the only GPU code path: `device="cuda"`) are also timed on
it (column "GPU"); the other metrics are numpy/OpenCV only.

    python benchmarks/metrics_bench.py [--convention cddfuse] [--repeats 3] [--quick] [--json out.json]

`--quick` skips the VIFB workload for the FMI variants (about 5 × 21 × 2 s per thread mode).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _pair_640(metrics, core):
    import numpy as np
    if core.has_fixtures("msrs"):
        root = core.fixture("msrs")
        ir, vi = root / "ir" / "00537D.png", root / "vi" / "00537D.png"
        from PIL import Image
        a, v = np.asarray(Image.open(ir)), np.asarray(Image.open(vi).convert("RGB"))
        a = a if a.ndim == 2 else a[..., 0]
        fu = ((a[..., None].astype(np.float64) + v) / 2).round().astype(np.uint8)
        return a, v, fu, "MSRS 00537D (640x480), fused = average"
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    v = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return a, v, ((a[..., None].astype(int) + v) // 2).astype(np.uint8), "synthetic 640x480"


def worker(args) -> dict:
    import numpy as np
    import cv2
    if args.threads == 1:
        cv2.setNumThreads(1)
    try:
        import torch
        if args.threads == 1:
            torch.set_num_threads(1)
    except ImportError:
        pass
    from fusion_papers import core, metrics
    conv = args.convention
    res = {"threads": args.threads, "convention": conv, "pair": {}, "vifb": {}}
    a, v, f, desc = _pair_640(metrics, core)
    res["pair_desc"] = desc
    A, B, F = metrics.prepare(a, v, f, conv)
    for m in metrics.METRICS:
        reps = 1 if m in metrics.FMI_METRICS else args.repeats
        walls, cpus = [], []
        for _ in range(reps):
            w0, c0 = time.perf_counter(), time.process_time()
            metrics.evaluate_prepared(A, B, F, [m], conv)
            walls.append(time.perf_counter() - w0); cpus.append(time.process_time() - c0)
        res["pair"][m] = {"wall_ms": 1000 * statistics.median(walls), "cpu_ms": 1000 * statistics.median(cpus)}
    res["gpu"] = {}
    if args.threads == 0:
        try:
            import torch
            has_gpu = torch.cuda.is_available()
        except ImportError:
            has_gpu = False
        if has_gpu:
            for m in metrics.FMI_METRICS:
                metrics.evaluate_prepared(A, B, F, [m], conv, device="cuda")        # warm-up
                torch.cuda.synchronize(); w0 = time.perf_counter()
                metrics.evaluate_prepared(A, B, F, [m], conv, device="cuda")
                torch.cuda.synchronize()
                res["gpu"][m] = 1000 * (time.perf_counter() - w0)
    if core.has_fixtures("vifb"):
        root = core.fixture("vifb")
        stems = sorted(p.stem for p in (root / "ir").iterdir())
        triples = [metrics.prepare(next((root / "ir").glob(s + ".*")), next((root / "vi").glob(s + ".*")),
                                   root / "fused" / f"{s}_SeAFusion.jpg", conv) for s in stems]
        for m in metrics.METRICS:
            if args.quick and m in metrics.FMI_METRICS:
                continue
            w0, c0 = time.perf_counter(), time.process_time()
            for A, B, F in triples:
                metrics.evaluate_prepared(A, B, F, [m], conv)
            res["vifb"][m] = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0, "n": len(triples)}
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--convention", default="cddfuse")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None, help="also write the raw timings here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    runs = {}
    for threads in (1, 0):
        env = dict(os.environ)
        for k in THREAD_VARS:
            if threads == 1:
                env[k] = "1"
            else:
                env.pop(k, None)
        cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), "--convention", args.convention,
               "--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        runs[threads] = json.loads(out.stdout.strip().splitlines()[-1])
    one, dflt = runs[1], runs[0]
    print(f"# fusion_papers.metrics benchmark — convention {args.convention}; {one['pair_desc']}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs visible; load average "
          f"{os.getloadavg()[0]:.1f}; wall = median of {args.repeats} (FMI: 1) runs, cpu = process CPU time\n")
    gpu = dflt.get("gpu") or {}
    print("| metric | 640×480, 1 thread: wall ms | cpu ms | default threads: wall ms | VIFB 21 pairs, 1 thread: wall s | cpu s | default threads: wall s |"
          + (" GPU (FMI) ms |" if gpu else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if gpu else ""))
    from fusion_papers.metrics import METRICS
    for m in METRICS:
        p1, pd = one["pair"][m], dflt["pair"][m]
        v1, vd = one["vifb"].get(m), dflt["vifb"].get(m)
        cells = [p1["wall_ms"], p1["cpu_ms"], pd["wall_ms"]] + ([v1["wall_s"], v1["cpu_s"], vd["wall_s"]] if v1 and vd else [None] * 3)
        row = " | ".join("–" if c is None else (f"{c:.1f}" if i < 3 else f"{c:.2f}") for i, c in enumerate(cells))
        print(f"| {m} | {row} |" + (f" {gpu[m]:.1f} |" if m in gpu else (" – |" if gpu else "")))
    if not gpu:
        print("\n(no CUDA GPU visible: GPU timings not measured)")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
