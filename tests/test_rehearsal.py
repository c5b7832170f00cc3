"""The paper path, rehearsed (issue #11): the CAF rehearsal runs end to end on mock data through the CLI and writes every
promised table and figure, every long stage has a progress bar and checkpoints; memory does not grow with the dataset;
a killed stage resumes and ends identical to an uninterrupted run; the data-root contract names what is missing."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fusion_papers import caf, core

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import mockdata  # noqa: E402

#: what the CAF paper profile promises to write (cell label folder / file)
CAF_PROMISED = ("fig-caf-1/fig1_search_space.png", "fig-caf-5/fig5_searched_weights.png", "tbl-caf-1/table1.csv",
                "tbl-caf-2/table2.csv", "tbl-caf-3/table3.csv", "fig-caf-7/fig7_metrics.png", "fig-caf-7/fig7_per_image.csv")
REHEARSAL_TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_REHEARSAL_TIMEOUT", 1500))


def _py(code: str, timeout=900, env=None):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")]),
                            **(env or {})})
    return r


@pytest.mark.slow
def test_caf_rehearsal_via_cli(tmp_path, bindir, root):
    "`fusion-papers reproduce --paper caf --profile paper --rehearse 1 --data-root MOCK` finishes on CPU and writes every table/figure."
    mock = mockdata.write_caf_mocks(tmp_path / "mock", n=10)
    out = tmp_path / "out"
    r = subprocess.run([str(bindir / "fusion-papers"), "reproduce", "--paper", "caf", "--profile", "paper", "--rehearse", "1",
                        "--data-root", str(mock), "--out", str(out), "--device", "cpu", "--no-progress", "--cell-timeout", "600"],
                       cwd=root, capture_output=True, text=True, timeout=REHEARSAL_TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = out / "caf" / "results"
    missing = [f for f in CAF_PROMISED if not (res / f).exists()]
    assert not missing, f"promised by the paper profile but not written: {missing}"
    rec = core.load_json(core.record_path(res))
    stages = rec["stages"]
    assert {"search-det", "search-seg", "train-det", "train-seg", "tbl-caf-1/m3fd/Ours", "tbl-caf-1/multispectral/Ours",
            "tbl-caf-2/mfnet/Ours"} <= set(stages), sorted(stages)
    assert "tbl-caf-3/Ours" not in stages   # Table 3's Ours is the Stage-1 network, loaded (run_table3(ours_net=...)), not trained again
    for name, s in stages.items():
        assert s["status"] == "ok", (name, s["status"])
        assert s["progress_bars"] >= 1, f"stage {name} has no progress bar"
        assert s["checkpoints"] >= 1, f"stage {name} saved no checkpoint"   # Fig. 7: one per scored pair
        if name != "fig-caf-7":   # inference over the figure's pairs: no GPU projection
            assert s["projected_gpu_hours"] is not None and s["projected_gpu_hours"] > 0, name
    summary = json.loads((out / "reproduce_summary.json").read_text())
    assert summary["rehearse"] == 1 and summary["papers"]["caf"]["parameters"]["rehearse"] == 1
    executed = (out / "caf" / "02_caf.ipynb").read_text()
    assert "search det" in executed and "step 0:" not in executed          # bars, not one printed line per step
    assert "application/vnd.jupyter.widget-view+json" not in executed        # no live widgets under papermill (core.interactive)
    # what a person scrolls through: printed text (stdout/stderr streams), not the full-resolution figures
    text = sum(len("".join(o.get("text", ""))) for c in json.loads(executed)["cells"] for o in c.get("outputs", [])
               if o.get("output_type") == "stream")
    assert text < 200_000, f"the executed notebook prints {text} characters of text"


def test_reproduce_refuses_unknown_parameter(tmp_path, bindir, root):
    r = subprocess.run([str(bindir / "fusion-papers"), "reproduce", "--paper", "caf", "-p", "no_such_knob", "3",
                        "--out", str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "no_such_knob" in r.stderr and "rehearse" in r.stderr and "seg_iters" in r.stderr   # the valid names are listed


def test_data_root_contract(tmp_path):
    "Only the datasets of the asked tables are required; a missing one is named with its expected path and layout."
    assert set(caf.required_datasets(["tbl-caf-2"], "both")) == {"mfnet", "m3fd", "tno", "roadscene"}
    assert set(caf.required_datasets(["fig-caf-7"])) == {"tno", "roadscene", "m3fd"}
    assert caf.stage_plan(["tbl-caf-1"]) == {"search": ("det",), "train": ("det",)}
    assert caf.required_datasets(None, profile="smoke") == {}
    mockdata.write_caf_mocks(tmp_path, n=3, datasets=("tno", "roadscene", "m3fd"))
    assert set(caf.check_data_root(tmp_path, ["fig-caf-7"])) == {"tno", "roadscene", "m3fd"}
    with pytest.raises(FileNotFoundError) as e:
        caf.check_data_root(tmp_path, ["tbl-caf-1"])
    msg = str(e.value)
    assert str(tmp_path / "multispectral") in msg and "labels/yolo" in msg and "tbl-caf-1" in msg
    with pytest.raises(ValueError, match="fig-caf-7"):
        caf.wanted_tables(["tbl-caf-9"])


def test_fig7_pairs_reused_and_figures_read_data_root(tmp_path, monkeypatch):
    """Fig. 7 writes each scored pair under `cache_dir/pairs/` and a rerun (whole-table cache gone, as after a kill) fuses
    only the pairs not written yet; Fig. 5's pair and the explorer's pairs come from `data_root/<dataset>` when given."""
    from fusion_papers import data, peers
    mock = mockdata.write_caf_mocks(tmp_path / "mock", n=3, datasets=("tno", "m3fd"))
    calls = []
    real_get = peers.get

    def counting(name, **kw):
        f = real_get(name, **kw)
        return lambda ir, vis: (calls.append(name), f(ir, vis))[1]
    monkeypatch.setattr(peers, "get", counting)
    kw = dict(datasets=("tno", "m3fd"), metrics=("MI", "SD"), roots={"tno": mock / "tno", "m3fd": mock / "m3fd"},
              cache_dir=tmp_path / "fig7", progress=False, max_side=128)
    first = caf.fig7_metrics(["average", "max"], **kw)
    n = len(data.list_pairs("tno", root=mock / "tno")) + len(data.list_pairs("m3fd", root=mock / "m3fd"))
    assert len(calls) == 2 * n and len(list((tmp_path / "fig7" / "pairs").glob("*/*.json"))) == n
    (tmp_path / "fig7" / "fig7_per_image.csv").unlink()             # as if killed before the table was written
    one = sorted((tmp_path / "fig7" / "pairs" / "m3fd").glob("*.json"))[0]
    one.unlink()                                                     # ... and before this pair was scored
    calls.clear()
    with core.stage("fig-caf-7", tmp_path / "out", steps=2 * n) as st:
        again = caf.fig7_metrics(["average", "max"], stage=st, **kw)
    assert calls == ["average", "max"], calls                        # only the missing pair was fused again
    assert st.resumed_from == 2 * (n - 1) and st.checkpoints == 1
    key = ["dataset", "method", "image"]
    assert first.sort_values(key).reset_index(drop=True).equals(again.sort_values(key).reset_index(drop=True))
    calls.clear()
    caf.fig7_metrics(["average"], **kw)                              # other arguments: nothing reused
    assert len(calls) == n
    # Fig. 5 / explorer: data_root's copy (its own stems), the fixtures without data_root
    folder, stems, label = caf.showcase_pairs("m3fd", ["00512"], mock)
    assert folder == mock / "m3fd" and stems == [data.list_pairs("m3fd", root=mock / "m3fd")[0][0]] and "mock data" in label
    assert caf.showcase_pairs("tno", ["05"], None)[:2] == (None, ["05"])
    assert caf.showcase_pairs("roadscene", ["FLIR_00211"], mock)[0] is None      # not under data_root: fixtures
    if core.has_fixtures("weights", "caf_det.pth"):
        out = caf.official_pair_outputs(stems[0], max_side=64, dataset_dir=folder)
        ref = data.load_pair_entry("m3fd", *data.list_pairs("m3fd", root=folder)[0])
        assert list(out) == ["IR", "VIS", "CAF-det", "CAF-seg"] and max(out["IR"].shape) == 64
        assert out["IR"].shape[1] / out["IR"].shape[0] == pytest.approx(ref.ir.shape[1] / ref.ir.shape[0], rel=0.02)


_MEM = """
import json, numpy as np
from pathlib import Path
from dataclasses import replace
from fusion_papers import caf, core
root = Path({root!r}); out = Path({out!r})
S = replace(caf.resolve_settings("smoke"), det_arch="yolov8n", task_epochs=1, task_imgsz=64, batch_size=2)
for b in caf.StreamBatches("det", "m3fd", root, "train", 320, 2):      # the search's batches, streamed
    pass
caf.finetune_task("det", lambda ir, vis: 0.5 * (vis if vis.ndim == 2 else vis) + 0.0, "m3fd", root, S, out / "ft", progress=False)
caf.fusion_metrics(lambda ir, vis: vis, caf.iter_pairs_scaled("m3fd", root))
caf.fig7_metrics(["average"], datasets=("m3fd",), metrics=("MI", "SD"), roots={{"m3fd": root}}, fused_dir=out / "fused", progress=False)
p = caf.fusion_patches(64, 320, 0, datasets=("m3fd",), roots={{"m3fd": root}}, cache=out / "patches.npy")
d = {{l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")}}
print(json.dumps({{"peak_mb": d["VmHWM"] / 1024}}))
"""


#: mock sizes of the memory test: n and 2n M3FD pairs (1024×768). A loaded pair is 1024·768·4 float32 values (IR + RGB, the
#: house image format): a stage that kept every loaded image would grow the peak by that much per extra pair
MEM_N = 6
_PAIR_BYTES = 1024 * 768 * 4 * 4


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for peak RSS")
def test_memory_does_not_grow_with_dataset(tmp_path):
    """The streaming stages (search batches, task fine-tuning, fusion metrics, Fig. 7, patches) on a mock M3FD of n and of
    2n pairs (1024×768): peak RSS grows by less than 10 % (the issue's bound) and by less than half of what holding the n
    extra loaded pairs (float32) would add (a bound that a list of images could not pass)."""
    peaks = {}
    for n in (MEM_N, 2 * MEM_N):
        root = mockdata.write_mock("m3fd", tmp_path / f"m3fd_{n}", n=n, seed=1)
        r = _py(_MEM.format(root=str(root), out=str(tmp_path / f"out_{n}")), env={"FUSION_PAPERS_BATCH": "1"}, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        peaks[n] = json.loads(r.stdout.strip().splitlines()[-1])["peak_mb"]
    a, b = peaks[MEM_N], peaks[2 * MEM_N]
    held = MEM_N * _PAIR_BYTES / 2**20
    print(f"peak RSS: n={MEM_N} {a:.0f} MB, n={2 * MEM_N} {b:.0f} MB, growth {b - a:+.1f} MB ({100 * (b / a - 1):.1f} %); "
          f"{MEM_N} extra loaded pairs held in memory would add {held:.0f} MB")
    assert b / a - 1 < 0.10, peaks
    assert b - a < held / 2, f"peak RSS grew by {b - a:.1f} MB for {MEM_N} extra pairs (held as loaded float32 images they take {held:.0f} MB): {peaks}"


_RESUME = """
import json, os, torch
from dataclasses import replace
from pathlib import Path
from fusion_papers import caf, core
out = Path({out!r}); crash_after = {crash}
if crash_after:
    _save = core.Checkpointer.save
    n_saves = []
    def save(self, epoch, state):
        p = _save(self, epoch, state); n_saves.append(epoch)
        if len(n_saves) == crash_after:
            os._exit(9)          # a hard kill right after a checkpoint: no cleanup, no final result
        return p
    core.Checkpointer.save = save
# the chapter's own stage runners (seeding, checkpoint folders, caching as the notebook uses them); rehearse=1 saves every step
S = replace(caf.resolve_settings("smoke"), search_epochs=1, search_steps=3, train_epochs=3, train_steps=2, image_size=48, rehearse=1)
res = caf.run_search("det", S, out, device="cpu", seed=0, progress=False)
tr, net = caf.run_training("det", S, res, out, device="cpu", seed=0, progress=False)
torch.save(net.state_dict(), out / "net.pt")
rec = core.load_json(core.record_path(out))["stages"]
print(json.dumps(dict(beta=res["beta"], hist=[[h["upper_val_loss"], h["hypergrad_norm"], h["weights"]] for h in res["history"]],
                      train=[h["loss"] for h in tr["history"]], resumed={{k: rec[k].get("resumed_from") for k in rec}})))
"""


def _same_weights(a, b) -> bool:
    sa, sb = torch.load(a), torch.load(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_search_and_training_resume_identical(tmp_path):
    """Two uninterrupted runs of the search (3 steps) + training (3 epochs) agree bit for bit (seeded task-net init, data
    order, RNG); a run killed right after the search's 2nd checkpoint, or after the training's 2nd epoch (5th save), resumes
    from that checkpoint and ends bit-identical: β, every step's validation loss / hypergradient norm / weights, the
    training losses and the trained network's weights."""
    env = {"FUSION_PAPERS_BATCH": "1"}
    runs = {}
    for name in ("full", "full_again"):
        r = _py(_RESUME.format(out=str(tmp_path / name), crash=0), env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[name] = json.loads(r.stdout.strip().splitlines()[-1])
    a = runs["full"]
    assert a["resumed"]["search-det"] is None and a["resumed"]["train-det"] is None, a["resumed"]
    assert runs["full_again"] == a, "two uninterrupted runs differ: the run is not deterministic (not a resume problem)"
    assert _same_weights(tmp_path / "full" / "net.pt", tmp_path / "full_again" / "net.pt"), "two uninterrupted runs train different weights"
    # the search saves after each of its 3 steps, the training after each of its 3 epochs
    for crash, what, stage_name, resumed in ((2, "search", "search-det", 2), (5, "training", "train-det", 2)):
        d = tmp_path / f"killed_{what}"
        k = _py(_RESUME.format(out=str(d), crash=crash), env=env, timeout=600)
        assert k.returncode == 9, (what, k.returncode, k.stderr[-2000:])
        r = _py(_RESUME.format(out=str(d), crash=0), env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        b = json.loads(r.stdout.strip().splitlines()[-1])
        assert b["resumed"][stage_name] == resumed, (what, b["resumed"])
        for key in ("beta", "hist", "train"):
            assert b[key] == a[key], f"{what} killed and resumed: {key} differs from the uninterrupted run: {b[key]} vs {a[key]}"
        assert _same_weights(tmp_path / "full" / "net.pt", d / "net.pt"), f"{what} killed and resumed: trained weights differ"
