#!/usr/bin/env python
"""Print the rehearsal table of a chapter: per long stage, steps run, seconds per step on this CPU, peak resident memory,
FLOPs per step (measured) and the PROJECTED GPU-hours of the full paper run (paper steps × FLOPs/step ÷ the stated GPU
throughput `core.GPU_THROUGHPUT`; a projection, not a measurement).

    python benchmarks/rehearsal.py                      # the records committed as data (fusion_papers/rehearsal_records/)
    python benchmarks/rehearsal.py --record OUT/caf/results/rehearsal/record.json
    python benchmarks/rehearsal.py --run caf --data-root MOCK [--rehearse 1] [--update]
                                                        # rehearse now (fusion-papers reproduce --profile paper --rehearse N),
                                                        # print, and with --update commit the new record as data
MOCK holds one mock dataset per folder (`fusion-papers data mock NAME MOCK/NAME`)."""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from fusion_papers import core


def show(record, title: str) -> float:
    import pandas as pd
    df = core.rehearsal_table(record)
    thr = (record.get("gpu_throughput") or core.GPU_THROUGHPUT)["label"]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"== {title}")
        print(df[[c for c in ("stage", "steps", "s_per_step", "peak_rss_mb", "flops_per_step", "paper_steps", "projected_gpu_hours",
                              "paper_runs", "projected_gpu_hours_all_runs") if c in df]].to_string(index=False))
    total = float(df["projected_gpu_hours_all_runs"].sum())
    print(f"projected total for the paper run: {total:.2f} GPU-hours (PROJECTION: {thr})\n")
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="append", default=[], help="a record.json (or an out_dir) to show")
    ap.add_argument("--run", default=None, help="rehearse this chapter now (e.g. caf)")
    ap.add_argument("--data-root", default=None, help="mock data root for --run")
    ap.add_argument("--rehearse", type=int, default=1)
    ap.add_argument("--out", default=None, help="output folder of --run (default: a temporary folder)")
    ap.add_argument("--update", action="store_true", help="with --run: commit the new record as fusion_papers/rehearsal_records/<paper>.json")
    a = ap.parse_args(argv)
    if a.run:
        from fusion_papers.cli import reproduce
        if not a.data_root:
            ap.error("--run needs --data-root (a folder of mock datasets)")
        out = Path(a.out or tempfile.mkdtemp(prefix="rehearsal_"))
        reproduce(a.run, "paper", out, "cpu", a.data_root, rehearse=a.rehearse, progress=False)
        rec = core.record_path(out / a.run / "results")
        show(core.load_json(rec), f"{a.run}: rehearsal just run ({rec})")
        if a.update:
            dest = Path(core.__file__).resolve().parent / core.REHEARSAL_RECORDS / f"{a.run}.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rec, dest)
            print(f"committed record: {dest}")
        return 0
    if a.record:
        for r in a.record:
            p = Path(r)
            show(core.load_json(core.record_path(p) if p.is_dir() else p), str(p))
        return 0
    folder = Path(core.__file__).resolve().parent / core.REHEARSAL_RECORDS
    files = sorted(folder.glob("*.json"))
    if not files:
        print(f"no committed rehearsal records in {folder}", file=sys.stderr)
        return 1
    for f in files:
        show(core.load_json(f), f"{f.stem}: committed rehearsal record ({f.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
