"""`fusion-papers fuse --method bdl` on folders: the clean default and `--official-compat` (the official saving path:
clamp, global min-max over the RGB image, truncation), a missing checkpoint named in the error."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch


def run(bindir, *args):
    exe = bindir / "fusion-papers"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=dict(os.environ))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from fusion_papers.bdl import FusionNetworkIJ
    d = tmp_path_factory.mktemp("bdl")
    (d / "ir").mkdir(); (d / "vi").mkdir()
    rng = np.random.default_rng(0)
    for s in ("a", "b"):
        cv2.imwrite(str(d / "ir" / f"{s}.png"), rng.integers(0, 256, (40, 56), dtype=np.uint8))
        cv2.imwrite(str(d / "vi" / f"{s}.png"), rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    torch.manual_seed(0)
    net = FusionNetworkIJ()
    torch.save({f"enhance_net.{k}": v for k, v in net.state_dict().items()}, d / "model_meta_50.pth")   # fusion-net keys, official names
    return d


def test_fuse_bdl_folders_clean_and_official(bindir, setup):
    d = setup
    r1 = run(bindir, "fuse", "--method", "bdl", "--weights", str(d / "model_meta_50.pth"), "--ir", str(d / "ir"),
             "--vis", str(d / "vi"), "-o", str(d / "clean"), "-q")
    r2 = run(bindir, "fuse", "--method", "bdl", "--weights", str(d / "model_meta_50.pth"), "--ir", str(d / "ir"),
             "--vis", str(d / "vi"), "-o", str(d / "official"), "--official-compat", "-q")
    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    for s in ("a", "b"):
        c = cv2.imread(str(d / "clean" / f"{s}.png"))
        o = cv2.imread(str(d / "official" / f"{s}.png"))
        assert c.shape == o.shape == (40, 56, 3)
        assert o.min() == 0 and o.max() == 255            # the official global min-max
        assert not np.array_equal(c, o)


def test_fuse_bdl_missing_weights(bindir, setup):
    r = run(bindir, "fuse", "--method", "bdl", "--weights", str(setup / "nope.pth"), "--ir", str(setup / "ir"),
            "--vis", str(setup / "vi"), "-o", str(setup / "x"))
    assert r.returncode == 1 and "nope.pth" in r.stderr and "BDLFusion" in r.stderr
