"""Mock datasets for the rehearsal tests: `data.write_mock` when the data module has it, else a minimal stand-in
writer (registry layouts and sizes of the five datasets CAF reads; smooth random content, a few YOLO boxes or an index
mask per image). The stand-in exists only so these tests run before `data.write_mock` lands; it writes the same
marker file (`.fusion_papers_mock.json`)."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from fusion_papers import data

CAF_DATASETS = ("m3fd", "multispectral", "mfnet", "tno", "roadscene")
_SIZES = {"m3fd": (1024, 768), "multispectral": (640, 480), "mfnet": (640, 480), "tno": (620, 450), "roadscene": (506, 330)}


def _smooth(rng, h, w):
    small = rng.random((max(2, h // 32), max(2, w // 32))).astype(np.float32)
    img = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR))
    return img


def _fallback(name, root, n, seed):
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = _SIZES[name]
    stems = [f"{i:05d}" for i in range(n)]
    for s in stems:
        ir, vis = _smooth(rng, h, w), np.stack([_smooth(rng, h, w) for _ in range(3)], -1)
        if name == "mfnet":
            (root / "images").mkdir(parents=True, exist_ok=True); (root / "labels").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([vis, ir[..., None]], -1), "RGBA").save(root / "images" / f"{s}.png")
            m = np.zeros((h, w), np.uint8); m[h // 3: h // 2, w // 4: w // 2] = 1 + rng.integers(0, 8)
            Image.fromarray(m).save(root / "labels" / f"{s}.png")
            continue
        (root / "ir").mkdir(parents=True, exist_ok=True); (root / "vi").mkdir(parents=True, exist_ok=True)
        Image.fromarray(ir).save(root / "ir" / f"{s}.png"); Image.fromarray(vis).save(root / "vi" / f"{s}.png")
        if name in ("m3fd", "multispectral"):
            (root / "labels" / "yolo").mkdir(parents=True, exist_ok=True)
            nc = len(data.get_dataset(name).det_classes)
            lines = [f"{rng.integers(0, nc)} {rng.uniform(.3, .7):.4f} {rng.uniform(.3, .7):.4f} {rng.uniform(.1, .3):.4f} {rng.uniform(.1, .3):.4f}"
                     for _ in range(2)]
            (root / "labels" / "yolo" / f"{s}.txt").write_text("\n".join(lines) + "\n")
    if name == "mfnet":
        k = max(1, n // 3)
        for sp, ids in (("train", stems[:n - 2 * k]), ("val", stems[n - 2 * k:n - k]), ("test", stems[n - k:])):
            (root / f"{sp}.txt").write_text("\n".join(ids) + "\n")
    (root / ".fusion_papers_mock.json").write_text(json.dumps({"dataset": name, "n": n, "seed": seed, "writer": "tests/mockdata.py"}))
    return root


def write_mock(name: str, root, n: int = 4, seed: int = 0) -> Path:
    if hasattr(data, "write_mock"):
        return Path(data.write_mock(name, root, n=n, seed=seed) or root)
    return _fallback(name, root, n, seed)


def write_caf_mocks(data_root, n: int = 10, seed: int = 0, datasets=CAF_DATASETS) -> Path:
    "Mocks of every dataset CAF's paper profile reads, as `data_root/<dataset>/` (n pairs each)."
    data_root = Path(data_root)
    for ds in datasets:
        write_mock(ds, data_root / ds, n=n, seed=seed)
    return data_root
