"""Performance of fusion_papers (issue #15) in one run, as ratios against the plain path of the same code and
against the previous release's stored numbers (`perf_baseline.json`).

    python benchmarks/perf_bench.py [--repeats 5] [--pairs 8] [--json out.json] [--skip-fmi]

Times are **process CPU time** (`time.process_time`, children via `resource`) unless marked wall: the machine this
was written on is shared, so wall-clock time measures the neighbours as much as the code. One OpenCV/BLAS thread.

Sections: (1) metric suites on one 640×480 pair: the 12-metric cddfuse suite and all 25 metrics, shared-work path
(`evaluate`) vs the plain path (every metric evaluated on its own, nothing shared); FMI's compiled kernel vs its
numpy path; (2) folder evaluation on 1 vs
all cores (wall and summed CPU; identical tables asserted); (3) command-line start-up (`--help`, `--version`,
`data list`: CPU time, and whether torch was imported); (4) CAF inference at 1024×768 in fresh processes: plain
eval forward under `no_grad` vs BatchNorm folded under `inference_mode` vs folded + tiled (256 px tiles, 8 px halo)
vs folded + channels-last (oneDNN),
CPU time, GMAC/s beside a same-run fp32 matmul, peak RSS above the post-import baseline, max |Δ| vs plain.

`--against REV` (default: main before the vectorised FMI kernel; `da6defb` = before any compiled loop) also loads
`fusion_papers/metrics.py` and `fmi_kernel.py` as they were at REV (`git show`, needs the git history) and times them
alternately with this code in the same run on the same arrays, per metric and per suite, with the largest relative
difference of the values (every fast metric in all five conventions on 3 pairs, and the five FMI variants). `--metrics-only` runs
just the metric sections; `--torch` adds the 12-metric suite through `metrics_torch` on the CPU (float64, float32,
a batch of 4) beside the numpy path.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

for _k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

HERE = Path(__file__).resolve().parent
SUITE12 = ["EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "CC", "PSNR", "MSE"]
PREV_REV = "3ad33f4"       # main before the vectorised FMI kernel (2026-11-30 04:10; da6defb: before any compiled loop)


def _pair():
    import numpy as np
    from PIL import Image
    from fusion_papers import core
    if core.has_fixtures("msrs"):
        root = core.fixture("msrs")
        a = np.asarray(Image.open(root / "ir" / "00537D.png")); v = np.asarray(Image.open(root / "vi" / "00537D.png").convert("RGB"))
        a = a if a.ndim == 2 else a[..., 0]
        desc = "MSRS 00537D 640x480, fused = average"
    else:
        rng = np.random.default_rng(0)
        a = rng.integers(0, 256, (480, 640), dtype=np.uint8); v = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        desc = "synthetic 640x480 (no MSRS fixture)"
    f = ((a[..., None].astype(np.float64) + v) / 2).round().astype(np.uint8)
    return a, v, f, desc


def _cpu(fn, n):
    best = float("inf")
    for _ in range(n):
        c = time.process_time(); fn(); best = min(best, time.process_time() - c)
    return best


def _cpu_alt(fa, fb, n):
    "Best process-CPU seconds of `fa` and of `fb`, called alternately n times each (neighbours' load hits both alike)."
    best = [float("inf"), float("inf")]
    for _ in range(n):
        for i, fn in enumerate((fa, fb)):
            c = time.process_time(); fn(); best[i] = min(best[i], time.process_time() - c)
    return best


def bench_metrics(repeats: int, skip_fmi: bool) -> dict:
    import cv2
    cv2.setNumThreads(1)
    from fusion_papers import metrics as M
    a, v, f, desc = _pair()
    full = list(M.METRICS if not skip_fmi else M.FAST_METRICS)
    M.evaluate(a, v, f, full)                                   # warm-up: imports, allocator, every compiled kernel
    plain = lambda names: [M.evaluate(a, v, f, [m]) for m in names]   # nothing shared between metrics
    nf = 3 if not skip_fmi else repeats                         # (the first timed call used to load the FMI kernels)
    res = {"pair": desc,
           "suite12_cpu_ms": 1000 * _cpu(lambda: M.evaluate(a, v, f, SUITE12), repeats),
           "suite12_plain_cpu_ms": 1000 * _cpu(lambda: plain(SUITE12), repeats),
           "full_metrics": full,
           "full_cpu_ms": 1000 * _cpu(lambda: M.evaluate(a, v, f, full), nf),
           "full_plain_cpu_ms": 1000 * _cpu(lambda: plain(full), nf) if skip_fmi else None,
           "per_metric_cpu_ms": {}}
    A, B, F = M.prepare(a, v, f)                   # per metric as the stored baseline: on prepared arrays
    for m in full:
        res["per_metric_cpu_ms"][m] = 1000 * _cpu(lambda: M.evaluate_prepared(A, B, F, [m]), 1 if m in M.FMI_METRICS else repeats)
    assert M.evaluate(a, v, f, SUITE12) == {m: M.evaluate(a, v, f, [m])[m] for m in SUITE12}   # same values
    if not skip_fmi:                               # FMI: compiled kernel vs the numpy path of the same formulas
        res["fmi"] = {}
        for feat, name in (("none", "FMI_pixel"), ("dct", "FMI_dct")):
            c0 = time.process_time(); vn = M.fmi(A, B, F, feat, jit=False); tn = time.process_time() - c0
            c0 = time.process_time(); vk = M.fmi(A, B, F, feat, jit=True); tk = time.process_time() - c0
            res["fmi"][name] = {"numpy_cpu_ms": 1000 * tn, "kernel_cpu_ms": 1000 * tk, "speedup": tn / tk, "abs_diff": abs(vn - vk)}
        code = ("import time\nc=time.process_time()\nimport numpy as np\nfrom fusion_papers import metrics as M\n"
                "z=np.zeros((8,8))\nM.fmi(z,z,z+1,jit=True)\nprint(time.process_time()-c)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        res["fmi"]["kernel_first_call_fresh_process_cpu_s"] = float(r.stdout.strip() or "nan")
    return res


def bench_torch(repeats: int) -> dict:
    """The 12-metric suite through `metrics_torch` on the CPU (float64, float32, a batch of 4 equal pairs) beside the
    numpy path, same arrays, CPU ms per pair, and the largest relative difference from the numpy values."""
    import numpy as np
    import torch
    from fusion_papers import metrics as M, metrics_torch as T
    torch.set_num_threads(1)
    a, v, f, desc = _pair()
    A, B, F = M.prepare(a, v, f)
    ref = M.evaluate_prepared(A, B, F, SUITE12)
    T.evaluate_stack(A, B, F, SUITE12)                                        # warm-up
    got = T.evaluate_stack(A, B, F, SUITE12)
    st = [np.stack([z] * 4) for z in (A, B, F)]
    return {"pair": desc,
            "numpy_cpu_ms": 1000 * _cpu(lambda: M.evaluate_prepared(A, B, F, SUITE12), repeats),
            "torch_f64_cpu_ms": 1000 * _cpu(lambda: T.evaluate_stack(A, B, F, SUITE12), repeats),
            "torch_f64_batch4_cpu_ms_per_pair": 1000 * _cpu(lambda: T.evaluate_stack(*st, SUITE12), max(1, repeats // 2)) / 4,
            "torch_f32_cpu_ms": 1000 * _cpu(lambda: T.evaluate_stack(A, B, F, SUITE12, dtype="float32"), repeats),
            "max_rel_diff_f64": max(T.rel_diff(float(got[m][0]), ref[m]) for m in SUITE12)}


class _Previous:
    """`metrics.py` as it was at a revision, running with `fmi_kernel.py` of the same revision: while one of its
    functions runs, `fusion_papers.fmi_kernel` is that revision's module (compiled in memory, not cached), so the
    'before' of the compiled loops is really the old code."""
    def __init__(self, metrics_mod, kernel_mod):
        self._m, self._k = metrics_mod, kernel_mod

    def __getattr__(self, name):
        fn = getattr(self._m, name)
        if self._k is None or not callable(fn):
            return fn

        def call(*args, **kw):
            import fusion_papers
            saved = sys.modules.get("fusion_papers.fmi_kernel"), getattr(fusion_papers, "fmi_kernel", None)
            sys.modules["fusion_papers.fmi_kernel"] = self._k; fusion_papers.fmi_kernel = self._k
            try:
                return fn(*args, **kw)
            finally:
                if saved[0] is None:
                    sys.modules.pop("fusion_papers.fmi_kernel", None)
                else:
                    sys.modules["fusion_papers.fmi_kernel"] = saved[0]
                fusion_papers.fmi_kernel = saved[1]
        return call


def _git_module(rev: str, path: str, name: str, as_main: bool = False):
    import types
    try:
        src = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{rev}:{path}"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType(name)
    mod.__file__, mod.__package__ = f"{rev}:{path}", "fusion_papers"   # its relative imports
    if as_main:
        mod.__name__ = "__main__"        # the kernels' `cache=__name__ != "__main__"`: compiled in memory only
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def load_previous(rev: str):
    """`fusion_papers/metrics.py` as it was at git revision `rev` (with that revision's `fmi_kernel.py` where it had
    one), as a module-like object (None when git or the revision is missing)."""
    m = _git_module(rev, "fusion_papers/metrics.py", f"fusion_papers._metrics_{rev}")
    if m is None:
        return None
    try:
        import numba  # noqa: F401
        k = _git_module(rev, "fusion_papers/fmi_kernel.py", f"fusion_papers._fmi_kernel_{rev}", as_main=True)
    except ImportError:
        k = None
    return _Previous(m, k)


def bench_against(rev: str, repeats: int, skip_fmi: bool) -> dict:
    """Per metric and per suite, CPU ms of the code at `rev` and of this code, measured alternately in this run on
    the same prepared arrays, and the largest relative difference of their values."""
    import math
    import numpy as np
    from fusion_papers import metrics as M
    old = load_previous(rev)
    if old is None:
        return {"skipped": f"git revision {rev} not available"}
    a, v, f, desc = _pair()
    rng = np.random.default_rng(3)
    ir = rng.integers(0, 256, (180, 170)).astype(np.uint8)
    vi = np.clip(ir * 0.6 + rng.normal(40, 25, ir.shape), 0, 255).astype(np.uint8)
    fu = ((ir.astype(np.float64) + vi) / 2).round().astype(np.uint8)
    worst, n = {}, 0
    for conv in M.CONVENTIONS:                     # values: every fast metric, every convention, 3 pairs
        for trip in ((a, v, f), (ir, vi, fu), (vi, ir, fu)):
            new_v, old_v = M.evaluate(*trip, "fast", conv), old.evaluate(*trip, "fast", conv)
            for m in new_v:
                x, y = new_v[m], old_v[m]
                same = x == y or (math.isnan(x) and math.isnan(y))
                r = 0.0 if same else abs(x - y) / max(abs(y), 1e-300)
                worst[m] = max(worst.get(m, 0.0), r); n += 1
    A, B, F = M.prepare(a, v, f)
    names = list(M.METRICS if not skip_fmi else M.FAST_METRICS)
    if not skip_fmi:                               # FMI values of both, and the previous kernels compiled before timing
        for m in M.FMI_METRICS:
            x, y = M.evaluate_prepared(A, B, F, [m])[m], old.evaluate_prepared(A, B, F, [m])[m]
            worst[m] = 0.0 if x == y else abs(x - y) / abs(y); n += 1
    out = {"rev": rev, "pair": desc, "values_compared": n, "max_rel_diff": worst, "load_avg_before": os.getloadavg()[0],
           "per_metric_cpu_ms": {}}
    for m in names:
        k = 2 if m in M.FMI_METRICS else repeats
        p_, n_ = _cpu_alt(lambda: old.evaluate_prepared(A, B, F, [m]), lambda: M.evaluate_prepared(A, B, F, [m]), k)
        out["per_metric_cpu_ms"][m] = {"prev": 1000 * p_, "now": 1000 * n_}
    for label, suite, k in (("suite12", SUITE12, 3 * repeats), ("full", names, 3 if not skip_fmi else repeats)):
        p_, n_ = _cpu_alt(lambda: old.evaluate(a, v, f, suite), lambda: M.evaluate(a, v, f, suite), k)
        out[label] = {"prev": 1000 * p_, "now": 1000 * n_, "metrics": len(suite)}
    out["load_avg_after"] = os.getloadavg()[0]
    return out


def print_against(r: dict) -> None:
    print(f"\n## this code vs `metrics.py` (+ `fmi_kernel.py`) at {r.get('rev')} (same run, same arrays, measured "
          "alternately; process CPU ms, not wall: the machine may be shared)")
    if "skipped" in r:
        print(r["skipped"]); return
    print(f"{r['pair']}; load average {r['load_avg_before']:.1f} before, {r['load_avg_after']:.1f} after; "
          f"values: {r['values_compared']} (metric, convention, pair) triples compared")
    print("| workload | previous | now | speed-up | target |\n|---|---|---|---|---|")
    for label, tgt in (("suite12", "≤ 65"), ("full", "≤ 1000")):
        x = r[label]
        name = "12-metric cddfuse suite" if label == "suite12" else f"all {x['metrics']} metrics"
        print(f"| {name} | {x['prev']:.1f} | {x['now']:.1f} | {x['prev'] / x['now']:.2f}× | {tgt} |")
    print("\n| metric | previous | now | speed-up | max rel. diff of values |\n|---|---|---|---|---|")
    for m, x in r["per_metric_cpu_ms"].items():
        d = r["max_rel_diff"].get(m)
        print(f"| {m} | {x['prev']:.1f} | {x['now']:.1f} | {x['prev'] / x['now']:.2f}× | "
              f"{'—' if d is None else f'{d:.1e}'} |")


def _folder_items(n_items: int):
    from fusion_papers import core, metrics as M
    root = core.fixture("vifb")
    ir, vi = M._stems(root / "ir"), M._stems(root / "vi")
    methods = sorted({p.stem.rsplit("_", 1)[1] for p in (root / "fused").iterdir()})
    items = [{"image": s, "method": m, "ir": ir[s], "vis": vi[s], "fused": root / "fused" / f"{s}_{m}.jpg"}
             for m in methods for s in sorted(ir)]
    return items[:n_items]


def folder_worker(n_items: int, workers: int) -> dict:
    """One folder evaluation as a user's fresh process runs it (imports and kernel loading included): wall time, and
    CPU of this process plus every descendant (the pool's workers are children of the forkserver, which
    `RUSAGE_CHILDREN` never sees), sampled with psutil every 20 ms (a process's last sample before it exits)."""
    import threading
    import psutil
    t0 = time.perf_counter()
    from fusion_papers import metrics as M
    items = _folder_items(n_items)
    me, seen, stop = psutil.Process(), {}, threading.Event()

    def poll():
        while not stop.is_set():
            for ch in me.children(recursive=True):
                try:
                    ct = ch.cpu_times(); seen[ch.pid] = ct.user + ct.system
                except psutil.Error:
                    pass
            stop.wait(0.02)
    th = threading.Thread(target=poll, daemon=True); th.start()
    table, _ = M.evaluate_batch(items, "fast", workers=workers)
    wall = time.perf_counter() - t0
    stop.set(); th.join()
    own = me.cpu_times()
    return {"wall_s": wall, "cpu_s": own.user + own.system + sum(seen.values()), "processes": 1 + len(seen),
            "table": table.drop(columns=["convention"]).to_json()}


def bench_folder(n_items: int) -> dict:
    """Folder evaluation (VIFB fused images, fast metrics) on 1 process vs every core, each in a fresh interpreter,
    for a small folder (16 images) and `n_items` (default all 84 = 21 pairs × 4 methods). Tables must be identical."""
    from fusion_papers import core
    if not core.has_fixtures("vifb"):
        return {"skipped": "no vifb fixture"}
    cores = os.cpu_count() or 1
    out = {"metrics": "fast (all but FMI)", "cores": cores, "load_avg_before": os.getloadavg()[0], "runs": {}}
    for n in dict.fromkeys((16, n_items)):
        r, tables = {}, {}
        for w in (1, cores):
            p = subprocess.run([sys.executable, __file__, "--folder-worker", f"{n}:{w}"], capture_output=True, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
            if p.returncode:
                return {"error": p.stderr[-2000:]}
            res = json.loads(p.stdout.strip().splitlines()[-1])
            tables[w] = res.pop("table"); r[f"workers{w}"] = res
        r["identical"] = tables[1] == tables[cores]
        r["speedup_wall"] = r["workers1"]["wall_s"] / r[f"workers{cores}"]["wall_s"]
        out["runs"][n] = r
    out["load_avg_after"] = os.getloadavg()[0]
    return out


def bench_cli() -> dict:
    out = {}
    for argv in (["--help"], ["--version"], ["data", "list"]):
        code = ("import sys\nfrom fusion_papers.cli import main\n"
                f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\nprint('TORCH', 'torch' in sys.modules, file=sys.stderr)")
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t0; c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out[" ".join(argv)] = {"cpu_s": (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime), "wall_s": wall,
                               "torch_imported": "TORCH True" in r.stderr}
    return out


CAF_MODES = ("plain", "folded", "folded+tiled", "folded+channels_last")


def caf_worker(mode: str, h: int, w: int) -> dict:
    "One CAF forward at h×w in this (fresh) process: CPU time, peak RSS above the post-import/model baseline."
    import torch
    torch.set_num_threads(1)
    from fusion_papers import caf, nets
    torch.manual_seed(0)
    try:
        net = caf.load_caf_net("det")
        src = "caf_det.pth"
    except (FileNotFoundError, ValueError):
        net, src = caf.CAFNet().eval(), "random init (no caf_det.pth)"
    ir, vis = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    fast = nets.inference_model(net)
    if mode == "folded+channels_last":
        del fast
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c0 = time.process_time()
    if mode == "plain":
        with torch.no_grad():
            y = net.eval()(ir, vis)
    elif mode == "folded":
        with torch.inference_mode():
            y = fast(ir, vis)
    elif mode == "folded+tiled":
        with torch.inference_mode():
            y = nets.tiled_forward(fast, ir, vis, tile=256, halo=8)
    else:                                          # oneDNN's channels-last kernels
        fast = nets.inference_model(net, channels_last=True)
        with torch.inference_mode():
            y = fast(ir.to(memory_format=torch.channels_last), vis.to(memory_format=torch.channels_last)).contiguous()
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.save(y, os.environ["CAF_OUT"])
    return {"mode": mode, "cpu_s": cpu, "peak_above_baseline_mb": peak - base_rss, "baseline_mb": base_rss, "weights": src}


def _matmul_gmacs() -> float:
    import torch
    torch.set_num_threads(1)
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    torch.mm(a, b)
    c0 = time.process_time(); n = 0
    while time.process_time() - c0 < 1.0:
        torch.mm(a, b); n += 1
    return n * 1024 ** 3 / (time.process_time() - c0) / 1e9


def bench_caf(h: int, w: int) -> dict:
    import tempfile
    import torch
    from fusion_papers import caf
    net = caf.CAFNet().eval()
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad():    # MACs at 1/4 size, ×16 (fully convolutional)
        net(torch.rand(1, 1, h // 4, w // 4), torch.rand(1, 1, h // 4, w // 4))
    gmac = fc.get_total_flops() / 2 * 16 / 1e9
    out, ys = {"size": f"{w}x{h}", "gmac": gmac, "matmul_gmacs": _matmul_gmacs()}, {}
    with tempfile.TemporaryDirectory() as d:
        for mode in CAF_MODES:
            env = dict(os.environ, CAF_OUT=str(Path(d) / f"{mode}.pt"))
            r = subprocess.run([sys.executable, __file__, "--caf-worker", mode, "--caf-size", f"{h}x{w}"],
                               capture_output=True, text=True, env=env)
            if r.returncode:
                out[mode] = {"error": r.stderr[-500:]}; continue
            out[mode] = json.loads(r.stdout.strip().splitlines()[-1])
            out[mode]["gmacs"] = gmac / out[mode]["cpu_s"]
            ys[mode] = torch.load(env["CAF_OUT"])
    for mode in CAF_MODES[1:]:
        if mode in ys and "plain" in ys:
            out[mode]["max_abs_diff_vs_plain"] = float((ys[mode] - ys["plain"]).abs().max())
            out[mode]["speedup_vs_plain"] = out["plain"]["cpu_s"] / out[mode]["cpu_s"]
    return out


def print_folder(fo: dict) -> None:
    print("\n## folder evaluation (VIFB fused images, fast metrics; each run a fresh process: imports and kernel loading included)")
    if "skipped" in fo or "error" in fo:
        print(fo.get("skipped") or fo["error"]); return
    w = fo["cores"]
    print(f"| images | 1 process: wall s | CPU s | {w} processes: wall s | CPU s (all processes) | speed-up (wall) | identical | target |")
    print("|---|---|---|---|---|---|---|---|")
    for n, r in fo["runs"].items():
        a, b = r["workers1"], r[f"workers{w}"]
        print(f"| {n} | {a['wall_s']:.1f} | {a['cpu_s']:.1f} | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | "
              f"{r['speedup_wall']:.2f}× | {r['identical']} | ≥ 1.7× on 2 cores |")
    print(f"load average {fo['load_avg_before']:.1f} before, {fo['load_avg_after']:.1f} after "
          f"({'no idle core: the scaling is not measured cleanly' if fo['load_avg_before'] > 1 else 'machine idle'})")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pairs", type=int, default=84, help="VIFB fused images for the large folder run (all 84: 21 pairs × 4 methods)")
    p.add_argument("--folder-only", action="store_true", help="only the folder section")
    p.add_argument("--folder-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--skip-fmi", action="store_true", help="leave the five FMI variants out of the full suite")
    p.add_argument("--json", default=None, help="also write every figure here")
    p.add_argument("--caf-size", default="768x1024", help="CAF input H×W (default 768x1024)")
    p.add_argument("--skip-caf", action="store_true")
    p.add_argument("--caf-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--against", default=PREV_REV, help="git revision whose metrics.py is timed in the same run ('' to skip)")
    p.add_argument("--metrics-only", action="store_true", help="only the metric sections")
    p.add_argument("--torch", action="store_true", help="also time the torch metrics (metrics_torch) on the CPU")
    args = p.parse_args()
    h, w = (int(v) for v in args.caf_size.split("x"))
    if args.caf_worker:
        print(json.dumps(caf_worker(args.caf_worker, h, w)))
        return
    if args.folder_worker:
        n, nw = (int(v) for v in args.folder_worker.split(":"))
        print(json.dumps(folder_worker(n, nw)))
        return
    if args.folder_only:
        fo = bench_folder(args.pairs)
        print_folder(fo)
        if args.json:
            Path(args.json).write_text(json.dumps({"folder": fo}, indent=1))
        return
    base = json.loads((HERE / "perf_baseline.json").read_text())
    res = {"machine": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]},
           "metrics": bench_metrics(args.repeats, args.skip_fmi)}
    res["against"] = bench_against(args.against, args.repeats, args.skip_fmi) if args.against else None
    if not args.metrics_only:
        res.update(cli=bench_cli(), folder=bench_folder(args.pairs), caf=None if args.skip_caf else bench_caf(h, w))
    m = res["metrics"]
    print(f"# fusion_papers performance (issue #15) — {m['pair']}; {os.cpu_count()} CPUs, load average "
          f"{res['machine']['load_avg_1min']:.1f}; process CPU time, best of {args.repeats}\n")
    print("## metric suites (CPU ms)")
    print("| workload | now | plain path (no sharing) | ratio | previous release | ratio | target |")
    print("|---|---|---|---|---|---|---|")
    print(f"| 12-metric cddfuse suite | {m['suite12_cpu_ms']:.1f} | {m['suite12_plain_cpu_ms']:.1f} | "
          f"{m['suite12_plain_cpu_ms'] / m['suite12_cpu_ms']:.2f}× | {base['suite12_cpu_ms']:.1f} | "
          f"{base['suite12_cpu_ms'] / m['suite12_cpu_ms']:.2f}× | ≤ 65 |")
    prev_full = sum(base["per_metric_cpu_ms"][k] for k in m["full_metrics"])
    fp, fn = m["full_plain_cpu_ms"], m["full_cpu_ms"]
    fp_s, fr_s = ("–", "–") if fp is None else (f"{fp:.1f}", f"{fp / fn:.2f}×")
    print(f"| all {len(m['full_metrics'])} metrics | {fn:.1f} | {fp_s} | {fr_s} | {prev_full:.1f} (sum of single calls) | "
          f"{prev_full / fn:.2f}× | ≤ 1000 (25 metrics) |")
    print("\n| metric | now (alone) | previous release | ratio |\n|---|---|---|---|")
    for k, v in m["per_metric_cpu_ms"].items():
        b = base["per_metric_cpu_ms"].get(k)
        print(f"| {k} | {v:.1f} | {b:.1f} | {b / v:.2f}× |" if b else f"| {k} | {v:.1f} | – | – |")
    if m.get("fmi"):
        print("\n## FMI: compiled window kernel (numba) vs the numpy path of the same formulas (CPU ms)")
        print("| variant | numpy | kernel | speed-up | |Δ value| |\n|---|---|---|---|---|")
        for k, v in m["fmi"].items():
            if isinstance(v, dict):
                print(f"| {k} | {v['numpy_cpu_ms']:.0f} | {v['kernel_cpu_ms']:.0f} | {v['speedup']:.1f}× | {v['abs_diff']:.1e} |")
        print(f"kernel import + first call in a fresh process (cache on disk): {m['fmi']['kernel_first_call_fresh_process_cpu_s']:.2f} s CPU")
    if res["against"]:
        print_against(res["against"])
    if args.torch:
        t = res["torch"] = bench_torch(args.repeats)
        print("\n## 12-metric suite through the torch metrics (metrics_torch) on the CPU (CPU ms per pair)")
        print("| numpy path | torch float64 | torch float64, batch of 4 | torch float32 | max rel. diff (float64) |")
        print("|---|---|---|---|---|")
        print(f"| {t['numpy_cpu_ms']:.1f} | {t['torch_f64_cpu_ms']:.1f} | {t['torch_f64_batch4_cpu_ms_per_pair']:.1f} | "
              f"{t['torch_f32_cpu_ms']:.1f} | {t['max_rel_diff_f64']:.1e} |")
    if args.metrics_only:
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))
        return
    print("\n## command line start-up (fresh interpreter)")
    print("| command | CPU s | wall s | torch imported | target |\n|---|---|---|---|---|")
    for k, v in res["cli"].items():
        print(f"| fusion-papers {k} | {v['cpu_s']:.2f} | {v['wall_s']:.2f} | {v['torch_imported']} | < 0.5 s, no torch |")
    print_folder(res["folder"])
    c = res["caf"]
    if c:
        print(f"\n## CAF fusion inference, {c['size']}, one core ({c['gmac']:.1f} GMAC; same-run fp32 matmul "
              f"{c['matmul_gmacs']:.1f} GMAC/s)")
        print("| path | CPU s | GMAC/s | speed-up vs plain | peak RSS above baseline MB | max |Δ| vs plain |\n|---|---|---|---|---|---|")
        for mode in CAF_MODES:
            r = c.get(mode, {})
            if "error" in r or not r:
                print(f"| {mode} | error | | | | |"); continue
            print(f"| {mode} | {r['cpu_s']:.2f} | {r['gmacs']:.1f} | {r.get('speedup_vs_plain', 1.0):.2f}× | "
                  f"{r['peak_above_baseline_mb']:.0f} | {r.get('max_abs_diff_vs_plain', 0.0):.1e} |")
        print("targets: ≥ 1.3× the plain forward, ≤ 300 MB above the baseline, outputs equal to 1e-5 "
              "(tiled: 256 px tiles, 8 px halo; channels-last is used by `peers.accelerate` only if it is faster here: it is not used now)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
