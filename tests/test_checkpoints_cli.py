"""`fusion-papers fuse --weights FILE…`: official checkpoints load strictly for every method with an official network;
a file that is not a checkpoint, is truncated or belongs to another network is an error naming it (exit 1, no traceback)."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from fusion_papers import core, peers

OFFICIAL = {"tardal": ["tardal.pt"], "seafusion": ["SeAFusion.pth"], "reconet": ["reconet.pth"],
            "didfuse": ["didfuse_encoder.pkl", "didfuse_decoder.pkl"], "ifcnn": ["IFCNN-MAX.pth"],
            "caf-det": ["caf_det.pth"], "caf-seg": ["caf_seg.pth"]}


def run(bindir, *args, env=None):
    exe = bindir / "fusion-papers"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    rng = np.random.default_rng(0)
    cv2.imwrite(str(d / "ir.png"), rng.integers(0, 255, (24, 32), dtype=np.uint8))
    cv2.imwrite(str(d / "vi.png"), rng.integers(0, 255, (24, 32), dtype=np.uint8))
    return d


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def fuse(bindir, pair, out, method, *weights):
    "`fusion-papers fuse` in this process (cli.main: exit code, stderr); an escaping exception fails the test."
    import contextlib
    import io
    from fusion_papers import cli
    err, outb = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outb):
        rc = cli.main([str(a) for a in ["fuse", "--method", method, "--ir", pair / "ir.png", "--vis", pair / "vi.png",
                                        "-o", out, "--weights", *weights, "-q"]])
    return Result(rc, outb.getvalue(), err.getvalue())


def test_console_script_npy_is_an_error_not_a_traceback(bindir, pair, tmp_path):
    "The case of the issue: `fusion-papers fuse --method tardal --weights x.npy` ended in a torch traceback."
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(3))
    r = run(bindir, "fuse", "--method", "tardal", "--ir", pair / "ir.png", "--vis", pair / "vi.png", "-o", tmp_path / "o.png",
            "--weights", npy)
    assert r.returncode == 1 and "x.npy" in r.stderr and "not a PyTorch checkpoint" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("method", sorted(OFFICIAL))
def test_official_files_load_strictly(bindir, pair, tmp_path, method):
    if not core.has_fixtures("weights"):
        pytest.skip("weights not available")
    files = [core.fixture("weights", f) for f in OFFICIAL[method]]
    r = fuse(bindir, pair, tmp_path / "o.png", method, *files)
    assert r.returncode == 0, r.stderr
    assert cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED).shape == (24, 32)


@pytest.mark.parametrize("method", sorted(OFFICIAL))
def test_bad_files_name_the_file(bindir, pair, tmp_path, method):
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros(3))
    n = len(OFFICIAL[method])
    r = fuse(bindir, pair, tmp_path / "o.png", method, *([npy] * n))
    assert r.returncode == 1 and "x.npy" in r.stderr and "Traceback" not in r.stderr, r.stderr
    if core.has_fixtures("weights"):           # an official file cut in half: an error naming the copy
        src = core.fixture("weights", OFFICIAL[method][0])
        cut = tmp_path / f"cut_{src.name}"
        b = src.read_bytes()
        cut.write_bytes(b[: len(b) // 2])
        r = fuse(bindir, pair, tmp_path / "o.png", method, cut, *[core.fixture("weights", f) for f in OFFICIAL[method][1:]])
        assert r.returncode == 1 and cut.name in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_other_network_lists_differences(bindir, pair, tmp_path):
    other = tmp_path / "reconet_as_tardal.pt"
    torch.save(peers.ReCoNetFuser().state_dict(), other)
    r = fuse(bindir, pair, tmp_path / "o.png", "tardal", other)
    assert r.returncode == 1 and other.name in r.stderr and "missing in the checkpoint" in r.stderr
    assert "encoder.0.weight" in r.stderr and "att_a_conv.weight" in r.stderr and "Traceback" not in r.stderr
    whole = tmp_path / "whole.pt"
    torch.save(peers.TarDALGenerator(), whole)     # a pickled module is refused by default
    r = fuse(bindir, pair, tmp_path / "o.png", "tardal", whole)
    assert r.returncode == 1 and "whole.pt" in r.stderr and "pickled" in r.stderr
    r = fuse(bindir, pair, tmp_path / "o.png", "tardal", tmp_path / "absent.pt")
    assert r.returncode == 1 and "absent.pt" in r.stderr


def test_wrong_number_of_files(bindir, pair, tmp_path):
    if not core.has_fixtures("weights"):
        pytest.skip("weights not available")
    w = core.fixture("weights", "didfuse_encoder.pkl")
    r = fuse(bindir, pair, tmp_path / "o.png", "didfuse", w, w, w)
    assert r.returncode == 1 and "didfuse_encoder.pkl, didfuse_decoder.pkl" in r.stderr
