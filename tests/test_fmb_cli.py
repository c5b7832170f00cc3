"""`fusion-papers fmb` end to end on the synthetic FMB-format set: synth → stats (exact values) → check → leaderboard."""
import json
import subprocess
import sys


def _run(*args, cwd):
    r = subprocess.run([sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main(sys.argv[1:]))", *args],
                       cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def test_fmb_commands(tmp_path):
    from fusion_papers import fmb
    root = tmp_path / "fmb"
    _run("fmb", "synth", str(root), "--size", "64x48", cwd=tmp_path)
    out = _run("fmb", "stats", str(root), "--json", str(tmp_path / "stats.json"), cwd=tmp_path)
    exp = fmb.synthetic_fmb_expected((64, 48))
    st = json.loads((tmp_path / "stats.json").read_text())
    assert st["pixels"] == [int(v) for v in exp["pixels"]] and st["total_pixels"] == exp["total_pixels"]
    assert st["cooccurrence"] == exp["cooccurrence"].tolist() and st["absent"]["test"] == exp["absent_test"]
    assert "labelled fraction: 91.67 %" in out
    out = _run("fmb", "check", str(root), cwd=tmp_path)
    assert "only_ir: 1" in out and "images not 800x600: 12" in out and "bicycle" in out
    out = _run("fmb", "leaderboard", str(root), "--methods", "average,max", "-o", str(tmp_path / "board.csv"), cwd=tmp_path)
    assert (tmp_path / "board.csv").exists() and "mean rank" in out
