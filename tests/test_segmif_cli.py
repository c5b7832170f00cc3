"""`fusion-papers fuse --method segmif`: the two official files space-separated in any order (told apart by their keys,
the comma form still accepted), `--mask DIR` reaching the official path's Mask2 input, and clear errors naming the file."""
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from fusion_papers import peers, segmif


def _pairs(tmp_path, n=2, size=(48, 64)):
    rng = np.random.default_rng(0)
    d = {k: tmp_path / k for k in ("ir", "vis", "mask", "ones")}
    for p in d.values():
        p.mkdir()
    for i in range(n):
        Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(d["ir"] / f"{i:03d}.png")
        Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(d["vis"] / f"{i:03d}.png")
        Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(d["mask"] / f"{i:03d}.png")
    return d


def _nets():
    torch.manual_seed(0)
    return dict(net=segmif.SegMiFFusionNet(), seg=segmif.build_segmenter(9, variant="b1"))


def test_mask_dir_reaches_the_official_path(tmp_path):
    "Official mode: no mask = the IR image as Mask2 (same output as --mask pointing at the IR folder); another mask changes it."
    d = _pairs(tmp_path)
    kw = dict(official_compat=True, progress=False, **_nets())
    a = peers.fuse_files("segmif", d["ir"], d["vis"], tmp_path / "a", **kw)
    b = peers.fuse_files("segmif", d["ir"], d["vis"], tmp_path / "b", mask=d["ir"], **kw)
    c = peers.fuse_files("segmif", d["ir"], d["vis"], tmp_path / "c", mask=d["mask"], **kw)
    read = lambda p: np.asarray(Image.open(p), np.int32)
    assert all((read(x) == read(y)).all() for x, y in zip(a, b))
    assert any((read(x) != read(y)).any() for x, y in zip(a, c))


def test_mask_errors(tmp_path):
    d = _pairs(tmp_path)
    (d["mask"] / "001.png").unlink()
    with pytest.raises(FileNotFoundError, match="001"):
        peers.fuse_files("segmif", d["ir"], d["vis"], tmp_path / "o", mask=d["mask"], official_compat=True, progress=False, **_nets())
    with pytest.raises(ValueError, match="takes no mask"):
        peers.fuse_files("average", d["ir"], d["vis"], tmp_path / "o", mask=d["mask"], progress=False)


def _fake_files(tmp_path):
    "A real-layout fusion checkpoint (97 keys) and a one-key official segmenter file (enough to be told apart by keys)."
    fusion = tmp_path / "modelfusion-final2.pth"
    torch.save(segmif.SegMiFFusionNet().state_dict(), fusion)
    seg = tmp_path / "model-fusion_add_final2.pth"
    torch.save({"denoise_net.encoder.patch_embed1.proj.weight": torch.zeros(64, 3, 7, 7)}, seg)
    return fusion, seg


def test_weights_any_order_and_forms(tmp_path):
    fusion, seg = _fake_files(tmp_path)
    for w in ([seg, fusion], [fusion, seg], f"{seg},{fusion}", tmp_path):
        got = segmif.find_segmif_weights(w)
        assert got["paths"] == {"fusion": fusion, "segmenter": seg}
    with pytest.raises(ValueError, match="two fusion"):
        segmif.find_segmif_weights([fusion, fusion])


def test_cli_space_separated_weights_and_mask(tmp_path, bindir, root):
    "`--weights SEG FUSION` (space-separated, reversed) reaches the strict loader, which names the incomplete segmenter file."
    d = _pairs(tmp_path, n=1)
    fusion, seg = _fake_files(tmp_path)
    r = subprocess.run([str(bindir / "fusion-papers"), "fuse", "--method", "segmif", "--weights", str(seg), str(fusion),
                        "--ir", str(d["ir"]), "--vis", str(d["vis"]), "--mask", str(d["mask"]), "-o", str(tmp_path / "o"),
                        "--official-compat"], cwd=root, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert str(seg) in r.stderr and "Traceback" not in r.stderr
    h = subprocess.run([str(bindir / "fusion-papers"), "fuse", "--help"], capture_output=True, text=True, timeout=300)
    text = " ".join(h.stdout.split())
    assert "--mask" in text and "uses the IR image" in text
