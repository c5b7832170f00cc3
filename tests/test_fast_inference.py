"""The fast inference path of `peers.get` (issue #15): BatchNorm folded (and tiles on request) only where the output
equals the plain forward to 1e-5; `fusion-papers fuse --no-fast` gives the plain path; folder fusion (which reads the
next pair while fusing the current one) writes every pair, identical to fusing the pairs one by one."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fusion_papers import core, data, peers

NETWORKS = ["tardal", "seafusion", "reconet", "didfuse", "ifcnn", "caf-det"]


def _get(name, **kw):
    try:
        return peers.get(name, **kw)
    except FileNotFoundError as e:
        pytest.skip(f"no official weights for {name}: {e}")


@pytest.mark.parametrize("name", NETWORKS)
def test_fast_equals_plain(name):
    ir, vis = peers.probe_pair(72, 120)
    ir, vis = ir[::-1].copy(), vis[:, ::-1].copy()           # not the probe itself
    plain, fast, tiled = _get(name, fast=False), _get(name), _get(name, tile=40, halo=32)
    cl = _get(name, channels_last=True)
    assert (cl.fast["folded"] and cl.fast["channels_last"]) or "plain forward kept" in cl.fast["reason"], cl.fast   # TarDAL: 1.3e-5, refused
    assert fast.fast["folded"], fast.fast                  # every network here folds (TarDAL: nothing to fold, same output)
    ref = plain(ir, vis)
    for f in (fast, tiled, cl):
        assert np.abs(f(ir, vis) - ref).max() <= 1e-5, (name, f.fast)
    if name == "tardal":                                   # per-image BN statistics: tiles change them, so refused
        assert not tiled.fast["tiled"] and "plain forward kept" in tiled.fast["reason"]


def test_cli_fast_and_plain_folders_agree(tmp_path):
    if not core.has_fixtures("roadscene") or not core.has_fixtures("weights"):
        pytest.skip("fixtures not available")
    (tmp_path / "ir").mkdir(); (tmp_path / "vi").mkdir()
    for p in sorted((core.fixture("roadscene") / "ir").iterdir())[:3]:
        ir = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE); vi = cv2.imread(str(core.fixture("roadscene", "vi", p.name)), cv2.IMREAD_COLOR)
        cv2.imwrite(str(tmp_path / "ir" / f"{p.stem}.png"), cv2.resize(ir, (96, 64), interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(tmp_path / "vi" / f"{p.stem}.png"), cv2.resize(vi, (96, 64), interpolation=cv2.INTER_AREA))
    cmd = [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())", "fuse", "-m", "seafusion",
           "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vi"), "-q"]
    for flags, out in (([], "fast"), (["--no-fast"], "plain")):
        r = subprocess.run(cmd + ["-o", str(tmp_path / out)] + flags, capture_output=True, text=True, env=os.environ)
        assert r.returncode == 0, r.stderr
    stems = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == stems
    one = peers.get("seafusion", fast=False)
    for s in stems:
        a = cv2.imread(str(tmp_path / "fast" / s)).astype(int); b = cv2.imread(str(tmp_path / "plain" / s)).astype(int)
        assert np.abs(a - b).max() <= 1                    # 8-bit outputs of values equal to 1e-5
        pair = data.load_pair(tmp_path / "ir" / s, tmp_path / "vi" / s)   # the plain path, pair by pair, no prefetch
        ref = np.round(np.clip(one(pair.ir, pair.vis), 0, 1) * 255)
        assert np.abs(cv2.cvtColor(b.astype(np.uint8), cv2.COLOR_BGR2RGB).astype(int) - ref).max() <= 1
