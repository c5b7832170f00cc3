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
            "tbl-caf-2/mfnet/Ours", "tbl-caf-3/Ours"} <= set(stages), sorted(stages)
    for name, s in stages.items():
        assert s["status"] == "ok", (name, s["status"])
        assert s["progress_bars"] >= 1, f"stage {name} has no progress bar"
        if name != "fig-caf-7":   # inference only: per-image outputs, no training state to checkpoint
            assert s["checkpoints"] >= 1, f"stage {name} saved no checkpoint"
            assert s["projected_gpu_hours"] is not None and s["projected_gpu_hours"] > 0, name
    summary = json.loads((out / "reproduce_summary.json").read_text())
    assert summary["rehearse"] == 1 and summary["papers"]["caf"]["parameters"]["rehearse"] == 1
    executed = (out / "caf" / "02_caf.ipynb").read_text()
    assert "search det" in executed and "step 0:" not in executed          # bars, not one printed line per step
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


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for peak RSS")
def test_memory_does_not_grow_with_dataset(tmp_path):
    "The streaming stages on a mock M3FD of n and of 2n pairs (1024×768): peak RSS grows by less than 10 %."
    peaks = {}
    for n in (12, 24):
        root = mockdata.write_mock("m3fd", tmp_path / f"m3fd_{n}", n=n, seed=1)
        r = _py(_MEM.format(root=str(root), out=str(tmp_path / f"out_{n}")), env={"FUSION_PAPERS_BATCH": "1"})
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        peaks[n] = json.loads(r.stdout.strip().splitlines()[-1])["peak_mb"]
    growth = peaks[24] / peaks[12] - 1
    print(f"peak RSS: n=12 {peaks[12]:.0f} MB, n=24 {peaks[24]:.0f} MB, growth {100 * growth:.1f} %")
    assert growth < 0.10, peaks


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
