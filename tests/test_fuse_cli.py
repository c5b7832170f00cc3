"""The `fusion-papers fuse` command: listing, single pairs, folders matched by stem, clear errors."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusion_papers import core, peers

PEERS = ["tardal", "seafusion", "reconet", "didfuse", "ifcnn"]
CLASSICAL = ["average", "max", "vsm", "laplacian", "dwt", "gff"]


def run(bindir, *args, env=None):
    exe = bindir / "fusion-papers"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def small_pairs(tmp_path_factory):
    "Two downscaled RoadScene pairs (gray IR, colour VIS) and one TNO pair (gray/gray) in ir/ and vi/ folders."
    if not core.has_fixtures("roadscene") or not core.has_fixtures("tno"):
        pytest.skip("fixtures not available")
    d = tmp_path_factory.mktemp("pairs")
    (d / "ir").mkdir(); (d / "vi").mkdir()
    rs = sorted((core.fixture("roadscene") / "ir").iterdir())[:2]
    for p in rs:
        ir = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(str(core.fixture("roadscene", "vi", p.name)), cv2.IMREAD_COLOR)
        cv2.imwrite(str(d / "ir" / f"{p.stem}.png"), cv2.resize(ir, (96, 64), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(d / "vi" / f"{p.stem}.png"), cv2.resize(vi, (96, 64), interpolation=cv2.INTER_AREA))
    for sub in ("ir", "vi"):
        img = cv2.imread(str(core.fixture("tno", sub, "05.png")), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(d / sub / "tno05.png"), cv2.resize(img, (96, 72), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(d / "vi" / "unmatched.png"), np.zeros((8, 8), np.uint8))
    return d


def test_list_shows_methods_and_provenance(bindir):
    r = run(bindir, "fuse", "--list")
    assert r.returncode == 0, r.stderr
    for name in PEERS + CLASSICAL:
        assert name in r.stdout
    assert peers.WEIGHT_FILES["seafusion"].sha256 in r.stdout
    assert "VIF-Benchmark" in r.stdout


@pytest.mark.parametrize("method", PEERS + CLASSICAL)
def test_fuse_folder_by_stem(bindir, small_pairs, tmp_path, method):
    if method in PEERS and not core.has_fixtures("weights"):
        pytest.skip("weights not available")
    out = tmp_path / "out"
    # an image without a partner is an error that names it, and nothing is written
    r = run(bindir, "fuse", "--method", method, "--ir", str(small_pairs / "ir"), "--vis", str(small_pairs / "vi"),
            "-o", str(out))
    assert r.returncode == 1 and "unmatched" in r.stderr and not out.exists()
    vi = tmp_path / "vi"
    shutil.copytree(small_pairs / "vi", vi)
    (vi / "unmatched.png").unlink()
    r = run(bindir, "fuse", "--method", method, "--ir", str(small_pairs / "ir"), "--vis", str(vi), "-o", str(out))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and "unmatched.png" not in names
    tno = cv2.imread(str(out / "tno05.png"), cv2.IMREAD_UNCHANGED)
    rs = cv2.imread(str(out / names[0]), cv2.IMREAD_UNCHANGED)
    assert tno.shape == (72, 96) and rs.shape == (64, 96, 3)  # gray in -> gray out, colour in -> colour out
    assert tno.std() > 5  # not a blank image


def test_fuse_single_pair_matches_library(bindir, small_pairs, tmp_path):
    if not core.has_fixtures("weights"):
        pytest.skip("weights not available")
    out = tmp_path / "f.png"
    r = run(bindir, "fuse", "--method", "seafusion", "--ir", str(small_pairs / "ir" / "tno05.png"),
            "--vis", str(small_pairs / "vi" / "tno05.png"), "-o", str(out), "--weights", str(core.fixture("weights")))
    assert r.returncode == 0, r.stderr
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED).astype(int)
    ir = cv2.imread(str(small_pairs / "ir" / "tno05.png"), cv2.IMREAD_GRAYSCALE) / np.float32(255)
    vi = cv2.imread(str(small_pairs / "vi" / "tno05.png"), cv2.IMREAD_GRAYSCALE) / np.float32(255)
    ref = np.rint(peers.get("seafusion")(ir.astype(np.float32), vi.astype(np.float32)) * 255).astype(int)
    assert np.abs(got - ref).max() <= 1


def test_errors_are_clear(bindir, small_pairs, tmp_path):
    r = run(bindir, "fuse", "--method", "nope", "--ir", str(small_pairs / "ir"), "--vis", str(small_pairs / "vi"),
            "-o", str(tmp_path / "o"))
    assert r.returncode == 1 and "unknown fusion method" in r.stderr and "tardal" in r.stderr
    r = run(bindir, "fuse", "--method", "max")
    assert r.returncode == 1 and "--ir" in r.stderr
    empty = tmp_path / "empty"; empty.mkdir()
    r = run(bindir, "fuse", "--method", "tardal", "--ir", str(small_pairs / "ir" / "tno05.png"),
            "--vis", str(small_pairs / "vi" / "tno05.png"), "-o", str(tmp_path / "t.png"),
            env={"FUSION_PAPERS_DATA": str(empty), "FUSION_PAPERS_WEIGHTS": str(empty)})
    assert r.returncode == 1 and "tardal.pt" in r.stderr and "FUSION_PAPERS_WEIGHTS" in r.stderr
    bad = tmp_path / "bad"; bad.mkdir(); (bad / "tardal.pt").write_bytes(b"x")
    r = run(bindir, "fuse", "--method", "tardal", "--weights", str(bad / "tardal.pt"),
            "--ir", str(small_pairs / "ir" / "tno05.png"), "--vis", str(small_pairs / "vi" / "tno05.png"),
            "-o", str(tmp_path / "t.png"))
    assert r.returncode == 1 and "SHA-256" in r.stderr
