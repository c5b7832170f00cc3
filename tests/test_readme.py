"""README is generated from nbs/index.ipynb, and states the test command that .ci/run runs."""
import subprocess
import sys


def test_readme_in_sync_with_index(root):
    r = subprocess.run([sys.executable, "tools/make_readme.py", "--check"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ci_runs_readme_test_command(root):
    readme = (root / "README.md").read_text()
    assert "bash tools/test.sh" in readme and "bash tools/run_smoke.sh" in readme
    assert "tools/test.sh" in (root / ".ci" / "run").read_text()
