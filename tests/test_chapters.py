"""Every chapter that exists runs end to end with its smoke defaults (papermill), and a second execution of the
executed copy with the same seed reproduces its checked outputs exactly (nbval, cells marked NBVAL_CHECK_OUTPUT,
at least the chapter's summary table). These are the only two executions of a chapter in CI (tools/test.sh keeps the
chapters out of nbdev-test). Both run in batch mode (`FUSION_PAPERS_BATCH=1`: no live widgets) with a per-cell timeout
that names the cell, inside an overall timeout, so a hung kernel fails in minutes."""
import os
import subprocess
import sys
import time

import nbformat
import pytest

from fusion_papers.cli import CHAPTERS

CELL_TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_CELL_TIMEOUT", 600))     # one cell; the smoke chapter takes <= 3 min in all
OVERALL_TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_CHAPTER_TIMEOUT", 1200))  # one execution of one chapter


@pytest.mark.parametrize("paper", list(CHAPTERS))
def test_chapter_smoke_run_and_determinism(paper, root, tmp_path):
    src = root / "nbs" / CHAPTERS[paper]
    if not src.exists():
        pytest.skip(f"chapter {paper} ({CHAPTERS[paper]}) is not written yet")
    import papermill as pm
    nb = nbformat.read(src, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert any("parameters" in t for t in tags), f"{src.name}: no cell tagged 'parameters' (papermill needs it)"
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in nb.cells), f"{src.name}: no cell marked NBVAL_CHECK_OUTPUT"
    executed = tmp_path / src.name
    t0 = time.perf_counter()
    code = (f"from fusion_papers import core; core.execute_notebook({str(src)!r}, {str(executed)!r}, "
            f"{{'out_dir': {str(tmp_path / 'results')!r}}}, cwd={str(root / 'nbs')!r}, cell_timeout={CELL_TIMEOUT_S})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=OVERALL_TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    dt = time.perf_counter() - t0
    print(f"{src.name}: smoke run {dt:.0f} s")
    # second execution, same seed: the checked outputs must be identical
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                        f"--nbval-cell-timeout={CELL_TIMEOUT_S}", "-q", str(executed)], cwd=root / "nbs", capture_output=True,
                       text=True, timeout=OVERALL_TIMEOUT_S, env={**os.environ, "FUSION_PAPERS_BATCH": "1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
