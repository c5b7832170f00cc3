#!/usr/bin/env python
"""List the chapters whose saved outputs are older than their code.

Usage: python tools/check_fresh.py [nbs/02_caf.ipynb ...]   (default: every chapter of `fusion_papers.cli.CHAPTERS`)

A chapter stamps its outputs with `report.output_stamp(...)` (git sha, hashes of its modules and of its code
cells); this reads the stamp back (`report.stale_outputs`) and prints one line per chapter. Exit status 1 when a
chapter is stale or unstamped (the test command runs it as a warning and goes on).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))
    from fusion_papers import report
    if argv:
        paths = [Path(a) for a in argv]
    else:
        from fusion_papers.cli import CHAPTERS
        paths = [ROOT / "nbs" / f for f in CHAPTERS.values() if (ROOT / "nbs" / f).exists()]
    bad = 0
    for p in paths:
        why = report.stale_outputs(p)
        print(("STALE " if why else "fresh ") + p.name + "".join(f"\n  - {w}" for w in why))
        bad += bool(why)
    if bad:
        print(f"check_fresh: {bad} of {len(paths)} chapter(s) have outputs older than their code (or no stamp): "
              "re-execute them (papermill nbs/X.ipynb nbs/X.ipynb, then nbdev-clean)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
