"""BDL's plan units (issue #13): Table 2's peer rows (TarDAL, DIDFuse, ReCoNet from released weights) are costed as what
they run — the released peer fusing, frozen, plus a detector fine-tuned on its images — on both detection datasets of
Table 2 (M3FD and Multi-Spectral), never as a bi-level run; and a rehearsal runs the rows named in `rows` (how a peer
row is rehearsed), while it still caps the default rows at the chapter's own row."""
import json

import pytest

from fusion_papers import bdl, cli, core

GPU = core.GPU_THROUGHPUT["flops_per_s"] if hasattr(core, "GPU_THROUGHPUT") else 25e12


def _stages():
    return core.committed_rehearsal_record("bdl")["stages"]


def _by_hand(stage: dict) -> float:
    "GPU-hours of one run of a recorded stage from its own fields: paper steps × FLOPs/step × FLOPs scale ÷ throughput."
    return stage["paper_steps"] * stage["flops_per_step"] * stage["flops_scale"] / GPU / 3600


def test_table2_units_cost_both_datasets_and_peers_as_detector_finetuning():
    st = _stages()
    units = {u["unit"]: u for u in cli.plan_units("bilevel")}
    ours = units["bilevel:table2:Ours"]
    want = _by_hand(st["train/det_bilevel_rlw_bdl"]) + _by_hand(st["train/det_bilevel_rlw_bdl_multispectral"])
    assert ours["gpu_hours"] == pytest.approx(want, rel=1e-3)                     # M3FD + Multi-Spectral, not M3FD only
    peer = "train/det_peer_tardal"
    assert peer in st and peer + "_multispectral" in st, sorted(st)                # the peer row is rehearsed and recorded
    for name in (peer, peer + "_multispectral"):
        assert st[name]["note"].startswith("detector fine-tuning"), st[name]["note"]
        assert st[name]["projected_gpu_hours"] == pytest.approx(_by_hand(st[name]), abs=1e-3)
        # a frozen fusion + one detector step is cheaper than the lower steps + upper step of a bi-level iteration
        bil = st[name.replace("peer_tardal", "bilevel_rlw_bdl")]
        assert st[name]["flops_per_step"] * st[name]["flops_scale"] < bil["flops_per_step"] * bil["flops_scale"]
    tardal = units["bilevel:table2:TarDAL"]
    assert tardal["gpu_hours"] == pytest.approx(_by_hand(st[peer]) + _by_hand(st[peer + "_multispectral"]), rel=1e-3)
    assert "≈" not in tardal["basis"] and "bilevel" not in tardal["basis"], tardal["basis"]
    for r in ("DIDFuse", "ReCoNet"):                                               # not rehearsed: the recorded peer row, said so
        u = units[f"bilevel:table2:{r}"]
        assert u["gpu_hours"] == pytest.approx(tardal["gpu_hours"], rel=1e-6) and f"≈ {peer}" in u["basis"], u["basis"]
        assert f"train/det_peer_{r.lower()}_multispectral" in u["basis"]
        assert f"-p rows '{json.dumps([r])}'" in u["command"]
    assert units["bilevel:table4:Proposed"]["needs"] == ["bilevel:table2:Ours"]


def test_rehearsal_runs_named_rows_and_caps_the_default(monkeypatch, tmp_path):
    calls = []

    def fake_run(s, data_root, out_dir, device="cpu", seed=0, rehearse=0, paper_steps=None, paper_runs=1):
        calls.append((s.peer, s.det_dataset))
        ds = s.det_dataset.upper()
        return {"metrics": {ds: {**{c: 0.5 for c in bdl.DET_COLUMNS[s.det_dataset].values()}, "mAP": 0.5}},
                "run_dir": str(tmp_path / "runs" / f"{s.peer}_{s.det_dataset}"), "settings": {"peer": s.peer}}

    monkeypatch.setattr(bdl, "trained_run", fake_run)
    monkeypatch.setattr(bdl, "peer_available", lambda name: name in ("tardal", "didfuse", "reconet"))
    base = bdl.bdl_settings("paper", rehearse=1)
    bdl.run_trained_table("tbl-bdl-2", base, tmp_path, tmp_path / "a", rehearse=1, tier="rehearsal")
    assert calls == [(None, "m3fd"), (None, "multispectral")]                         # default: the chapter's row only
    calls.clear()
    df = bdl.run_trained_table("tbl-bdl-2", base, tmp_path, tmp_path / "b", rehearse=1, rows=["TarDAL", "Ours"], tier="rehearsal")
    assert calls == [(None, "m3fd"), (None, "multispectral"), ("tardal", "m3fd"), ("tardal", "multispectral")]
    assert {"Ours", "TarDAL"} <= set(df["method"]) and (tmp_path / "b" / "tbl-bdl-2" / "TarDAL" / "result.json").exists()
