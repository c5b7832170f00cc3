#!/usr/bin/env python
"""Post-process the rendered docs so they read offline and show figures legibly.

Usage: python tools/docs_post.py _docs --katex DIR   (DIR: the `dist/` folder of the npm package `katex`)

* KaTeX ships with the site: DIR's katex.min.css / katex.min.js / contrib/auto-render.min.js / fonts/ are
  copied to `_docs/site_libs/katex/`, and every page's reference to the KaTeX CDN is rewritten to that copy
  (maths then renders with or without network).
* Figures saved by `report.savefig` (`<figure class="fp-figure" data-full="NAME.png" data-src="REL">` with the
  preview inline) are written to `_docs/figures/<page>/NAME.png`: the full-resolution file `REL` (relative to the
  notebooks folder, `--nbs`) when the run's outputs are present at build time, else the inline image; the page's
  image points at that file and links to it.
* Stylesheets do not pull web fonts from a CDN (the theme's `@import url(https://fonts.googleapis.com/…)` is
  dropped; the system sans-serif font is used), so a page makes no request outside the site.
Prints what it did; exits 1 when a page still references a CDN for KaTeX or the KaTeX files are missing.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/katex@[0-9.]+/dist")
FIG = re.compile(r'<figure class="fp-figure" data-full="(?P<name>[^"]+)"(?P<attrs>[^>]*)>\s*'
                 r'<img src="data:image/png;base64,(?P<b64>[A-Za-z0-9+/=\s]+)"(?P<rest>[^>]*)>', re.S)
KATEX_FILES = ("katex.min.css", "katex.min.js", "contrib/auto-render.min.js")


def copy_katex(site: Path, dist: Path) -> Path:
    missing = [f for f in KATEX_FILES if not (dist / f).exists()] + ([] if (dist / "fonts").is_dir() else ["fonts/"])
    if missing:
        raise FileNotFoundError(f"{dist}: not a KaTeX dist folder (missing {', '.join(missing)}); npm install katex")
    dest = site / "site_libs" / "katex"
    if dest.exists():
        shutil.rmtree(dest)
    for f in KATEX_FILES:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(dist / f, dest / f)
    shutil.copytree(dist / "fonts", dest / "fonts")
    return dest


CSS_IMPORT = re.compile(r"@import\s+url\(\s*['\"]?https?://[^)]*\)\s*;?")


def strip_remote_css(site: Path) -> int:
    "Drop `@import url(https://…)` from the site's stylesheets; return how many were dropped."
    n = 0
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        new, k = CSS_IMPORT.subn("", text)
        if k:
            css.write_text(new, encoding="utf-8")
            n += k
    return n


SRC = re.compile(r'data-src="([^"]+)"')


def rewrite_page(page: Path, site: Path, nbs: Path | None = None) -> tuple[int, int]:
    "Point KaTeX at the bundled copy and move inline savefig figures to files; return (katex refs, figures)."
    text = page.read_text(encoding="utf-8")
    rel = os.path.relpath(site / "site_libs" / "katex", page.parent).replace(os.sep, "/")
    text, n_k = CDN.subn(rel, text)
    n_f = 0

    def fig(m):
        nonlocal n_f
        data = base64.b64decode(re.sub(r"\s", "", m["b64"]))
        src = SRC.search(m["attrs"])
        full = (nbs / src[1]) if (nbs is not None and src) else None
        if full is not None and full.is_file() and full.suffix.lower() == ".png":
            data = full.read_bytes()              # the run's full-resolution file (the notebook inlines the preview)
        name = Path(m["name"]).name
        # one folder per page; a repeated name in a page gets a content suffix instead of overwriting
        out = site / "figures" / page.stem / name
        if out.exists() and out.read_bytes() != data:
            out = out.with_name(f"{out.stem}-{hashlib.sha256(data).hexdigest()[:8]}{out.suffix}")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        href = os.path.relpath(out, page.parent).replace(os.sep, "/")
        n_f += 1
        return (f'<figure class="fp-figure" data-full="{m["name"]}"{m["attrs"]}>'
                f'<a href="{href}" title="full resolution">'
                f'<img src="{href}"{m["rest"]}></a>')

    text = FIG.sub(fig, text)
    page.write_text(text, encoding="utf-8")
    return n_k, n_f


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("site", nargs="?", default="_docs")
    ap.add_argument("--katex", required=True, help="the dist/ folder of the npm package katex")
    ap.add_argument("--nbs", default="nbs", help="the notebooks folder (figures' data-src paths are relative to it)")
    a = ap.parse_args(argv)
    site = Path(a.site)
    copy_katex(site, Path(a.katex))
    n_css = strip_remote_css(site)
    pages = sorted(site.rglob("*.html"))
    nk = nf = 0
    for p in pages:
        k, f = rewrite_page(p, site, Path(a.nbs))
        nk, nf = nk + k, nf + f
    left = [str(p.relative_to(site)) for p in pages if CDN.search(p.read_text(encoding="utf-8"))]
    print(f"docs_post: KaTeX bundled ({nk} references rewritten), {nf} figure(s) written to {site}/figures/, "
          f"{n_css} remote CSS import(s) dropped")
    if left:
        print("docs_post: pages still loading KaTeX from a CDN: " + ", ".join(left))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
