"""`fusion-papers fuse --method tim|tim-light|tim-mri-pet` on folders, with checkpoints written in the official
format (random weights: the authors' files are not available offline) — checks the CLI wiring, strict loading
from a folder in the authors' layout and from comma-separated files, padding of sizes that are not multiples
of 4 (output = input size), and that a missing checkpoint is a clear error naming the method."""
import subprocess

import cv2
import numpy as np
import pytest
import torch

from fusion_papers import core


def run(bindir, *args, **kw):
    return subprocess.run([str(bindir / "fusion-papers"), *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from fusion_papers import tim_nets
    d = tmp_path_factory.mktemp("tim_weights")
    torch.manual_seed(0)
    for m in ("tim", "tim-light", "tim-mri-pet"):
        cfg = tim_nets.TIM_CONFIGS[m]
        for f, net in zip(cfg.files, tim_nets.build_tim(m)):
            tim_nets.save_official(net, d / cfg.subdir / f)
    return d


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    "Two small pairs, 50×70 and 48×64 (the first not a multiple of 4), colour visible."
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("pairs")
    (d / "ir").mkdir(); (d / "vi").mkdir()
    for stem, (h, w) in (("a", (50, 70)), ("b", (48, 64))):
        cv2.imwrite(str(d / "ir" / f"{stem}.png"), rng.integers(0, 256, (h, w), dtype=np.uint8))
        cv2.imwrite(str(d / "vi" / f"{stem}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return d


@pytest.mark.parametrize("method,compat", [("tim", False), ("tim", True), ("tim-light", False), ("tim-mri-pet", False)])
def test_fuse_folders(bindir, weights, pairs, tmp_path, method, compat):
    out = tmp_path / "out"
    args = ["fuse", "--method", method, "--weights", str(weights), "--ir", str(pairs / "ir"), "--vis", str(pairs / "vi"),
            "-o", str(out)] + (["--official-compat"] if compat else [])
    r = run(bindir, *args)
    assert r.returncode == 0, r.stdout + r.stderr
    for stem, shape in (("a", (50, 70, 3)), ("b", (48, 64, 3))):
        img = cv2.imread(str(out / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape == shape, (stem, None if img is None else img.shape)


def test_comma_separated_files(bindir, weights, pairs, tmp_path):
    files = ",".join(str(weights / "IVIF" / f) for f in ("weights_1_1059.pt", "weights_2_1059.pt"))
    r = run(bindir, "fuse", "--method", "tim", "--weights", files, "--ir", str(pairs / "ir" / "b.png"),
            "--vis", str(pairs / "vi" / "b.png"), "-o", str(tmp_path / "b.png"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert cv2.imread(str(tmp_path / "b.png")).shape == (48, 64, 3)


def test_missing_weights_is_a_clear_error(bindir, pairs, tmp_path):
    r = run(bindir, "fuse", "--method", "tim-mri-ct", "--weights", str(tmp_path), "--ir", str(pairs / "ir" / "b.png"),
            "--vis", str(pairs / "vi" / "b.png"), "-o", str(tmp_path / "x.png"))
    assert r.returncode != 0 and "tim-mri-ct" in r.stderr and "Google Drive" in r.stderr
