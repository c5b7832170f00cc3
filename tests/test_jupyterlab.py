"""Chapter 2 in JupyterLab, as users open it (issue #18): JupyterLab starts headless on a free port with a token, Chromium
opens a copy of nbs/02_caf.ipynb, runs the cells the explorer needs (imports, parameters, the library cells, settings) and
the explorer cell through JupyterLab's own run command, and checks that the ipywidgets explorer renders (pair picker,
15 β sliders, the loss readout) and that dragging a β slider changes the loss readout. Every wait is bounded by one
overall deadline, so a hang fails with a message naming the step instead of blocking CI."""
import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from fusion_papers import core

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "nbs" / "02_caf.ipynb"
OVERALL_S = int(os.environ.get("FUSION_PAPERS_LAB_TIMEOUT", 600))   # the whole test, server start to slider check
N_SLIDERS = 15                                                       # one per CAF loss term (caf.CAF_TERMS)


def _only_imports(src: str) -> bool:
    try:
        body = ast.parse(src).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body)


def explorer_cells(nb) -> tuple[list[int], int]:
    "Indices of the cells the explorer needs (imports, parameters, exported library cells, the settings cell) and of the explorer cell."
    need, explorer = [], None
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        src = c.source
        first = src.lstrip().splitlines()[0] if src.strip() else ""
        if "#| label: fig-caf-explorer" in src:
            explorer = i
            break
        if ("parameters" in c.metadata.get("tags", []) or first.startswith("#| export") or "OUT = Path(out_dir)" in src
                or _only_imports("\n".join(l for l in src.splitlines() if not l.startswith("#|")))):
            need.append(i)
    assert explorer is not None, f"{NB}: no cell labelled fig-caf-explorer"
    return need, explorer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"overall timeout of {OVERALL_S} s reached (FUSION_PAPERS_LAB_TIMEOUT)")
        return left if cap is None else min(cap, left)

    def ms(self, cap: float | None = None) -> float:
        return 1000 * self.left(cap)


_RUN_CELL = """([i]) => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  window.__fp = window.__fp || {};
  window.__fp[i] = 'running';
  panel.content.activeCellIndex = i;
  app.commands.execute('notebook:run-cell').then(ok => { window.__fp[i] = ok ? 'ok' : 'failed'; },
                                                 e => { window.__fp[i] = 'error: ' + e; });
}"""
_CELL_ERROR = """([i]) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
  const errs = cell.model.outputs.toJSON().filter(o => o.output_type === 'error');
  return errs.map(o => o.ename + ': ' + o.evalue).join('; ') || '(no error output)';
}"""
_KERNEL_READY = """() => {
  const p = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle' && p.content && p.content.widgets.length > 0);
}"""


def _lab_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (core.BATCH_ENV, "MPLBACKEND")}   # a person's kernel: interactive
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    for var, sub in (("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                     ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTERLAB_SETTINGS_DIR", "settings")):
        env[var] = str(work / ".jupyter" / sub)
    # every cell in the DOM (no virtual scrolling), so the explorer's output can be located
    s = work / ".jupyter" / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    s.parent.mkdir(parents=True, exist_ok=True)
    s.write_text(json.dumps({"windowingMode": "none"}))
    return env


@pytest.mark.slow
def test_explorer_in_jupyterlab(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (tools/setup_env.sh installs Debian's chromium)"
    try:
        import jupyterlab  # noqa: F401
        import jupyterlab_widgets  # noqa: F401
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.fail(f"{e.name} is not installed: pip install -r requirements.lock (the 'notebooks' extra brings jupyterlab)")
    if not (core.has_fixtures("m3fd") and core.has_fixtures("weights", "caf_det.pth")):
        if os.environ.get("FUSION_PAPERS_REQUIRE_DATA") == "1":
            pytest.fail("the explorer needs the fixtures (m3fd + weights/caf_det.pth) under FUSION_PAPERS_DATA")
        pytest.skip("the explorer needs the fixtures (m3fd + weights/caf_det.pth)")
    deadline = Deadline(OVERALL_S)
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(NB, work / NB.name)             # a copy: running cells in the browser never touches the source notebook
    need, explorer = explorer_cells(nbformat.read(NB, as_version=4))
    port, token = _free_port(), secrets.token_hex(16)
    log = open(work / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),   # CI containers run as root
        cwd=work, env=_lab_env(work), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    step = "starting JupyterLab"

    def server_log() -> str:
        log.flush()
        return (work / "jupyterlab.log").read_text(errors="replace")[-3000:]

    try:
        base = f"http://127.0.0.1:{port}"
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode} before serving:\n{server_log()}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if deadline.left() < OVERALL_S - 180:
                pytest.fail(f"JupyterLab did not answer on port {port} within 180 s:\n{server_log()}")
            time.sleep(1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                               "--disable-component-update", "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                console = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
                step = "opening 02_caf.ipynb in JupyterLab"
                page.goto(f"{base}/lab/tree/{NB.name}?token={token}", timeout=deadline.ms(180))
                step = "waiting for the notebook's kernel"
                page.wait_for_function(_KERNEL_READY, timeout=deadline.ms(240))
                for i in need + [explorer]:
                    step = f"running cell {i} ({nbformat.read(NB, as_version=4).cells[i].source.splitlines()[0][:60]!r})"
                    page.evaluate(_RUN_CELL, [i])
                    page.wait_for_function(f"() => window.__fp && window.__fp[{i}] !== 'running'", timeout=deadline.ms())
                    state = page.evaluate(f"() => window.__fp[{i}]")
                    assert state == "ok", f"{step} failed in JupyterLab: {page.evaluate(_CELL_ERROR, [i])}"
                step = "waiting for the explorer widget to render"
                page.evaluate("([i]) => { const c = window.jupyterapp.shell.currentWidget.content.widgets[i];"
                              " c.node.setAttribute('data-fp-explorer', '1'); c.node.scrollIntoView(); }", [explorer])
                cell = page.locator("[data-fp-explorer='1']")
                sliders = cell.locator(".widget-slider")
                sliders.nth(N_SLIDERS - 1).wait_for(state="visible", timeout=deadline.ms(180))
                assert sliders.count() == N_SLIDERS, f"the explorer shows {sliders.count()} β sliders, expected {N_SLIDERS}"
                assert cell.locator(".widget-dropdown select").count() == 1, "no pair picker in the explorer"
                readout = cell.locator(".widget-html-content", has_text="largest weights")
                readout.wait_for(state="visible", timeout=deadline.ms(180))
                cell.locator(".widget-output img").first.wait_for(state="visible", timeout=deadline.ms(180))
                before = readout.inner_text()
                m0 = re.search(r"=\s*(-?\d+\.\d+)", before)
                assert m0, f"the loss readout shows no value: {before!r}"
                step = "dragging the first β slider"
                first = sliders.first
                value_before = first.locator(".widget-readout").inner_text()
                handle = first.locator(".noUi-handle")
                box = handle.bounding_box()
                assert box, "the β slider's handle is not visible"
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] / 2 + 70, box["y"] + box["height"] / 2, steps=8)
                page.mouse.up()
                step = "waiting for the loss readout to change"
                page.wait_for_function("([sel, old]) => { const e = document.querySelectorAll(sel); "
                                       "return [...e].some(x => x.innerText.includes('largest weights') && x.innerText !== old); }",
                                       arg=["[data-fp-explorer='1'] .widget-html-content", before], timeout=deadline.ms(120))
                after = readout.inner_text()
                m1 = re.search(r"=\s*(-?\d+\.\d+)", after)
                value_after = first.locator(".widget-readout").inner_text()
                assert value_after != value_before, f"the slider did not move ({value_before} → {value_after})"
                assert m1 and float(m1.group(1)) != float(m0.group(1)), \
                    f"moving β ({value_before} → {value_after}) did not change the loss: {before!r} → {after!r}"
                print(f"explorer in JupyterLab: slider {value_before} → {value_after}, loss {m0.group(1)} → {m1.group(1)}; "
                      f"{OVERALL_S - deadline.left():.0f} s")
            except Exception as e:
                if isinstance(e, AssertionError):
                    raise
                shot = work / "failure.png"
                try:
                    page.screenshot(path=str(shot))
                except Exception:
                    pass
                pytest.fail(f"JupyterLab explorer check failed while {step}: {type(e).__name__}: {str(e)[:800]}\n"
                            f"browser errors: {console[-5:]}\nscreenshot: {shot}\nserver log:\n{server_log()}")
            finally:
                browser.close()
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
