"""`fusion-papers data list|check|synth`: the registry listing, and `data check` on correct copies and on
deliberately broken copies built in a temp dir (synthetic, and a symlinked M3FD fixture copy)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusion_papers import core, data
from fusion_papers.cli import main

FIXTURE_SETS = ["tno", "roadscene", "m3fd", "msrs", "vifb"]


def run(capsys, *argv):
    rc = main(["data", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_shows_every_dataset(capsys):
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    for name in data.DATASETS:
        assert name in out
    assert "smoke numbers" in out


def test_list_one_dataset_details(capsys):
    rc, out, _ = run(capsys, "list", "m3fd")
    assert rc == 0
    assert "'People', 'Car', 'Bus', 'Lamp', 'Motorcycle', 'Truck'" in out      # TarDAL/YOLO order
    assert "packaged split bdl_test: 600 entries" in out and "Ir/ + Vis/" in out


def test_unknown_dataset_is_a_user_error(capsys, tmp_path):
    rc, _, err = run(capsys, "check", "kaist", str(tmp_path))
    assert rc == 1 and "unknown dataset 'kaist'" in err


def test_missing_root(capsys, tmp_path):
    rc, out, _ = run(capsys, "check", "tno", str(tmp_path / "nope"))
    assert rc == 1 and "does not exist" in out


def test_wrong_layout_names_expected_folders(capsys, tmp_path):
    (tmp_path / "images").mkdir()
    rc, out, _ = run(capsys, "check", "m3fd", str(tmp_path))
    assert rc == 1 and "no known layout" in out and "Ir/ + Vis/" in out


@pytest.fixture
def synth(tmp_path):
    return data.make_synthetic_dataset(tmp_path / "synth", n=8, seed=3, splits={"train": 6, "val": 2})


def test_synth_command_and_check_ok(capsys, tmp_path):
    rc, out, _ = run(capsys, "synth", str(tmp_path / "s"), "-n", "6", "--size", "96", "64")
    assert rc == 0 and "smoke data" in out
    rc, out, _ = run(capsys, "check", "synthetic", str(tmp_path / "s"))
    assert rc == 0, out
    assert "OK: 6 pairs, 0 problem(s)" in out and "checksums: " in out
    assert data.load_gray(tmp_path / "s" / "ir" / "synth_0000.png").shape == (64, 96)


def test_check_broken_synthetic_copy_names_every_fault(capsys, synth):
    (synth / "vi" / "synth_0001.png").unlink()
    b = (synth / "ir" / "synth_0002.png").read_bytes()
    (synth / "ir" / "synth_0002.png").write_bytes(b[: len(b) // 3])
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(synth / "vi" / "synth_0003.png")
    (synth / "labels" / "yolo" / "synth_0004.txt").write_text("0 0.5 0.5 0.1\n")
    (synth / "labels" / "yolo" / "orphan.txt").write_text("")
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(synth / "masks" / "synth_0006.png")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(synth / "ir" / "synth_0007.png")   # RGBA with real alpha 0
    rc, out, _ = run(capsys, "check", "synthetic", str(synth))
    assert rc == 1
    expected = [
        "synth_0001.png: IR image has no visible partner",
        "ir/synth_0002.png: corrupt or truncated",
        "size mismatch: ", "vi/synth_0003.png is 80x64",
        "synth_0004.txt:1: expected 5 fields",
        "orphan.txt: label file has no image pair",
        "masks/synth_0006.png: mask is 80x64 but the images are 160x128",
        "ir/synth_0007.png: unsupported channel count 4",
        "synth_0002.png: checksum mismatch",
    ]
    for frag in expected:
        assert frag in out, f"{frag!r} not in\n{out}"
    assert out.count("PROBLEM:") >= len(expected) - 1


def _link_copy(src: Path, dst: Path):
    "A copy of a fixture folder made of symlinks (files that a test breaks are replaced by real files)."
    for f in src.rglob("*"):
        if f.is_file():
            t = dst / f.relative_to(src)
            t.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, t)


@pytest.mark.parametrize("name", FIXTURE_SETS + ["medical"])
def test_check_passes_on_fixture_copies(capsys, name):
    if not core.has_fixtures(name):
        pytest.skip(f"fixture {name} absent")
    rc, out, _ = run(capsys, "check", name, str(core.fixtures_root() / name))
    assert rc == 0, out
    assert "PROBLEM" not in out and "checksums: " in out


def test_check_broken_m3fd_copy(capsys, tmp_path):
    if not core.has_fixtures("m3fd"):
        pytest.skip("fixture m3fd absent")
    src, dst = core.fixture("m3fd"), tmp_path / "m3fd"
    _link_copy(src, dst)
    (dst / "ir" / "00512.png").unlink()                                       # unpaired visible
    b = (src / "vi" / "01670.png").read_bytes()
    (dst / "vi" / "01670.png").unlink(); (dst / "vi" / "01670.png").write_bytes(b[: len(b) // 2])   # truncated
    (dst / "labels" / "yolo" / "02523.txt").unlink()
    (dst / "labels" / "yolo" / "02523.txt").write_text((src / "labels" / "yolo" / "02523.txt").read_text() + "9 0.5 0.5 0.1 0.1\n")
    (dst / "labels" / "yolo" / "classes.txt").unlink()
    (dst / "labels" / "yolo" / "classes.txt").write_text("Car\nPeople\nBus\nLamp\nMotorcycle\nTruck\n")   # wrong order
    (dst / "labels" / "yolo" / "03878.txt").unlink()
    img = np.asarray(Image.open(src / "ir" / "00471.png"))[:700]
    (dst / "ir" / "00471.png").unlink(); Image.fromarray(img).save(dst / "ir" / "00471.png")        # 1024x700
    rc, out, _ = run(capsys, "check", "m3fd", str(dst))
    assert rc == 1
    for frag in ["vi/00512.png: visible image has no IR partner",
                 "vi/01670.png: corrupt or truncated",
                 "02523.txt:", "invalid box or class id",
                 "classes.txt: class list ['Car', 'People'",
                 "03878.txt: label file missing",
                 "ir/00471.png is 1024x700 but", "ir/00471.png: size 1024x700, expected 1024x768",
                 "vi/01670.png: checksum mismatch", "02523.txt: checksum mismatch"]:
        assert frag in out, f"{frag!r} not in\n{out}"


def test_console_entry_point_exit_code(tmp_path):
    root = data.make_synthetic_dataset(tmp_path / "s", n=2)
    (root / "vi" / "synth_0000.png").unlink()
    code = "import sys; from fusion_papers.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", code, "data", "check", "synthetic", str(root)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1 and "synth_0000.png: IR image has no visible partner" in p.stdout


def test_registry_files_ship_as_package_data():
    "Every packaged split/checksum file exists and matches the package-data globs in pyproject.toml (so wheels carry it)."
    import fnmatch
    import tomllib
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["fusion_papers"]
    reg = Path(data.__file__).parent / "registry"
    files = [f for s in data.DATASETS.values() for f in [*s.splits.values(), *([s.checksums] if s.checksums else [])]]
    assert files
    for f in files:
        assert (reg / f).is_file(), f
        assert any(fnmatch.fnmatch(f"registry/{f}", g) for g in globs), f"registry/{f} is not package data: {globs}"
