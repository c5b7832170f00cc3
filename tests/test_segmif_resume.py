"""SegMiF's training checkpoints (issue #14): a run killed after an in-stage checkpoint and started again ends
**bit-identical** to an uninterrupted run — the fusion net, the segmenter, every checkpointed optimiser state (AdamW
moments and step counts), the dynamic-factor weighting with its loss history, every step's logged losses, the RNG
states and the test confusion matrix.

`interactive_train` checkpoints the fusion and segmenter stages every `ckpt_every` steps (`core.Checkpointer`: net,
optimiser, weighting object, history, NumPy + torch RNG) and keeps a finished round as `round_<r>.pt`; a restart resumes
from the newest of them. The kill is simulated by an exception raised inside the step *after* a checkpoint (the
segmentation loss of that step is the trigger), so the killed run has already drawn that step's crop and changed nothing
that the checkpoint holds; the restart is a new `interactive_train` call on the same folder. Three kill points: round 1's
fusion stage, round 2's fusion stage (resume from `round_1.pt` + the in-round checkpoint) and round 2's segmenter stage
(the fusion stage's last checkpoint restores the RNG, the fused images are regenerated, then the segmenter's
checkpoint). Tolerance zero: same process, same thread count, same CPU kernels (`OMP_NUM_THREADS=1`).

Tiny size (< 1 min here): the synthetic FMB set at 96×72 (64 px long side), 2 train / 1 test images, crop 32, batch 1,
2 rounds × (3 fusion + 3 segmenter) steps, checkpoint every 2 steps, and a one-block-per-stage MiT with b1's stage-1/2
widths (64, 128: what the fusion net's injections take). The code path is the paper profile's, only smaller."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from fusion_papers import core, data, fmb, segmif, tasks

ROUNDS, ITERS, EVERY = 2, 3, 2
#: seg_loss calls: round r fusion steps are calls 6(r-1)+1..6(r-1)+3, its segmenter steps 6(r-1)+4..6(r-1)+6
KILLS = {"r1 fusion step 3": 3, "r2 fusion step 3": 9, "r2 segmenter step 3": 12}


def _same(a, b, where="state"):
    "Exact equality of nested checkpoint states (tensors bitwise, floats ==); returns the first difference or None."
    if isinstance(a, torch.Tensor):
        return None if (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)) else where
    if isinstance(a, np.ndarray):
        return None if np.array_equal(a, b) else where
    if isinstance(a, torch.nn.Module):
        return _same({**a.state_dict(), **{k: v for k, v in vars(a).items() if not k.startswith("_")}},
                     {**b.state_dict(), **{k: v for k, v in vars(b).items() if not k.startswith("_")}}, where)
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{where}: keys {sorted(map(str, set(a) ^ set(b)))}"
        return next((d for k in a if (d := _same(a[k], b[k], f"{where}.{k}"))), None)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _same(x, y, f"{where}[{i}]"))), None)
    return None if a == b else f"{where}: {a!r} vs {b!r}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("segmif_resume")
    ds = fmb.make_synthetic_fmb(root / "fmb", size=(96, 72), seed=0)
    S = replace(segmif.resolve_settings("smoke"), rounds=ROUNDS, fusion_iters=ITERS, seg_iters=ITERS, batch=1, crop=32,
                seg_variant="b1", max_images=2, max_side=64)
    return root, S, segmif.Samples("fmb", ds, "train", 2, 64), segmif.Samples("fmb", ds, "test", 1, 64)


@pytest.fixture
def tiny_mit(monkeypatch):
    "MiT with b1's stage widths and one block per stage (the fusion net reads stages 1-2: 64 and 128 channels)."
    build = segmif.build_segmenter
    monkeypatch.setattr(segmif, "build_segmenter", lambda C, variant="b1", **kw: build(
        C, variant=variant, depths=[1, 1, 1, 1], hidden_sizes=[64, 128, 160, 256], **kw))
    monkeypatch.setattr(segmif, "_FRESH_SEGMENTERS", {})
    monkeypatch.setattr(core.Checkpointer, "clear", lambda self: None)   # keep every stage's last checkpoint to compare


def _run(setup, out, kill_at=None):
    root, S, train, test = setup
    calls, seg_loss = [0], tasks.seg_loss

    def loss(*a, **k):
        calls[0] += 1
        if calls[0] == kill_at:
            raise KeyboardInterrupt(f"simulated kill at seg_loss call {kill_at}")
        return seg_loss(*a, **k)
    tasks.seg_loss = loss
    try:
        return segmif.interactive_train(train, test, list(data.FMB_CLASSES), out, S, seed=0, dataset="fmb", ckpt_every=EVERY)
    finally:
        tasks.seg_loss = seg_loss


def _ckpts(folder):
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("ckpt_*.pt"))}


def test_kill_and_resume_is_bit_identical(setup, tiny_mit):
    root = setup[0]
    ref = _run(setup, root / "straight")
    assert ref["rounds"] == ROUNDS and len(ref["history"]) == 2 * ROUNDS * ITERS
    ref_ck = _ckpts(root / "straight")
    # every stage's checkpoints after steps 2 and 3 (the last), rounds 1 and 2
    assert len(ref_ck) == 8, sorted(ref_ck)
    for what, kill in KILLS.items():
        out = root / what.replace(" ", "_")
        with pytest.raises(KeyboardInterrupt):
            _run(setup, out, kill)
        assert _ckpts(out), f"{what}: no checkpoint written before the kill"
        got = _run(setup, out)
        assert got["rounds"] == ROUNDS
        for k in ("net", "seg"):
            assert (d := _same(ref[k].state_dict(), got[k].state_dict(), f"{what}: {k}")) is None, d
        assert (d := _same(ref["history"], got["history"], f"{what}: history")) is None, d
        conf = [core.load_json(d / f"round_{ROUNDS}.json")["confusion"] for d in (root / "straight", out)]
        assert conf[0] == conf[1], what
        ck = _ckpts(out)
        assert set(ck) == set(ref_ck), (what, sorted(set(ck) ^ set(ref_ck)))
        for name, p in ref_ck.items():   # optimiser moments, weighting (dynamic factor + its loss history), RNG, step count
            a, b = (torch.load(q, map_location="cpu", weights_only=False) for q in (p, ck[name]))
            assert (d := _same(a["state"], b["state"], f"{what}: {name}")) is None, d
