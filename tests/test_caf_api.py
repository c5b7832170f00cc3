"""CAF chapter API checks that need no training: factory options, and Table 3's `Ours` row reusing Tables 1–2.

Independent references: Python's own keyword check (an unknown option must be refused, never dropped); a counting stand-in
for `finetune_task` whose numbers depend on the fused images, so a recomputation (or different fused images) is seen.
"""
import numpy as np
import pandas as pd
import pytest
import torch


def test_caf_factory_refuses_unknown_options():
    from fusion_papers import caf, peers
    f = caf.make_caf_fuser("det")
    with pytest.raises(TypeError, match="colour"):
        f(colour=True)
    with pytest.raises(TypeError, match="tile_size"):
        f(weights=None, official_compat=True, tile_size=8)
    with pytest.raises(ValueError, match="colour"):       # peers.get names it too, with the options it takes
        peers.get("caf-det", colour=True)


def _fake_finetune(calls):
    "Stands in for `finetune_task`: one number per table, a function of the fused images of 3 probe pairs."
    def fake(kind, fuse, dataset, root, settings, out_dir, device="cpu", seed=0, **kw):
        from fusion_papers import caf
        calls.append((kind, str(out_dir)))
        rng = np.random.default_rng(7)
        v = float(np.mean([np.mean(fuse(rng.random((24, 32), np.float32), rng.random((24, 32, 3), np.float32)))
                           for _ in range(3)]))
        names = caf.task_classes(kind, dataset) + ["mean"]
        cols = ("AP50", "AP50_95") if kind == "det" else ("IoU", "Acc")
        return pd.DataFrame({"class": names, cols[0]: v, cols[1]: v / 2})
    return fake


def test_table3_ours_reuses_tables_1_2(tmp_path, monkeypatch):
    from fusion_papers import caf
    calls = []
    monkeypatch.setattr(caf, "finetune_task", _fake_finetune(calls))
    monkeypatch.setattr(caf, "task_step_flops", lambda *a, **k: 0)
    S = caf.resolve_settings("smoke")
    torch.manual_seed(0)
    nets = {"det": caf.CAFNet().eval(), "seg": caf.CAFNet().eval()}
    res = {k: {"weights": list(caf.variant_weights("A"))} for k in nets}
    t1 = caf.run_task_rows("det", S, nets, res, tmp_path / "tbl-caf-1", rows=["Ours"], progress=False)
    t2 = caf.run_task_rows("seg", S, nets, res, tmp_path / "tbl-caf-2", rows=["Ours"], progress=False)
    assert len(calls) == 2
    t3 = caf.run_table3_tasks(S, nets, res, tmp_path, rows=["Ours"], progress=False)["Ours"]
    assert len(calls) == 2, f"Table 3's Ours was fine-tuned again: {calls[2:]}"     # reused through the cache key
    assert not (tmp_path / "tbl-caf-3" / "Ours").exists()
    d = caf.det_columns(t1[("det", "synthetic", "Ours")], "M3FD")
    s = caf.seg_columns(t2[("seg", "synthetic", "Ours")])
    shared = {"Det/People": d["M3FD/People"], "Det/Car": d["M3FD/Car"],
              "Seg/Person": s["Person/IoU"], "Seg/Car": s["Car/IoU"], "Seg/mIoU": s["mIoU"]}
    assert all(np.isfinite(list(shared.values()))) and t3 == shared
    # the key follows the fusion: another searched loss (another Ours) is a new fine-tuning with other numbers
    res2 = {k: {"weights": list(caf.variant_weights("H"))} for k in nets}
    nets2 = {k: caf.CAFNet().eval() for k in nets}
    t3b = caf.run_table3_tasks(S, nets2, res2, tmp_path, rows=["Ours"], progress=False)["Ours"]
    assert len(calls) == 4 and t3b["Det/Car"] != t3["Det/Car"]


def test_table3_other_rows_fuse_with_their_own_net(tmp_path, monkeypatch):
    """A Table 3 row that is no row of Tables 1–2 (Ours_H) is fine-tuned on the images of the net `run_table3` saved for it
    (`tbl-caf-3/<row>/net.pth`, its sha256 in the key): cached per task, redone when the net file changes."""
    from fusion_papers import caf
    calls = []
    monkeypatch.setattr(caf, "finetune_task", _fake_finetune(calls))
    monkeypatch.setattr(caf, "task_step_flops", lambda *a, **k: 0)
    S = caf.resolve_settings("smoke", table3_task_rows=2)          # Ours + Ours_H get task columns (smoke default: Ours only)
    assert caf.table3_task_rows(caf.resolve_settings("smoke")) == ["Ours"]
    with pytest.raises(FileNotFoundError, match="net.pth"):        # run_table3 must have trained it first
        caf.run_table3_tasks(S, {}, {}, tmp_path, rows=["Ours_H"], progress=False)
    state = tmp_path / "tbl-caf-3" / "Ours_H" / "net.pth"
    state.parent.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(caf.CAFNet().state_dict(), state)
    a = caf.run_table3_tasks(S, {}, {}, tmp_path, rows=["Ours_H"], progress=False)["Ours_H"]
    assert [k for k, _ in calls] == ["det", "seg"] and all("tbl-caf-3/Ours_H/" in d for _, d in calls)
    assert caf.run_table3_tasks(S, {}, {}, tmp_path, rows=["Ours_H"], progress=False)["Ours_H"] == a and len(calls) == 2
    torch.manual_seed(2)
    torch.save(caf.CAFNet().state_dict(), state)                     # another net: new fused images, new numbers
    b = caf.run_table3_tasks(S, {}, {}, tmp_path, rows=["Ours_H"], progress=False)["Ours_H"]
    assert len(calls) == 4 and b["Det/Car"] != a["Det/Car"]


def test_paper_profile_detector_is_the_released_yolov5(tmp_path):
    """The paper profile's detector is the released, anchor-based YOLOv5s (`det_impl="yolov5"`): 7,035,811 parameters for
    M3FD's 6 classes (7,235,389 for COCO's 80 minus 2,697 per class of the head), and one search step of Algorithm 1
    takes its hypergradient through YOLOv5's `ComputeLoss` on a real M3FD fixture pair with its real boxes."""
    from dataclasses import replace
    from fusion_papers import caf, core, tasks
    if not core.has_fixtures("m3fd"):
        pytest.skip("M3FD fixtures absent")
    S = replace(caf.CAF_PROFILES["paper"], rehearse=1, search_epochs=1, search_steps=1, image_size=96, batch_size=1)
    assert S.det_impl == "yolov5" and caf.CAF_PROFILES["smoke"].det_impl == "ultralytics"
    names = caf.task_classes("det", "m3fd")
    tn = caf.build_task_net("det", S, names)
    assert isinstance(tn, tasks.Yolov5Model) and sum(p.numel() for p in tn.net.parameters()) == 7_235_389 - 2697 * (80 - 6)
    b = caf.make_batches(caf.task_samples("det", "m3fd", None, None, 96, limit=2), 1, "det", shuffle=False)
    assert all(len(x["target"][0]["labels"]) > 0 for x in b)
    calls = []
    real = tasks.yolov5_loss
    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    tasks.yolov5_loss, saved = counting, tasks.yolov5_loss
    try:
        r = caf.search("det", b[:1], b[1:], tn, S, progress=False)
    finally:
        tasks.yolov5_loss = saved
    assert len(calls) >= 3          # task step, the hypergradient's upper level (+ its FD evaluations), the logged value
    h = r["history"][-1]
    assert np.isfinite([h["upper_val_loss"], h["task_train_loss"]]).all() and h["hypergrad_norm"] > 0
    assert np.isclose(sum(r["weights"].values()), 1)
    assert r["beta"] != [S.beta_init] * len(r["beta"])   # β moved through the YOLOv5 loss's hypergradient


def test_paper_profile_finetunes_and_evaluates_yolov5(tmp_path):
    """Tables 1-3's detection path with the released YOLOv5 (`finetune_task`, paper profile, rehearsal caps): fused M3FD
    fixture pairs written in YOLO layout, one epoch of `Yolov5Model.fit` (our loop: a resumable checkpoint), evaluated by
    the same `detection_table` as the ultralytics path, whose class rows map onto Table 1's M3FD columns."""
    from dataclasses import replace
    from fusion_papers import caf, core
    if not core.has_fixtures("m3fd"):
        pytest.skip("M3FD fixtures absent")
    S = replace(caf.rehearsal_settings(caf.CAF_PROFILES["paper"], 1), task_imgsz=160)
    assert S.det_impl == "yolov5"
    df = caf.finetune_task("det", lambda ir, vis: vis, "m3fd", None, S, tmp_path, limit=1, progress=False)
    assert list(df.columns) == ["class", "AP50", "AP50_95", "n_gt"] and list(df["class"])[:-1] == caf.task_classes("det", "m3fd")
    assert df.n_gt.iloc[-1] > 0 and any((tmp_path / "train" / "checkpoints").iterdir())
    cols = caf.det_columns(df, "M3FD")
    assert {"M3FD/People", "M3FD/Car", "M3FD/mAP@.5"} <= set(cols)
