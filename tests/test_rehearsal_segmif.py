"""SegMiF's paper path, rehearsed (issues #11, #14): `fusion-papers reproduce --paper segmif --profile paper --rehearse 1
--data-root MOCK` on mocks of MFNet (640×480) and FMB (800×600) runs MiT-b3 + the fusion net with HIA at the paper's
image sizes, every loop capped at one, and writes what it promises with status "rehearsal".

On this project's 2-core CPU a fusion step at 360×360 through MiT-b3 and the full-size regeneration cost minutes, so the
CI test rehearses Table 1 (every stage kind: fusion steps, regeneration, segmenter steps, test evaluation);
`FUSION_PAPERS_REHEARSAL_FULL=1` rehearses every table and figure (≈ 30 min here). The committed record
(`fusion_papers/rehearsal_records/segmif.json`) comes from the full run and is checked here without running."""
import json
import os
import subprocess

import pandas as pd
import pytest

from fusion_papers import core, data, segmif

FULL = os.environ.get("FUSION_PAPERS_REHEARSAL_FULL") == "1"
TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_REHEARSAL_TIMEOUT", 1500 if not FULL else 5400))
#: what the paper profile promises (per table/figure label): files under out_dir/<label>/
PROMISED = {"tbl-segmif-1": ["table1.csv", "Ours/round_1.json", "Ours/fused"],
            "tbl-segmif-2": ["table2.csv", "ours_full_table.csv", "Ours/round_1.json"],
            "tbl-segmif-3": ["table3.csv", "mfnet/Concatenate/round_1.json", "fmb/Concatenate/round_1.json"],
            "fig-segmif-7": ["fig7_fused.png"],
            "fig-segmif-8": ["fig8_per_image.csv", "fig8_violins.png"],
            "fig-segmif-9-10": ["mfnet_segmentation.png", "fmb_segmentation.png"],
            "fig-segmif-11": ["fig11_features.png"],
            "fig-segmif-12": ["fig12_variants.png"],
            "fig-segmif-13": ["fig13_traces.csv", "fig13_weighting.png"]}
TRAIN_STAGES = ("fusion", "regenerate", "segmenter", "test")


def _mocks(tmp_path):
    root = tmp_path / "mock"
    for name in ("mfnet", "fmb"):
        data.write_mock(name, root / name, n=4, seed=0)
    return root


@pytest.mark.slow
def test_segmif_rehearsal_via_cli(tmp_path, bindir, root):
    "The paper profile at real size (MiT-b3, 360 crops, 640×480 / 800×600 images) on mocks: stages ok, bars, checkpoints, outputs."
    mock, out = _mocks(tmp_path), tmp_path / "out"
    labels = list(PROMISED) if FULL else ["tbl-segmif-1"]
    cmd = [str(bindir / "fusion-papers"), "reproduce", "--paper", "segmif", "--profile", "paper", "--rehearse", "1",
           "--data-root", str(mock), "--out", str(out), "--device", "cpu", "--no-progress", "--cell-timeout", "1200"]
    if not FULL:
        cmd += ["-p", "tables", json.dumps(labels)]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=TIMEOUT_S,
                       env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = out / "segmif" / "results"
    missing = [f"{lab}/{f}" for lab in labels for f in PROMISED[lab] if not (res / lab / f).exists()]
    assert not missing, f"promised by the paper profile but not written: {missing}"
    t1 = pd.read_csv(res / "tbl-segmif-1" / "table1.csv")
    ours = t1[t1.astype(str).apply(lambda c: c.str.contains("Ours")).any(axis=1)]
    have = ours[ours["ours"].notna()]            # a class absent from the mock test images has no value: "not run — …"
    assert len(have) and have.status.str.contains("rehearsal").all(), t1.head()
    assert ours[ours["ours"].isna()].status.fillna("").str.startswith("not run").all(), t1.head()
    assert len(list((res / "tbl-segmif-1" / "Ours" / "fused").glob("*.png"))) == 2     # 1 train + 1 test image, full size
    stages = core.load_json(core.record_path(res))["stages"]
    for k in TRAIN_STAGES:
        assert f"tbl-segmif-1/Ours/r1 {k}" in stages, sorted(stages)
    for name, s in stages.items():
        assert s["status"] == "ok", (name, s["status"])
        assert s["progress_bars"] >= 1, f"stage {name} has no progress bar"
        if name.endswith(("fusion", "segmenter")):
            assert s["checkpoints"] >= 1, f"stage {name} saved no checkpoint"
            assert s["projected_gpu_hours"] and s["projected_gpu_hours"] > 0, name
    nbs = sorted(out.rglob("03_segmif.ipynb"))           # a unit run (-p tables) executes into out/segmif/units/<unit>/
    assert len(nbs) == 1, nbs
    executed = json.loads(nbs[0].read_text())
    text = sum(len("".join(o.get("text", ""))) for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert text < 200_000, f"the executed notebook prints {text} characters of text"


def test_committed_record_covers_every_stage():
    "The committed rehearsal record (a real run of the full rehearsal) has every table's training stages, all ok."
    rec = core.committed_rehearsal_record("segmif")
    stages = rec["stages"]
    for tag in ("tbl-segmif-1/Ours", "tbl-segmif-2/Ours", "mfnet/Concatenate", "fmb/Concatenate"):
        for k in TRAIN_STAGES:
            assert f"{tag}/r1 {k}" in stages, (tag, k, sorted(stages))
    assert any(k.startswith("fig-segmif-13/") for k in stages)
    assert all(s["status"] == "ok" and s["progress_bars"] >= 1 for s in stages.values())
    fusion = stages["tbl-segmif-1/Ours/r1 fusion"]
    assert fusion["paper_steps"] == 5000 and fusion["flops_scale"] == 8.0 and fusion["paper_runs"] == 8


def test_data_root_contract(tmp_path):
    "Only the asked tables' datasets are required; a missing one is named with its path and layout; unknown labels refused."
    assert segmif.required_datasets(["table1"]) == {"mfnet": ["tbl-segmif-1"]}
    assert set(segmif.required_datasets(None)) == {"mfnet", "fmb"}
    data.write_mock("mfnet", tmp_path / "mfnet", n=4, seed=0)
    assert set(segmif.check_data_root(tmp_path, ["tbl-segmif-1"])) == {"mfnet"}
    with pytest.raises(FileNotFoundError) as e:
        segmif.check_data_root(tmp_path, ["tbl-segmif-2"])
    assert str(tmp_path / "fmb") in str(e.value) and "tbl-segmif-2" in str(e.value)
    assert data.layout_text("fmb") in str(e.value)                         # the shared message: the expected layout
    with pytest.raises(FileNotFoundError, match="data_root"):
        segmif.check_data_root(None, ["tbl-segmif-1"])
    with pytest.raises(ValueError, match="tbl-segmif-1"):
        segmif.wanted_tables(["tbl-segmif-9"])
    assert segmif.pick_rows(["M4", "M1", "M2"], None, 1, always=("M4",)) == ["M4", "M1"]
    assert segmif.pick_rows(segmif.TABLE12_ROWS, ["Infrared"], 0) == ["Infrared"]


def test_samples_stream_from_disk(tmp_path):
    "A paper-size split holds file names, not images: indexing reads from disk (nothing cached)."
    root = data.write_mock("fmb", tmp_path / "fmb", n=4, seed=0)
    s = segmif.Samples("fmb", root, "train")
    assert not s.cache and len(s) >= 1
    x = s[0]
    assert x["ir"].shape == (600, 800) and x["vis"].shape == (600, 800, 3) and x["mask"].shape == (600, 800)
    assert s._mem == {}
