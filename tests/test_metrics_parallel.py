"""Folder evaluation on a process pool: identical to the serial path, and a journal lets a killed run resume."""
import json

import numpy as np
import pytest
from PIL import Image

from fusion_papers import metrics


@pytest.fixture()
def items(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for k in range(6):
        ir = rng.integers(0, 256, (48, 56), dtype=np.uint8)
        vi = rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)
        fu = ((ir[..., None].astype(int) + vi) // 2).astype(np.uint8)
        paths = {}
        for name, im in (("ir", ir), ("vis", vi), ("fused", fu)):
            paths[name] = tmp_path / f"{name}_{k}.png"
            Image.fromarray(im).save(paths[name])
        out.append({"image": f"p{k}", "method": "avg", **paths})
    return out


def test_pool_equals_serial(items):
    serial, _ = metrics.evaluate_batch(items, "EN,MI,SSIM,VIF,Qabf", workers=1)
    pooled, _ = metrics.evaluate_batch(items, "EN,MI,SSIM,VIF,Qabf", workers=2)
    assert serial.equals(pooled)
    assert metrics.resolve_workers(1, 10) == 1 and metrics.resolve_workers(None, 2) == 1


def test_journal_resume(items, tmp_path):
    j = tmp_path / "run.partial.jsonl"
    metrics.evaluate_batch(items[:2], "EN,MI", workers=1, journal=j)
    lines = j.read_text().splitlines()
    assert json.loads(lines[0]) == {"convention": "cddfuse", "metrics": ["EN", "MI"]} and len(lines) == 3
    with open(j, "a") as fh:                      # a line cut by a kill is ignored
        fh.write('{"image": "p2", "meth')
    full, _ = metrics.evaluate_batch(items, "EN,MI", workers=2, journal=j)
    ref, _ = metrics.evaluate_batch(items, "EN,MI", workers=1)
    assert full.equals(ref)
    # another metric list: the journal is not reused
    other, _ = metrics.evaluate_batch(items, "EN", workers=1, journal=j)
    assert list(other.columns) == ["image", "method", "convention", "EN"]
