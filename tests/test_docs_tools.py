"""The docs tools on small constructed sites: `tools/docs_post.py` bundles KaTeX and turns savefig figures into
linked full-resolution files; `tools/check_docs.py` fails on raw TeX, on any request leaving the site, on a
figure narrower than 900 px, and passes the same page once it is fixed."""
import base64
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SIDEBAR = "website:\n  sidebar:\n    contents:\n      - index.ipynb\n"


def _katex_dist(root) -> Path:
    import os
    d = Path(os.environ.get("FUSION_PAPERS_KATEX") or root / ".docs_vendor" / "node_modules" / "katex" / "dist")
    if not (d / "katex.min.js").exists():
        r = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--silent", "--prefix",
                            str(root / ".docs_vendor"), "katex@0.16.11"], capture_output=True, text=True)
        assert r.returncode == 0 and (d / "katex.min.js").exists(), "KaTeX (npm package katex) is needed: " + r.stderr[-500:]
    return d


def _png(width: int) -> str:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (width, 200), "white").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _site(tmp_path, body: str, head: str = "") -> Path:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>")
    (tmp_path / "sidebar.yml").write_text(SIDEBAR)
    return site


def _check(root, tmp_path, site):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (tools/setup_env.sh installs Debian's chromium)"
    return subprocess.run([sys.executable, "tools/check_docs.py", str(site), "--sidebar", str(tmp_path / "sidebar.yml"),
                           "--chromium", chromium], cwd=root, capture_output=True, text=True)


def _post(root, site):
    return subprocess.run([sys.executable, "tools/docs_post.py", str(site), "--katex", str(_katex_dist(root))],
                          cwd=root, capture_output=True, text=True)


CDN = "https://cdn.jsdelivr.net/npm/katex@0.16.11/dist"
MATH_HEAD = (f'<link rel="stylesheet" href="{CDN}/katex.min.css"><script defer src="{CDN}/katex.min.js"></script>'
             f'<script defer src="{CDN}/contrib/auto-render.min.js" onload="renderMathInElement(document.body)"></script>')


def test_raw_tex_patterns(root):
    sys.path.insert(0, str(root / "tools"))
    from check_docs import raw_tex
    assert raw_tex(r"the map \(\mathcal F(\cdot;\omega_f)\) here") and raw_tex("$$x^2$$") and raw_tex(r"a $\alpha$ b")
    assert raw_tex("costs $5 and $6, 3 < 4") == [] and raw_tex("plain text") == []


def test_maths_renders_offline_only_with_bundled_katex(root, tmp_path):
    site = _site(tmp_path, r"<p>The loss \(\mathcal L_f(\omega;\beta)\) and \[x^2\]</p>", MATH_HEAD)
    r = _check(root, tmp_path, site)          # KaTeX from the CDN: the request is refused offline, TeX stays raw
    assert r.returncode == 1 and "request failed https://cdn.jsdelivr.net" in r.stdout and "raw TeX" in r.stdout, r.stdout
    r = _post(root, site)
    assert r.returncode == 0, r.stdout + r.stderr
    html = (site / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and 'href="site_libs/katex/katex.min.css"' in html
    assert (site / "site_libs" / "katex" / "fonts").is_dir()
    r = _check(root, tmp_path, site)
    assert r.returncode == 0, r.stdout + r.stderr


def test_figures_are_files_linked_at_full_resolution_and_wide_enough(root, tmp_path):
    def fig(w, name):
        return (f'<figure class="fp-figure" data-full="{name}" style="margin:0"><img src="data:image/png;base64,{_png(w)}" '
                f'width="{min(w, 1000)}" alt="x" style="max-width:none"><figcaption>x</figcaption></figure>')
    site = _site(tmp_path, fig(1500, "big.png"))
    assert _post(root, site).returncode == 0
    html = (site / "index.html").read_text()
    assert "data:image/png" not in html and '<a href="figures/index/big.png"' in html
    from PIL import Image
    assert Image.open(site / "figures" / "index" / "big.png").size == (1500, 200)     # the full-resolution file ships
    r = _check(root, tmp_path, site)
    assert r.returncode == 0 and "1 savefig figures" in r.stdout, r.stdout + r.stderr
    site = _site(tmp_path, fig(600, "small.png"))
    assert _post(root, site).returncode == 0
    r = _check(root, tmp_path, site)
    assert r.returncode == 1 and "figure small.png shown 600 px wide" in r.stdout, r.stdout


def test_notebooks_stay_small(root):
    "The whole nbs/ folder (what git tracks there: notebooks with their saved outputs) stays under 15 MB."
    files = subprocess.run(["git", "ls-files", "nbs"], cwd=root, capture_output=True, text=True).stdout.split()
    total = sum((root / f).stat().st_size for f in files if (root / f).is_file())
    assert files and total < 15 * 2**20, f"nbs/ holds {total / 2**20:.1f} MB (limit 15 MB): shrink the saved outputs"


def test_figure_ships_the_runs_full_resolution_file_when_present(root, tmp_path):
    "The notebook inlines the preview; docs_post ships the full-resolution file named by data-src when it exists."
    from PIL import Image
    nbs = tmp_path / "nbs"
    (nbs / "_out").mkdir(parents=True)
    Image.new("RGB", (1800, 300), "white").save(nbs / "_out" / "f.png")
    body = (f'<figure class="fp-figure" data-full="f.png" data-src="_out/f.png" style="margin:0"><img src="data:image/png;'
            f'base64,{_png(1000)}" width="1000" alt="x" style="max-width:none"><figcaption>x</figcaption></figure>')
    site = _site(tmp_path, body)
    r = subprocess.run([sys.executable, "tools/docs_post.py", str(site), "--katex", str(_katex_dist(root)), "--nbs", str(nbs)],
                       cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert Image.open(site / "figures" / "index" / "f.png").size == (1800, 300)       # the full file, not the preview
    (tmp_path / "b").mkdir()
    site2 = _site(tmp_path / "b", body.replace("_out/f.png", "_out/missing.png"))
    assert _post(root, site2).returncode == 0
    assert Image.open(site2 / "figures" / "index" / "f.png").size == (1000, 200)     # no run outputs: the preview ships
