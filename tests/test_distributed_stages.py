"""The chapters' own long single-network stages on 2 CPU processes (torchrun, gloo) equal 1 process; only rank 0 writes.

SegMiF: `segmif.interactive_train` (nproc=2) — its fusion stage (fusion net trained through the frozen segmenter,
dynamic loss weighting) and its segmenter stage are data-parallel; rank 0 alone regenerates the fused images,
evaluates and writes. Independent reference: the same call in one process. Same global batch (2 crops: one per rank),
2 rounds × (2 fusion + 2 segmenter) steps, so the dynamic factor (eqs. 8-9, from step 2 on) runs on the loss history of
the global batch (`distributed.global_value`).

Tolerance, and why it is not zero: each rank's loss is the mean of its half and DDP averages the two gradients, which
is the global batch's gradient for per-pixel means over equally sized crops (the fusion loss; the cross-entropy as long
as the crops hold no ignored pixels — the synthetic FMB set labels every pixel) — up to float32 summation order, then
amplified by AdamW's first steps (the update is ≈ lr·sign(g) where g is near 0). Asserted: max |Δweight| ≤ 1e-4
(lr 1e-4), logged losses rtol 1e-4. The segmenter runs with its dropout and drop path at 0 and frozen BatchNorm (its
decode head's BatchNorm would normalise by per-rank statistics on CPU; `distributed.wrap` makes it SyncBatchNorm on
CUDA), in both runs.

Tiny: the synthetic FMB set at 96×72 (64 px long side), 2 train / 1 test images, crop 32, a one-block-per-stage MiT."""
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch = pytest.importorskip("torch")

from fusion_papers import core, distributed  # noqa: E402

TESTS = str(Path(__file__).resolve().parent)
UPDATE_RTOL, SEG_ON_FUSED_RTOL, LOSS_RTOL = 1e-3, 5e-2, 1e-4


def _rel_update_diff(w0: dict, a: dict, b: dict) -> float:
    "‖b − a‖ / ‖a − w0‖ over the floating-point tensors: how far run b's total update is from run a's, relative to it."
    ks = [k for k in a if a[k].is_floating_point()]
    num = sum(((b[k].float() - a[k].float()) ** 2).sum() for k in ks) ** 0.5
    den = sum(((a[k].float() - w0[k].float()) ** 2).sum() for k in ks) ** 0.5
    return float(num / den)


def rel_update(one, two, w0, row, net):
    return _rel_update_diff(w0[net], one[row][net], two[row][net])


def _max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].is_floating_point())


def _deterministic_tiny_mit():
    "In this process: MiT with b1's stage widths, one block per stage, no dropout / drop path, frozen BatchNorm."
    from fusion_papers import segmif
    build = segmif._build_segmenter_orig = getattr(segmif, "_build_segmenter_orig", segmif.build_segmenter)

    def tiny(C, variant="b1", **kw):
        net = build(C, variant=variant, depths=[1, 1, 1, 1], hidden_sizes=[64, 128, 160, 256], classifier_dropout_prob=0.0,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **kw)
        for m in net.modules():
            if hasattr(m, "drop_prob"):        # drop path
                m.drop_prob = 0.0
        return distributed.freeze_batchnorm(net)
    segmif.build_segmenter = tiny
    segmif._FRESH_SEGMENTERS.clear()


def segmif_rank(train, test, names, out_dir, S, **kw):
    """One rank (or the single process): the tiny deterministic segmenter, then `interactive_train` with writes audited,
    for Tables 1-2's "Ours" (fusion + segmenter stages) and "Visible" (segmenter stage only) rows, into out_dir/<row>."""
    import ddp_audit
    from fusion_papers import segmif
    _deterministic_tiny_mit()
    out = {}
    for row, src in (("Ours", None), ("Visible", "vis")):
        r = ddp_audit.audited(segmif.interactive_train, train, test, names, Path(out_dir) / row, S, sources_only=src, **kw)
        v = r["value"]
        out[row] = {"history": v["history"], "net": v["net"].state_dict(), "seg": v["seg"].state_dict(),
                    "mIoU": v["report"]["mIoU"], "written": r["written"]}
    return out


@pytest.fixture(scope="module")
def fmb_set(tmp_path_factory):
    from fusion_papers import fmb, segmif
    root = tmp_path_factory.mktemp("ddp_segmif")
    ds = fmb.make_synthetic_fmb(root / "fmb", size=(96, 72), seed=0)
    S = replace(segmif.resolve_settings("smoke"), rounds=2, fusion_iters=2, seg_iters=2, batch=2, crop=32,
                seg_variant="b1", max_images=2, max_side=64)
    return S, segmif.Samples("fmb", ds, "train", 2, 64), segmif.Samples("fmb", ds, "test", 1, 64)


def test_segmif_interactive_train_two_processes_match_one_and_only_rank0_writes(fmb_set, tmp_path, monkeypatch):
    S, train, test = fmb_set
    from fusion_papers import data
    names = list(data.FMB_CLASSES)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))  # workers import these modules
    monkeypatch.syspath_prepend(TESTS)
    from fusion_papers import segmif
    monkeypatch.setattr(segmif, "build_segmenter", segmif.build_segmenter)   # restored after the in-process run
    monkeypatch.setattr(segmif, "_FRESH_SEGMENTERS", {})
    kw = dict(variant="full", device="cpu", seed=0, ckpt_every=1, dataset="fmb")
    one = segmif_rank(train, test, names, tmp_path / "one", S, nproc=1, **kw)
    me = sys.modules[__name__]
    two = distributed.launch(me.segmif_rank, train, test, names, tmp_path / "two", S, nproc=2, timeout=900, **kw)
    _deterministic_tiny_mit()                   # the initial weights, built as interactive_train builds them
    core.seed_everything(0)
    w0 = {"seg": segmif.fresh_segmenter(len(names), S.seg_variant, 0).state_dict(),
          "net": segmif.SegMiFFusionNet("full", with_ffm2=False).state_dict()}
    for row in ("Ours", "Visible"):
        h1, h2 = one[row]["history"], two[row]["history"]
        assert [(h["round"], h["stage"], h["iter"]) for h in h1] == [(h["round"], h["stage"], h["iter"]) for h in h2]
        for key in ("L_f", "L_s", "total"):
            a, b = [h[key] for h in h1 if key in h], [h[key] for h in h2 if key in h]
            assert np.allclose(a, b, rtol=LOSS_RTOL), (row, key, a, b)
        d = {k: _max_diff(one[row][k], two[row][k]) for k in ("net", "seg")}
        rel = {k: _rel_update_diff(w0[k], one[row][k], two[row][k]) for k in ("net", "seg") if d[k] > 0 or row == "Ours"}
        print(f"SegMiF {row} 2 vs 1 process: max |Δw| {d}, |Δupdate|/|update| {rel}, "
              f"mIoU {one[row]['mIoU']:.6f} / {two[row]['mIoU']:.6f}")
        assert d["net"] <= 2 * S.fusion_lr * 4 and d["seg"] <= 2 * S.seg_lr * 4, d   # AdamW moves a weight ≤ lr per step
    # the fusion net (Ours) and the segmenter on the visible images: float32 summation order only
    assert rel_update(one, two, w0, "Ours", "net") <= UPDATE_RTOL
    assert rel_update(one, two, w0, "Visible", "seg") <= UPDATE_RTOL
    # Ours' segmenter trains on the fused images saved as 8-bit PNG: the fusion nets' tiny difference flips the rounding
    # of a few pixels by one level, which the segmenter then sees (so a looser bound), and nothing more than one level
    fa = [np.asarray(Image.open(p), np.int16) for p in sorted((tmp_path / "one" / "Ours" / "fused").glob("*.png"))]
    fb = [np.asarray(Image.open(p), np.int16) for p in sorted((tmp_path / "two" / "Ours" / "fused").glob("*.png"))]
    flips = sum(int((a != b).sum()) for a, b in zip(fa, fb)) / sum(a.size for a in fa)
    print(f"fused 8-bit values that differ: {flips:.1e}, max {max(int(np.abs(a - b).max()) for a, b in zip(fa, fb))} level")
    assert len(fa) == len(fb) == len(train) + len(test) and all(np.abs(a - b).max() <= 1 for a, b in zip(fa, fb))
    assert rel_update(one, two, w0, "Ours", "seg") <= SEG_ON_FUSED_RTOL
    assert abs(one["Visible"]["mIoU"] - two["Visible"]["mIoU"]) < 1e-6
    for row in ("Ours", "Visible"):
        rank0, rank1 = two[row]["written"]
        assert any(f.endswith("round_2.pt") for f in rank0) and any("ckpt_r1_segmenter" in f for f in rank0), rank0
        assert any("record.json" in f for f in rank0), rank0
        assert rank1 == [], rank1                               # rank 1 wrote nothing at all
    assert any("/fused/" in f for f in two["Ours"]["written"][0])
    # the 2-process run's files are the single-process layout: the same names (fused images, rounds, record)
    rel = lambda d: sorted(str(p.relative_to(d)) for p in Path(d).rglob("*") if p.is_file() and "manifest" not in p.name)
    assert rel(tmp_path / "two") == rel(tmp_path / "one")
    # resume in one process from the 2-process run's folder: nothing left to train, the same weights
    three = segmif.interactive_train(train, test, names, tmp_path / "two" / "Ours", S, nproc=1, **kw)
    assert three["rounds"] == 2 and _max_diff(three["net"].state_dict(), two["Ours"]["net"]) == 0


# --- TIM: training of a derived (searched) fusion network, `tim.train_fusion` --------------------------------------
# The same tolerance argument: ℓ_F is a mean over equally sized patches of per-image terms (the histogram-contrast
# saliency is computed per image), Adam. The derived network's BatchNorm is frozen in both runs (per-rank statistics
# on CPU; SyncBatchNorm on CUDA).

def _tim_setup(tmp):
    from fusion_papers import data, tim
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(4):
        a = rng.random((40, 48)).astype(np.float32)
        b = np.clip(0.6 * a + 0.4 * rng.random((40, 48)), 0, 1).astype(np.float32)
        pairs.append((tmp / f"ir_{i}.png", tmp / f"vis_{i}.png"))
        data.save_image(pairs[-1][0], a); data.save_image(pairs[-1][1], b)
    torch.manual_seed(0)
    net = distributed.freeze_batchnorm(tim.derive_network(tim.TIMSupernet(C=8)))
    return pairs, net


def test_tim_train_fusion_two_processes_match_one_and_only_rank0_writes(tmp_path, monkeypatch):
    import copy
    import ddp_audit
    from fusion_papers import tim
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(TESTS)
    pairs, net0 = _tim_setup(tmp_path)
    steps, lr = 4, 1e-3
    one, two = copy.deepcopy(net0), copy.deepcopy(net0)
    s1, s2 = tim.patch_stream(pairs, 32, 4, seed=0), tim.patch_stream(pairs, 32, 4, seed=0)
    c1 = tim.train_fusion(one, s1, steps, lr, ckpt=core.Checkpointer(tmp_path / "one", keep=1), ckpt_every=2, nproc=1)
    # the rank body that train_fusion(nproc=2) launches, with every rank's writes audited
    r = distributed.launch(ddp_audit.audited, tim._train_fusion_rank, two, s2, steps, lr,
                           core.Checkpointer(tmp_path / "two", keep=1), 2, "train", "cpu", torch.get_rng_state(),
                           nproc=2, timeout=600)
    c2, st2 = r["value"]["curve"], r["value"]["state"]
    d, rel = _max_diff(one.state_dict(), st2), _rel_update_diff(net0.state_dict(), one.state_dict(), st2)
    print(f"TIM train_fusion 2 vs 1 process: max |Δw| {d:.2e}, |Δupdate|/|update| {rel:.2e}; curves {c1} / {c2}")
    assert np.allclose(c1, c2, rtol=LOSS_RTOL), (c1, c2)
    assert rel <= UPDATE_RTOL and d <= 2 * lr * steps, (d, rel)
    assert r["value"]["stream"] == s1.rng.bit_generator.state     # the ranks drew the single-process run's batches
    rank0, rank1 = r["written"]
    assert any("two" in f and "ckpt" in f for f in rank0) and rank1 == [], (rank0, rank1)
    ck = core.Checkpointer(tmp_path / "two", keep=1).latest()
    assert ck[0] == steps and set(ck[1]["net"]) == set(one.state_dict())   # unwrapped keys: loads into a plain net
    # the public path: train_fusion(nproc=2) launches that body, loads the weights and advances the caller's stream
    three, s3 = copy.deepcopy(net0), tim.patch_stream(pairs, 32, 4, seed=0)
    c3 = tim.train_fusion(three, s3, steps, lr, nproc=2)
    assert np.allclose(c3, c2, rtol=1e-6) and _max_diff(three.state_dict(), st2) <= 1e-6
    assert s3.rng.bit_generator.state == s1.rng.bit_generator.state
    with pytest.raises(ValueError, match="does not split"):
        tim.train_fusion(copy.deepcopy(net0), tim.patch_stream(pairs, 32, 3), steps, lr, nproc=2)
    with pytest.raises(TypeError, match="PatchStream"):
        tim.train_fusion(copy.deepcopy(net0), iter([]), steps, lr, nproc=2)


# --- YOLO: ultralytics' own multi-GPU trainer (never executed here: no GPU) -----------------------------------------

class _Stop(Exception):
    pass


def test_yolo_fit_passes_the_gpu_list_to_ultralytics_trainer(tmp_path, monkeypatch):
    """CAF's YOLO fine-tune calls `YoloModel.fit` without `nproc`; `reproduce --nproc N` sets `$FUSION_PAPERS_NPROC`.
    On CUDA the trainer must receive `device=[0, …, N-1]` (ultralytics then starts its own DDP workers); on CPU one
    process. The trainer is stopped in its constructor, where the arguments arrive."""
    from fusion_papers import tasks
    from ultralytics.models.yolo.detect import DetectionTrainer
    rng = np.random.default_rng(0)
    ds = tasks.write_yolo_dataset(tmp_path / "ds", [rng.random((64, 64, 3)).astype(np.float32)] * 2,
                                  [np.array([[0, 0.5, 0.5, 0.3, 0.3]])] * 2, ["a"], "train")
    tasks.write_yolo_dataset(tmp_path / "ds", [rng.random((64, 64, 3)).astype(np.float32)],
                             [np.array([[0, 0.5, 0.5, 0.3, 0.3]])], ["a"], "val")
    seen = []

    def init(self, cfg=None, overrides=None, _callbacks=None):
        seen.append(dict(overrides or {}))
        raise _Stop

    monkeypatch.setattr(DetectionTrainer, "__init__", init)
    model = tasks.build_task_model("detect", "yolov8n", 1, names=["a"])
    monkeypatch.setenv(distributed.NPROC_ENV, "4")
    with pytest.raises(_Stop):                       # on CPU: one process whatever nproc says
        model.fit(ds, epochs=1, batch=8, imgsz=64, out_dir=tmp_path / "cpu", progress=False)
    assert seen[-1]["device"] == "cpu"
    model.device = torch.device("cuda", 0)          # as built on a GPU (never moved there: the trainer stops first)
    monkeypatch.setattr(core, "device_info", lambda device: {"device": str(device)})   # the manifest would ask the driver
    with pytest.raises(_Stop):
        model.fit(ds, epochs=1, batch=8, imgsz=64, out_dir=tmp_path / "gpu", progress=False)
    assert seen[-1]["device"] == [0, 1, 2, 3] and seen[-1]["batch"] == 8   # global batch, as ultralytics takes it
    with pytest.raises(_Stop):
        model.fit(ds, epochs=1, batch=8, imgsz=64, out_dir=tmp_path / "gpu2", progress=False, nproc=2)
    assert seen[-1]["device"] == [0, 1]


# --- TIM: the task stages (`_train_fixed`, `train_task_guided`, `pretrain_fusion`) on `TaskBatches` ------------------
# Same argument: the segmentation loss is a per-pixel mean over equally sized images (the mock MSRS masks hold no
# ignored pixel), ℓ_F a mean of per-image terms; SGD + momentum + cosine. The task net's and the fusion net's BatchNorm
# are frozen in both runs: in train mode BatchNorm normalises by the batch's statistics, which under DDP on CPU are each
# rank's half (and the running statistics are rank 0's, broadcast by DDP at the next forward); `distributed.wrap`
# converts it to SyncBatchNorm on CUDA, where the statistics are the global batch's again.

def _frozen_task_nets():
    "In this process: `tim.build_task_net` returns nets with frozen BatchNorm."
    from fusion_papers import tim
    build = tim._build_task_net_orig = getattr(tim, "_build_task_net_orig", tim.build_task_net)
    tim.build_task_net = lambda *a, **k: distributed.freeze_batchnorm(build(*a, **k))


def tim_stage_rank(name, args, kwargs, device):
    """Stands in for `tim._task_stage_rank` in the workers of the public path (`nproc=2`): frozen-BatchNorm task nets,
    every write audited; rank 0 leaves the audit in $DDP_AUDIT_OUT/<name>.pt (after the audited call)."""
    import ddp_audit
    from fusion_papers import tim
    _frozen_task_nets()
    r = ddp_audit.audited(tim._task_stage_rank, name, args, kwargs, device)
    if distributed.is_main():
        torch.save(r["written"], Path(os.environ["DDP_AUDIT_OUT"]) / f"{name}.pt")
    return r["value"]


def test_tim_task_batches_is_the_generator_it_replaces(tmp_path):
    "`TaskBatches` (picklable) yields the batches of the former generator, also after a pickle round trip mid-stream."
    import pickle
    from fusion_papers import data, tim
    data.write_mock("msrs", tmp_path / "msrs", n=4, seed=0)
    entries = tim.task_split("seg", tmp_path, "train")

    def old(kind, root, entries, size, batch, seed=0):            # the generator before TaskBatches (verbatim body)
        rng = np.random.default_rng(seed)
        while True:
            items = [tim.task_sample(kind, root, entries[int(i)], size) for i in rng.integers(len(entries), size=batch)]
            yield (torch.stack([i[0] for i in items]), torch.stack([i[1] for i in items]), torch.stack([i[2] for i in items]))
    g, s = old("seg", tmp_path, entries, (32, 48), 2, 5), tim.task_batches("seg", tmp_path, entries, (32, 48), 2, 5)
    for step in range(4):
        if step == 2:
            s = pickle.loads(pickle.dumps(s))
        assert all(torch.equal(a, b) for a, b in zip(next(g), next(s)))


def test_tim_task_stages_two_processes_match_one_and_only_rank0_writes(tmp_path, monkeypatch):
    import copy
    from fusion_papers import data, tim
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("DDP_AUDIT_OUT", str(tmp_path))
    monkeypatch.syspath_prepend(TESTS)
    root = tmp_path / "mock"
    data.write_mock("msrs", root / "msrs", n=4, seed=0)
    S = replace(tim.resolve_settings("smoke"), seg_size=(64, 64), task_batch=2, ckpt_every=2, fd_width=8, C=8, task_lr=1e-3)
    steps = 3
    monkeypatch.setattr(tim, "build_task_net", tim.build_task_net)      # restored after the test
    _frozen_task_nets()
    core.seed_everything(0)
    fnet0 = distributed.freeze_batchnorm(tim.TIMStage1("fusion_M", ("Cell_Fusion", "Cell_Chain2"), C=S.C))
    with torch.no_grad():       # an untrained net's output lies below 0 here, where `fused_rgb`'s clamp passes no gradient
        fnet0.stem_out[3].conv2d.bias.fill_(0.5)
    net0 = tim.build_task_net("seg", S)
    fuse = tim._row_fuser("Average")
    # 1) the baselines' task network on fixed (average-)fused images
    one = tim._train_fixed("seg", copy.deepcopy(net0), fuse, S, root, tmp_path / "one_fixed", steps, 0, "cpu", nproc=1)
    me = sys.modules[__name__]
    monkeypatch.setattr(tim, "_task_stage_rank", me.tim_stage_rank)     # the workers run the audited rank body
    two = tim._train_fixed("seg", copy.deepcopy(net0), fuse, S, root, tmp_path / "two_fixed", steps, 0, "cpu", nproc=2)
    d, rel = _max_diff(one.state_dict(), two.state_dict()), _rel_update_diff(net0.state_dict(), one.state_dict(), two.state_dict())
    print(f"TIM _train_fixed (seg) 2 vs 1 process: max |Δw| {d:.2e}, |Δupdate|/|update| {rel:.2e}")
    assert rel <= UPDATE_RTOL, (d, rel)
    rank0, rank1 = torch.load(tmp_path / "_train_fixed.pt")
    assert any("two_fixed" in f and "ckpt" in f for f in rank0) and rank1 == [], (rank0, rank1)
    ck1, ck2 = (core.Checkpointer(tmp_path / f"{w}_fixed" / "ckpt", keep=1).latest() for w in ("one", "two"))
    assert ck2[0] == ck1[0] == steps and set(ck2[1]) == set(ck1[1]) and set(ck2[1]["net"]) == set(one.state_dict())
    # 2) the task-guided joint training (task net + fusion net, ℓ_T + η·ℓ_F)
    kw = dict(steps=steps, joint=True, seed=0, device="cpu")
    n1, f1, h1 = tim.train_task_guided("seg", fnet0, S, root, tmp_path / "one_tg", nproc=1, **kw)
    n2, f2, h2 = tim.train_task_guided("seg", fnet0, S, root, tmp_path / "two_tg", nproc=2, **kw)
    core.seed_everything(0)
    w0 = tim.build_task_net("seg", S).state_dict()
    rel_t = _rel_update_diff(w0, n1.state_dict(), n2.state_dict())
    rel_f = _rel_update_diff(fnet0.state_dict(), f1.state_dict(), f2.state_dict())
    print(f"TIM train_task_guided (seg, joint) 2 vs 1 process: |Δupdate|/|update| task net {rel_t:.2e}, fusion net {rel_f:.2e}; "
          f"losses {[h['loss'] for h in h1]} / {[h['loss'] for h in h2]}")
    assert np.allclose([h["loss"] for h in h1], [h["loss"] for h in h2], rtol=LOSS_RTOL)
    assert np.allclose([h["task"] for h in h1], [h["task"] for h in h2], rtol=LOSS_RTOL)
    # Reference 1, exact: one process computing each global batch as its two halves (the mean of the halves' losses,
    # so the gradient is the mean of theirs, as DDP averages them) — the same arithmetic as the 2 ranks.
    fwd = tim._TaskObjective.forward

    def halves(self, ir, vis, tg):
        r = [fwd(self, ir[i:i + 1], vis[i:i + 1], tg[i:i + 1]) for i in range(2)]
        return (r[0][0] + r[1][0]) / 2, (r[0][1] + r[1][1]) / 2
    monkeypatch.setattr(tim._TaskObjective, "forward", halves)
    n4, f4, h4 = tim.train_task_guided("seg", fnet0, S, root, tmp_path / "halves_tg", nproc=1, **kw)
    monkeypatch.setattr(tim._TaskObjective, "forward", fwd)
    dh = max(_max_diff(n4.state_dict(), n2.state_dict()), _max_diff(f4.state_dict(), f2.state_dict()))
    print(f"  2 processes vs one process on the two halves: max |Δw| {dh:.1e}")
    assert dh <= 1e-7, dh
    # Reference 2: one process on the whole batch. The task net agrees to 1e-3 of its update; the fusion net to 1e-2:
    # a batch of 2 and two batches of 1 give per-pixel values that differ in float32 rounding, a few pixels then cross
    # the clamps of `fused_rgb` (and ReLU kinks), and the fusion net's output-bias gradient is a cancelling sum over
    # pixels, so its relative difference is large (1.7e-3 measured). In float64 the two gradients agree to 1e-15;
    # swapping the batch order in one process moves the update by 7e-6 only.
    assert rel_t <= UPDATE_RTOL and rel_f <= 10 * UPDATE_RTOL, (rel_t, rel_f)
    moved = {k: (f1.state_dict()[k] - v).abs().max().item() for k, v in fnet0.state_dict().items() if v.is_floating_point()}
    assert max(moved.values()) > 1e-4, moved     # the fusion net did train (a gradient reached it, not only weight decay)
    rank0, rank1 = torch.load(tmp_path / "train_task_guided.pt")
    assert any("two_tg" in f and "ckpt_train" in f for f in rank0) and rank1 == [], (rank0, rank1)
    # resume in one process from the 2-process run's checkpoint: nothing left to train, the same weights
    n3, f3, h3 = tim.train_task_guided("seg", fnet0, S, root, tmp_path / "two_tg", nproc=1, **kw)
    assert _max_diff(n3.state_dict(), n2.state_dict()) == 0 and _max_diff(f3.state_dict(), f2.state_dict()) == 0 and h3 == h2
    with pytest.raises(ValueError, match="does not split"):
        tim.train_task_guided("seg", fnet0, replace(S, task_batch=3), root, tmp_path / "x", nproc=2, **kw)
