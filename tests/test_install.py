"""Install check: build the wheel, install it in a fresh virtualenv, import it and run the console script.

The fresh venv gets the already-installed dependencies through a .pth file pointing at the project venv's
site-packages (re-downloading torch for every test run would dominate CI time); the wheel itself is
installed with --no-deps, so what is checked is the wheel's own content, metadata and entry point."""
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import fusion_papers


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, root):
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(root)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("fusion_papers-*.whl")
    return whl


def test_wheel_content(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "fusion_papers/__init__.py" in names and "fusion_papers/cli.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    # no shared fixtures, weights or images are ever packaged
    bad = [n for n in names if n.lower().endswith((".png", ".jpg", ".bmp", ".tif", ".pth", ".pt", ".pkl", ".ckpt"))]
    assert not bad, f"fixture-like files in the wheel: {bad}"
    # transcribed paper numbers ship as package data once they exist in the tree
    src = Path(fusion_papers.__file__).parent / "paper_numbers"
    for y in src.glob("*.yaml") if src.exists() else []:
        assert f"fusion_papers/paper_numbers/{y.name}" in names


def test_wheel_installs_in_fresh_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # dependencies from the project venv, appended after the fresh venv's own site-packages
    deps = [p for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])]
    Path(site, "zz_project_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(py), "-c", "import fusion_papers, sys; print(fusion_papers.__version__, fusion_papers.__file__)"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    version, path = r.stdout.split()
    assert version == fusion_papers.__version__ and str(env_dir) in path, "imported from the checkout, not the wheel"
    exe = env_dir / "bin" / "fusion-papers"
    for args in (["--version"], ["--help"]):
        r = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    assert "reproduce" in r.stdout
