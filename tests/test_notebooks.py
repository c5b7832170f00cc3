"""House rules on the notebooks that nbdev itself does not enforce (see tools/lint_nbs.py)."""
import subprocess
import sys


def test_notebook_lint(root):
    r = subprocess.run([sys.executable, "tools/lint_nbs.py"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_notebook_in_sidebar(root):
    import yaml
    side = (root / "nbs" / "sidebar.yml").read_text()
    missing = [p.name for p in (root / "nbs").glob("*.ipynb") if p.name not in side]
    assert not missing, f"notebooks not listed in nbs/sidebar.yml: {missing}"
