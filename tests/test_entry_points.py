"""Fusion methods are found through the `fusion_papers.methods` entry points: no chapter needs importing first,
a broken entry point warns and never crashes `fuse --list`, and the shared 00* modules never import a chapter."""
import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ["core", "data", "metrics", "nets", "losses", "tasks", "hypergrad", "peers", "report", "distributed", "fmi_kernel", "metrics_torch"]


def py(code, env=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})})


def chapter_modules():
    "Package modules that are not shared 00* modules, cli or private (the chapters and their helpers)."
    return sorted(p.stem for p in (ROOT / "fusion_papers").glob("*.py")
                  if p.stem not in SHARED + ["cli", "__init__"] and not p.stem.startswith("_"))


def declared():
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("entry-points", {})
    return eps.get("fusion_papers.methods", {})


def test_every_registering_module_has_an_entry_point():
    "A module that calls peers.register_method at import must be declared, or `get` cannot find its methods."
    values = set(declared().values())
    for m in chapter_modules():
        src = (ROOT / "fusion_papers" / f"{m}.py").read_text()
        if "register_method(" in src:
            assert f"fusion_papers.{m}" in values, f"fusion_papers.{m} registers methods but is not in pyproject's fusion_papers.methods"
    assert declared().get("caf") == "fusion_papers.caf"


def imported_package_modules(tree) -> set[str]:
    "Names X of `fusion_papers.X` modules (or names) imported anywhere in a module, relative imports included."
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("fusion_papers.")}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level or mod == "fusion_papers" or mod.startswith("fusion_papers."):
                parts = mod.split(".")[1:] if mod.startswith("fusion_papers") else mod.split(".")
                out |= {parts[0]} if parts and parts[0] else {a.name for a in node.names}
    return out


def test_shared_modules_import_no_chapter():
    chapters = set(chapter_modules())
    assert "caf" in chapters and "peers" not in chapters
    for m in SHARED:
        f = ROOT / "fusion_papers" / f"{m}.py"
        if f.exists():
            bad = imported_package_modules(ast.parse(f.read_text())) & chapters
            assert not bad, f"{m}.py imports chapter module(s) {sorted(bad)}"
    assert imported_package_modules(ast.parse("from . import caf\nimport fusion_papers.tim_nets")) == {"caf", "tim_nets"}


def test_caf_found_without_importing_the_chapter():
    r = py("import sys; from fusion_papers import peers\n"
           "assert 'fusion_papers.caf' not in sys.modules\n"
           "names = peers.method_names()\n"
           "assert 'caf-det' in names and 'caf-seg' in names, names\n"
           "print('ok')")
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr + "\n(after an entry point changes: pip install --no-deps -e /work/main)"


def test_get_imports_entry_points_on_demand():
    from fusion_papers import core
    if not core.has_fixtures("weights"):
        pytest.skip("weights not available")
    r = py("import sys, numpy as np; from fusion_papers import peers\n"
           "f = peers.get('caf-det')\n"
           "assert 'fusion_papers.caf' in sys.modules\n"
           "print(f(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32)).shape)")
    assert r.returncode == 0 and "(8, 8)" in r.stdout, r.stderr


def test_broken_entry_point_warns_and_list_still_works(tmp_path, bindir):
    (tmp_path / "fp_demo_plugin.py").write_text(
        "from fusion_papers import peers\n"
        "peers.register_method('demo-max', peers._classical(peers.fuse_max), 'entry-point demo')\n")
    info = tmp_path / "fp_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fp-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[fusion_papers.methods]\ndemo = fp_demo_plugin\nbroken = fp_no_such_module\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    exe = bindir / "fusion-papers"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())"]
    r = subprocess.run(cmd + ["fuse", "--list"], capture_output=True, text=True, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    assert "demo-max" in r.stdout and "fp_no_such_module" in r.stderr and "Traceback" not in r.stderr
    r = py("from fusion_papers import peers; import numpy as np\n"
           "print(peers.get('demo-max')(np.zeros((4, 4), np.float32), np.ones((4, 4), np.float32)).max())", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "1.0", r.stderr
