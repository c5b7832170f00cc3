"""tools/check_fresh.py lists a chapter whose code changed after its outputs were made, and passes a fresh one."""
import json
import subprocess
import sys

from fusion_papers import report


def _chapter(path, stamp):
    outs = [] if stamp is None else [{"output_type": "execute_result", "metadata": {}, "execution_count": 1,
                                      "data": {"text/plain": repr(stamp)}}]
    cells = [{"cell_type": "code", "metadata": {}, "source": "y = 3", "outputs": []},
             {"cell_type": "code", "metadata": {}, "source": "report.output_stamp('fusion_papers.core', notebook=...)", "outputs": outs}]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def _check(root, *paths):
    return subprocess.run([sys.executable, "tools/check_fresh.py", *map(str, paths)], cwd=root, capture_output=True, text=True)


def test_check_fresh_flags_stale_and_unstamped(root, tmp_path):
    nb = tmp_path / "09_x.ipynb"
    _chapter(nb, None)
    r = _check(root, nb)
    assert r.returncode == 1 and "STALE 09_x.ipynb" in r.stdout and "no output stamp" in r.stdout
    _chapter(nb, report.output_stamp("fusion_papers.core", notebook=nb))
    r = _check(root, nb)
    assert r.returncode == 0 and "fresh 09_x.ipynb" in r.stdout, r.stdout + r.stderr
    stamp = report.read_stamp(nb)
    stamp["code"]["fusion_papers.core"] = "0" * 16          # outputs made by other code than today's core.py
    _chapter(nb, report.OutputStamp(stamp))
    r = _check(root, nb)
    assert r.returncode == 1 and "fusion_papers.core changed since its outputs were made" in r.stdout


def test_test_command_runs_the_freshness_check_as_a_warning(root):
    sh = (root / "tools" / "test.sh").read_text()
    assert "tools/check_fresh.py" in sh and "check_fresh.py || " in sh
