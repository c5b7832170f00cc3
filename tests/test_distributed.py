"""Data-parallel training on 2 CPU processes (torchrun, gloo) equals 1 process; only rank 0 writes.

Tolerance, and why it is not zero: with the same global batch each rank computes the mean loss of its half and DDP
averages the two gradients, which equals the full-batch mean gradient for losses that are means of equally sized
per-sample terms (the configurations below) — up to float32 summation order. Measured here: task network ≤ 1e-5,
fusion network ≤ 1e-7 (max abs weight difference after 4 steps); asserted: 1e-4 on weights, 1e-5 relative on losses.
BatchNorm in training mode would normalise by per-rank statistics (torch's SyncBatchNorm is CUDA-only), so the task
network runs with frozen BatchNorm (`distributed.freeze_batchnorm`, the eval-BN configuration) and no dropout, and the
fusion network is the BatchNorm-free DenseFuseNet (CAF Table 3's U2Fusion-style row); CAFNet's BatchNorm becomes
SyncBatchNorm on CUDA (`distributed.wrap`), not testable here.
"""
import builtins
import io
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch = pytest.importorskip("torch")

from fusion_papers import core, distributed, tasks  # noqa: E402

TESTS = str(Path(__file__).resolve().parent)
W_TOL, LOSS_RTOL = 1e-4, 1e-5


def _max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory):
    rng = np.random.default_rng(0)
    imgs = [rng.random((64, 64, 3)).astype(np.float32) for _ in range(8)]
    masks = [(im[..., 0] > 0.5).astype(np.int64) + (im[..., 1] > 0.7) for im in imgs]   # every pixel labelled
    return tasks.write_seg_dataset(tmp_path_factory.mktemp("seg"), imgs, masks, ["a", "b", "c"])


def _seg_model():
    torch.manual_seed(0)
    m = tasks.build_task_model("segment", "resnet18_seg", 3, names=["a", "b", "c"], dropout=0.0)
    distributed.freeze_batchnorm(m.net)
    return m


def test_task_fit_two_processes_match_one(seg_data, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    kw = dict(iters=4, batch=4, imgsz=64, lr=1e-3, resume=False, progress=False)
    one, two = _seg_model(), _seg_model()
    r1 = one.fit(seg_data, out_dir=tmp_path / "one", nproc=1, **kw)
    r2 = two.fit(seg_data, out_dir=tmp_path / "two", nproc=2, **kw)          # torchrun, 2 processes, gloo
    l1, l2 = [h["loss"] for h in r1["history"]], [h["loss"] for h in r2["history"]]
    assert np.allclose(l1, l2, rtol=LOSS_RTOL), (l1, l2)
    assert _max_diff(one.net.state_dict(), two.net.state_dict()) < W_TOL
    # rank 0 wrote the single-process layout: unwrapped state dict, history, manifest
    latest = core.Checkpointer(tmp_path / "two" / "checkpoints").latest()
    assert latest[0] == 4 and not any(k.startswith("module.") for k in latest[1]["net"])
    assert len(latest[1]["rng_ranks"]) == 2
    assert (tmp_path / "two" / "history.json").exists() and (tmp_path / "two" / "manifest.json").exists()
    # resume from the 2-process checkpoint in one process: nothing left to train, same weights, strict load
    three = _seg_model()
    r3 = three.fit(seg_data, out_dir=tmp_path / "two", nproc=1, **{**kw, "resume": True})
    assert r3["resumed_from"] == 4 and _max_diff(three.net.state_dict(), two.net.state_dict()) == 0


def _audited_train_fusion(net, patches, weights, settings, ckpt_dir):
    """One rank: train_fusion with every file write of this process recorded (io.open in a write mode, os.replace —
    all project writes go through core.atomic_path — and torch.save to a path); returns all ranks' records."""
    from fusion_papers import caf
    written = []
    real_open, real_replace, real_save = io.open, os.replace, torch.save

    def open_(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and isinstance(file, (str, os.PathLike)):
            written.append(str(file))
        return real_open(file, mode, *a, **k)

    def replace_(src, dst, *a, **k):
        written.append(str(dst))
        return real_replace(src, dst, *a, **k)

    def save_(obj, f, *a, **k):
        if isinstance(f, (str, os.PathLike)):
            written.append(str(f))
        return real_save(obj, f, *a, **k)

    builtins.open, io.open, os.replace, torch.save = open_, open_, replace_, save_
    try:
        res = caf.train_fusion(net, patches, weights, settings, "cpu", 0, ckpt_dir=ckpt_dir, progress=False)
    finally:
        builtins.open, io.open, os.replace, torch.save = real_open, real_open, real_replace, real_save
    return {"result": res, "state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "written": distributed.all_gather_object(sorted(set(written)))}


def test_fusion_training_two_processes_match_one_and_only_rank0_writes(tmp_path, monkeypatch):
    from fusion_papers import caf, nets
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))  # workers import this module
    warnings.filterwarnings("ignore")
    s = replace(caf.CAF_PROFILES["smoke"], train_epochs=2, train_steps=None, batch_size=4, image_size=32)
    patches = np.random.default_rng(0).random((8, 2, 32, 32)).astype(np.float32)
    w = caf.variant_weights("A")
    torch.manual_seed(0)
    one = nets.make_fusion_net("dense")
    torch.manual_seed(0)
    two = nets.make_fusion_net("dense")
    r1 = caf.train_fusion(one, patches, w, s, "cpu", 0, ckpt_dir=tmp_path / "one", progress=False)
    me = sys.modules[__name__]
    r2 = distributed.launch(me._audited_train_fusion, two, patches, w, s, tmp_path / "two", nproc=2, timeout=600)
    l1, l2 = [h["loss"] for h in r1["history"]], [h["loss"] for h in r2["result"]["history"]]
    assert np.allclose(l1, l2, rtol=LOSS_RTOL), (l1, l2)
    assert _max_diff(one.state_dict(), r2["state"]) < W_TOL
    rank0, rank1 = r2["written"]
    assert any("ckpt_" in f for f in rank0), rank0     # rank 0 wrote the checkpoints …
    assert rank1 == [], rank1                           # … and rank 1 wrote nothing at all
    ck = core.Checkpointer(tmp_path / "two").latest()
    assert ck[0] == 2 and set(ck[1]["net"]) == set(one.state_dict())   # unwrapped keys: loads into a plain net
