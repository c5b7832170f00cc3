#!/usr/bin/env python
r"""Open every page of the rendered docs in headless Chromium and fail on broken pages, images, links, maths or figures.

Usage: python tools/check_docs.py [_docs] [--sidebar nbs/sidebar.yml] [--chromium /usr/bin/chromium]

Checks, for every page listed in the sidebar (plus the index):
  * the page exists and is served with HTTP 200;
  * every <img> on it finished loading with a non-zero natural size;
  * every internal link (same site) resolves to an existing file (anchors ignored);
  * every request the page made (its own files and any other host) completed and was answered below 400 —
    the check runs offline, so a page that loads KaTeX or anything else from a CDN fails here;
  * no raw TeX delimiter is left in the page's text (`\(`, `\)`, `\[`, `\]`, `$$`, or `$…\cmd…$`) outside
    code blocks: the maths was rendered (KaTeX's hidden MathML copy is ignored);
  * every figure saved by `report.savefig` (`figure.fp-figure`) is shown at least 900 px wide, its file is at
    least 900 px wide, and it links to its full-resolution PNG, which exists in the site.
Prints one line per page and a summary; exits 1 on any problem.
"""
from __future__ import annotations

import argparse
import re
import functools
import http.server
import socketserver
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse, unquote

import yaml


def sidebar_pages(sidebar: Path) -> list[str]:
    "Source files named in sidebar.yml, in order (folders/sections flattened)."
    data = yaml.safe_load(sidebar.read_text())
    out: list[str] = []

    def walk(items):
        for it in items or []:
            if isinstance(it, str):
                out.append(it)
            elif isinstance(it, dict):
                if "href" in it:
                    out.append(it["href"])
                walk(it.get("contents"))
    walk(data["website"]["sidebar"]["contents"])
    return out


def html_name(src: str) -> str:
    p = Path(src)
    return str(p.with_suffix(".html")) if p.suffix in {".ipynb", ".qmd", ".md"} else src


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def serve(root: Path):
    handler = functools.partial(_Quiet, directory=str(root))
    srv = socketserver.TCPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


_IMG_JS = """() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}))"""
_LINK_JS = """() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"""
# the page's visible text without code blocks and without KaTeX's hidden MathML (which holds the TeX source)
_TEXT_JS = """() => { const b = document.body.cloneNode(true);
  b.querySelectorAll('pre, code, script, style, .katex-mathml, annotation').forEach(e => e.remove());
  return b.textContent; }"""
_FIG_JS = """() => Array.from(document.querySelectorAll('figure.fp-figure')).map(f => { const i = f.querySelector('img');
  const a = f.querySelector('a[href]');
  let shown = 0;
  if (i) { const r = i.getBoundingClientRect(); let left = r.left, right = r.right;
    for (let e = i.parentElement; e; e = e.parentElement) {   // what an ancestor that clips its overflow hides is not shown
      const s = getComputedStyle(e);
      if (s.overflowX !== 'visible') { const c = e.getBoundingClientRect(); left = Math.max(left, c.left); right = Math.min(right, c.right); } }
    shown = Math.max(0, right - left); }
  return {name: f.dataset.full, shown: shown, natural: i ? i.naturalWidth : 0,
          href: a ? a.href : null}; })"""
MIN_FIGURE_PX = 900
_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$")


def _offline_only(base: str):
    "A route handler that lets requests for the site itself through and aborts every other one."
    def handle(route):
        if route.request.url.startswith((base, "data:")):
            route.continue_()
        else:
            route.abort("blockedbyclient")
    return handle


def raw_tex(text: str) -> list[str]:
    "Raw TeX left in a page's text (up to 3 snippets)."
    out = []
    for m in _TEX.finditer(text):
        out.append(text[max(0, m.start() - 20): m.end() + 20].replace("\n", " "))
        if len(out) == 3:
            break
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("site", nargs="?", default="_docs")
    ap.add_argument("--sidebar", default="nbs/sidebar.yml")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args(argv)
    site, sidebar = Path(a.site), Path(a.sidebar)
    if not site.is_dir():
        print(f"check_docs: {site} is not a folder (render the docs first)")
        return 1
    pages = ["index.html"] + [html_name(s) for s in sidebar_pages(sidebar) if html_name(s) != "index.html"]
    from playwright.sync_api import sync_playwright

    srv, base = serve(site)
    problems: list[str] = []
    checked_imgs = checked_links = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=a.chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                               "--disable-component-update", "--disable-sync", "--no-first-run"])
            for name in pages:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                # the docs must read offline: a request that leaves the site is aborted (and so reported as failed)
                page.route("**/*", _offline_only(base))
                bad_requests: list[str] = []
                page.on("response", lambda r, bad=bad_requests: bad.append(f"{r.status} {r.url}")
                        if r.status >= 400 else None)
                page.on("requestfailed", lambda r, bad=bad_requests: bad.append(
                    f"failed {r.url} ({r.failure})") if not r.url.startswith("data:") else None)
                url = urljoin(base, name)
                if not (site / name).exists():
                    problems.append(f"{name}: page missing (listed in {sidebar})")
                    print(f"MISSING {name}")
                    page.close()
                    continue
                resp = page.goto(url, wait_until="load")
                if resp is None or resp.status != 200:
                    problems.append(f"{name}: HTTP {None if resp is None else resp.status}")
                page.wait_for_timeout(100)
                imgs = page.evaluate(_IMG_JS)
                links = page.evaluate(_LINK_JS)
                page_problems = [f"{name}: image did not load: {i['src'][:120]}" for i in imgs if not i["ok"]]
                page_problems += [f"{name}: raw TeX in the page text: …{t}…" for t in raw_tex(page.evaluate(_TEXT_JS))]
                figs = page.evaluate(_FIG_JS)
                for f in figs:
                    if f["shown"] < MIN_FIGURE_PX or f["natural"] < MIN_FIGURE_PX:
                        page_problems.append(f"{name}: figure {f['name']} shown {f['shown']:.0f} px wide "
                                             f"(file {f['natural']} px); at least {MIN_FIGURE_PX} px")
                    full = site / unquote(urlparse(f["href"]).path[len(urlparse(base).path):]) if f["href"] else None
                    if full is None or not full.is_file():
                        page_problems.append(f"{name}: figure {f['name']} does not link to its full-resolution PNG in the site")
                for href in links:
                    u = urlparse(href)
                    if not href.startswith(base):
                        continue
                    target = site / unquote(u.path[len(urlparse(base).path):] or "index.html")
                    if target.is_dir():
                        target = target / "index.html"
                    if not target.exists():
                        page_problems.append(f"{name}: broken internal link {href}")
                page_problems += [f"{name}: request {b}" for b in bad_requests]
                page.close()
                checked_imgs += len(imgs)
                checked_links += len(links)
                print(f"{'OK ' if not page_problems else 'BAD'} {name}: {len(imgs)} images, {len(figs)} savefig figures, {len(links)} links")
                problems += page_problems
            browser.close()
    finally:
        srv.shutdown()
    print(f"checked {len(pages)} pages, {checked_imgs} images, {checked_links} links; {len(problems)} problem(s)")
    for p in problems:
        print("  -", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
