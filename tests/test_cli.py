"""The `fusion-papers` command: help, version, and the reproduce machinery (on a tiny stand-in chapter)."""
import json
import re
import subprocess
import sys

import nbformat
import pytest

import fusion_papers
from fusion_papers.cli import main, CHAPTERS


def run(bindir, *args, **kw):
    return subprocess.run([str(bindir / "fusion-papers"), *args], capture_output=True, text=True, **kw)


def test_help_and_version(bindir):
    r = run(bindir, "--help")
    assert r.returncode == 0
    listed = set(re.findall(r"^\s{2,}([a-z]+)\s", r.stdout, re.M))  # argparse lists subcommands indented
    for sub in ("reproduce", "data", "metrics", "fuse"):
        assert sub in listed, f"subcommand {sub} missing from --help: {sorted(listed)}"
    r = run(bindir, "--version")
    assert r.returncode == 0 and fusion_papers.__version__ in r.stdout


def test_no_command_prints_help(bindir):
    r = run(bindir)
    assert r.returncode == 2 and "reproduce" in r.stdout


def _fake_chapter(path):
    "A two-cell chapter with a papermill parameters cell that writes a table and a figure under out_dir."
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile = "smoke"\ndevice = "auto"\nseed = 0\nout_dir = "results/fake"\ndata_root = None')
    p.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "from pathlib import Path\nimport json\nd = Path(out_dir); d.mkdir(parents=True, exist_ok=True)\n"
        "(d / 'table1.csv').write_text(f'profile,seed\\n{profile},{seed}\\n')\n"
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
        "from fusion_papers.report import savefig\n"
        "fig = plt.figure(); plt.plot([0, 1]); savefig(fig, d / 'fig1.png', {'profile': profile, 'seed': seed})\n"
        "(d / 'data').mkdir(); plt.imsave(d / 'data' / 'train_0001.png', [[0, 1], [1, 0]])  # a dataset image, not a figure\n")
    nb.cells = [p, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_reproduce_runs_chapter_and_lists_outputs(tmp_path, bindir):
    nbs = tmp_path / "nbs"; nbs.mkdir()
    _fake_chapter(nbs / CHAPTERS["caf"])
    out = tmp_path / "out"
    r = run(bindir, "reproduce", "--paper", "all", "--profile", "smoke", "--out", str(out), "--nbs", str(nbs),
            "--no-progress", "--seed", "7")
    assert r.returncode == 0, r.stderr
    # the chapters that do not exist are listed, not silently skipped
    assert "not written yet" in r.stdout and "bilevel" in r.stdout and "tim" in r.stdout
    assert (out / "caf" / "02_caf.ipynb").exists()
    assert (out / "caf" / "results" / "table1.csv").read_text().splitlines()[1] == "smoke,7"
    assert "figure: " in r.stdout and "fig1.png" in r.stdout
    assert "train_0001" not in r.stdout and "fig1.preview.png" not in r.stdout  # only stamped figures are listed
    summary = json.loads((out / "reproduce_summary.json").read_text())
    assert summary["papers"]["caf"]["figures"][0].endswith("fig1.png")


def test_reproduce_missing_chapter_is_an_error(tmp_path, bindir):
    nbs = tmp_path / "nbs"; nbs.mkdir()
    r = run(bindir, "reproduce", "--paper", "tim", "--out", str(tmp_path / "o"), "--nbs", str(nbs))
    assert r.returncode == 1 and "do not exist yet" in r.stderr


def test_reproduce_rejects_unknown_paper(bindir):
    r = run(bindir, "reproduce", "--paper", "nope")
    assert r.returncode == 2 and "invalid choice" in r.stderr
