"""The documentation renders offline (nbdev-proc-nbs + smalldocs) and every sidebar page opens in headless
Chromium with its images loaded and its internal links resolving."""
import shutil
import subprocess
import sys


def test_docs_render_and_browser_check(root):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (tools/setup_env.sh installs Debian's chromium)"
    r = subprocess.run(["bash", "tools/build_docs.sh"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([sys.executable, "tools/check_docs.py", "_docs", "--sidebar", "nbs/sidebar.yml", "--chromium", chromium],
                       cwd=root, capture_output=True, text=True)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
