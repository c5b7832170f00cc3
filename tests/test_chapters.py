"""Every chapter that exists runs end to end with its smoke defaults (papermill), and a second execution of the
executed copy with the same seed, in a fresh `out_dir` (so no cached result can make it pass), reproduces its
checked outputs exactly (nbval, cells marked NBVAL_CHECK_OUTPUT, at least the chapter's summary table). These are the
only two executions of a chapter in CI (tools/test.sh keeps the chapters out of nbdev-test). Both run in batch mode
(`FUSION_PAPERS_BATCH=1`: no live widgets) with a per-cell timeout that names the cell, inside an overall timeout, so a
hung kernel fails in minutes."""
import os
import subprocess
import sys
import time

import nbformat
import pytest

from fusion_papers.cli import CHAPTERS

CELL_TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_CELL_TIMEOUT", 600))     # one cell; the smoke chapter takes <= 3 min in all
OVERALL_TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_CHAPTER_TIMEOUT", 1800))  # one execution of one chapter


def fresh_out_dir(executed, out_dir):
    "Point the papermill-injected parameters of `executed` at `out_dir` (which must not exist yet); return it."
    nb = nbformat.read(executed, as_version=4)
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert cells, f"{executed}: papermill injected no parameters cell"
    lines = [ln for ln in cells[0].source.splitlines() if not ln.startswith("out_dir =")]
    cells[0].source = "\n".join(lines + [f"out_dir = {str(out_dir)!r}"])
    nbformat.write(nb, executed)
    assert not out_dir.exists()
    return out_dir


def test_fresh_out_dir_rewrites_the_injected_parameters(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"\nout_dir = "/old/results"', metadata={"tags": ["injected-parameters"]})]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    new = fresh_out_dir(path, tmp_path / "fresh")
    src = nbformat.read(path, as_version=4).cells[0].source
    assert new == tmp_path / "fresh" and "/old/results" not in src and f"out_dir = {str(new)!r}" in src


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
    # second execution, same seed, in a fresh out_dir: the checked outputs must be identical
    rerun_dir = fresh_out_dir(executed, tmp_path / "results_rerun")
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                        f"--nbval-cell-timeout={CELL_TIMEOUT_S}", "-q", str(executed)], cwd=root / "nbs", capture_output=True,
                       text=True, timeout=OVERALL_TIMEOUT_S, env={**os.environ, "FUSION_PAPERS_BATCH": "1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert rerun_dir.is_dir() and any(rerun_dir.iterdir()), f"the re-execution wrote nothing to {rerun_dir}: it reused cached results"
