"""TIM's paper path, rehearsed (issues #11/#12): `fusion-papers reproduce --paper tim --profile paper --rehearse 1
--data-root MOCK` on mocks of every dataset TIM's tables read runs the search, PMI, fusion training and the task stages
(RetinaNet-R50 + C_FD neck and ResNet-18 + C_FD decoder at 640×480) and writes every promised table/figure with the
rehearsal status; every long stage has a progress bar and a checkpoint; the data-root contract names what is missing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fusion_papers import core, data, tim

HERE = Path(__file__).resolve().parent
#: every dataset the TIM paper profile reads (registry names under data_root)
TIM_DATASETS = ("tno", "roadscene", "medical_ct", "medical_pet", "medical_spect", "multispectral", "msrs")
#: what the TIM paper profile promises to write (cell label folder / file)
TIM_PROMISED = ("tbl-tim-exact/table1.csv", "tbl-tim-exact/table7.csv", "tbl-tim-3/table3.csv", "tbl-tim-4/table4.csv",
                "tbl-tim-5/table5.csv", "tbl-tim-6/table6.csv", "tbl-tim-7/table7_metrics.csv", "tbl-tim-8/table8_metrics.csv",
                "tbl-tim-9/table9.csv", "tbl-tim-10/table10.csv", "tbl-tim-peers/table1_fusion_tno.csv",
                "fig-tim-4/fig4_mi_time.png", "fig-tim-6/fig6_medical.png", "fig-tim-10/fig10_search_curves.png",
                "tbl-tim-4/TIM/result.json", "tbl-tim-5/TIM/result.json", "fig-tim-5/fig5_misaligned.png",
                "fig-tim-12/fig12_pmi_curves.png", "fig-tim-11/fig11_cumulative.png", "fig-tim-8/fig8_det_examples.png",
                "fig-tim-9/fig9_seg_examples.png", "tbl-tim-6/IAS/result_seed0.json", "tbl-tim-9/K=4/result.json",
                "tbl-tim-4/TIM/example.npz")
#: measured: the whole rehearsal took 2003 s wall on the shared 2-core machine at load 8–9, far over CI's rehearsal budget,
#: so CI rehearses a subset that still covers every stage kind but the RetinaNet/ResNet-18 task stages (the IAS search
#: of Table 6, the operator table 7, the misaligned-input Table 3); `FUSION_PAPERS_REHEARSAL_FULL=1` runs all of it.
FULL = os.environ.get("FUSION_PAPERS_REHEARSAL_FULL") == "1"
CI_TABLES = ("table3", "table6", "table7")
TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_REHEARSAL_TIMEOUT", 3000 if FULL else 1200))


def write_tim_mocks(root, n: int = 4) -> Path:
    root = Path(root)
    for d in TIM_DATASETS:
        data.write_mock(d, root / d, n=n, seed=0)
    return root


@pytest.mark.slow
def test_tim_rehearsal_via_cli(tmp_path, bindir, root):
    "The paper profile on mocks: every promised table/figure written, every stage ok with a bar and a checkpoint, rows labelled rehearsal."
    mock = tmp_path / "mock"
    if FULL:
        write_tim_mocks(mock)
    else:                                    # only the datasets of the asked tables (the data-root contract)
        for d in sorted({d for t in CI_TABLES for d in tim.TABLE_DATASETS[t]}):
            data.write_mock(d, mock / d, n=4, seed=0)
    out = tmp_path / "out"
    cmd = [str(bindir / "fusion-papers"), "reproduce", "--paper", "tim", "--profile", "paper", "--rehearse", "1",
           "--data-root", str(mock), "--out", str(out), "--device", "cpu", "--no-progress", "--cell-timeout", "900"]
    if not FULL:
        cmd += ["-p", "tables", json.dumps(list(CI_TABLES))]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = out / "tim" / "results"
    promised = TIM_PROMISED if FULL else tuple(f for f in TIM_PROMISED
                                               if f.split("/")[0] in {"tbl-tim-" + t[5:] for t in CI_TABLES})
    assert len(promised) >= len(CI_TABLES)
    missing = [f for f in promised if not (res / f).exists()]
    assert not missing, f"promised by the paper profile but not written: {missing}"
    stages = core.load_json(core.record_path(res))["stages"]
    want = ({"tbl-tim-4/TIM/search", "tbl-tim-4/TIM/train", "tbl-tim-5/TIM/search", "tbl-tim-5/TIM/train",
             "tbl-tim-6/ias/seed0", "tbl-tim-9/K=4", "tbl-tim-7/3-DC"} if FULL      # Table 8's λ=0.5 reuses tbl-tim-6/ias/seed0
            else {"tbl-tim-6/ias/seed0", "tbl-tim-7/3-DC"})
    assert want <= set(stages), sorted(stages)
    for name, s in stages.items():
        assert s["status"] == "ok", (name, s["status"])
        assert s["progress_bars"] >= 1, f"stage {name} has no progress bar"
        if s["unit"] == "step":
            assert s["checkpoints"] >= 1, f"stage {name} saved no checkpoint"
            assert s["projected_gpu_hours"] is not None and s["projected_gpu_hours"] > 0, name
    for f in (("tbl-tim-4/table4.csv", "tbl-tim-5/table5.csv", "tbl-tim-10/table10.csv", "tbl-tim-9/table9.csv") if FULL
              else ("tbl-tim-3/table3.csv", "tbl-tim-6/table6.csv")):
        txt = (res / f).read_text()
        assert "rehearsal" in txt and "reproduced" not in txt, f
    sfile = out / "reproduce_summary.json"              # a unit run (-p tables) writes out/units/summary_<unit>.json
    summary = json.loads((sfile if sfile.exists() else next((out / "units").glob("summary_*.json"))).read_text())
    assert summary["rehearse"] == 1
    executed = Path(summary["papers"]["tim"]["notebook"]).read_text()
    text = sum(len("".join(o.get("text", ""))) for c in json.loads(executed)["cells"] for o in c.get("outputs", [])
               if o.get("output_type") == "stream")
    assert text < 200_000, f"the executed notebook prints {text} characters of text"


def test_tim_data_root_contract(tmp_path):
    "Only the datasets of the asked tables are required; every missing one is named with its expected path and layout."
    assert set(tim.required_datasets(["table4"])) == {"multispectral"}
    assert set(tim.required_datasets(["table9"])) == {"tno", "roadscene", "medical_ct", "medical_pet", "medical_spect"}
    # Table 7's single-operator nets train and test on the IVIF pairs (run_single_op reads data_root/tno and roadscene);
    # Fig. 4 draws from the efficiency table and needs no dataset
    assert tim.required_datasets(["table7", "fig4"]) == {"tno": ["table7"], "roadscene": ["table7"]}
    assert tim.required_datasets(["fig4"]) == {}
    data.write_mock("tno", tmp_path / "tno", n=2, seed=0)
    assert set(tim.check_data_root(tmp_path, ["table3"])) == {"tno"}
    with pytest.raises(FileNotFoundError) as e:
        tim.check_data_root(tmp_path, ["table3", "table5", "table4"])
    msg = str(e.value)
    assert str(tmp_path / "msrs") in msg and str(tmp_path / "multispectral") in msg and "table5" in msg and "ir/" in msg
    assert str(tmp_path / "tno") not in msg
    with pytest.raises(ValueError, match="table10"):
        tim.wanted_tables(["table99"])


class _Killed(Exception):
    pass


def _stream(seed, n_max=None, size=16):
    "Endless (a, b) batches from a seeded generator; raises `_Killed` after `n_max` batches (a killed run)."
    import torch
    g = torch.Generator().manual_seed(seed)
    i = 0
    while True:
        if n_max is not None and i >= n_max:
            raise _Killed
        i += 1
        yield torch.rand(1, 1, size, size, generator=g), torch.rand(1, 1, size, size, generator=g)


def test_tim_search_and_training_resume_identical(tmp_path):
    "A search and a fusion training killed mid-run resume from their checkpoints and end identical to uninterrupted runs."
    import torch
    lat = {p: 1e-3 * (i + 1) for i, p in enumerate(tim.PRIMITIVES)}

    def supernet():
        torch.manual_seed(0)
        return tim.TIMSupernet(C=4)

    kw = dict(steps=4, inner_T=1, lam=0.5, lat=lat, method="ias", ckpt_every=1)
    ref = supernet()
    h_ref = tim.search(ref, _stream(1), _stream(2), **kw)
    ck = core.Checkpointer(tmp_path / "search", keep=1)
    with pytest.raises(_Killed):                      # killed during step 3 (after 2 saved steps)
        tim.search(supernet(), _stream(1, n_max=5), _stream(2), ckpt=ck, **kw)
    assert ck.latest()[0] == 2
    res = supernet()
    h_res = tim.search(res, _stream(1), _stream(2), ckpt=ck, **kw)
    assert [h["upper"] for h in h_res] == [h["upper"] for h in h_ref]
    for a, b in zip(ref.state_dict().values(), res.state_dict().values()):
        assert torch.equal(a, b)

    def net():
        torch.manual_seed(0)
        return tim.TIMStage1(tim.Genotype(("Residualblocks_3_1", "SPAattention_3")), ("Cell_Chain2",), C=4)

    a = net(); c_ref = tim.train_fusion(a, _stream(3), 5, 1e-3)
    ck2 = core.Checkpointer(tmp_path / "train", keep=1)
    with pytest.raises(_Killed):
        tim.train_fusion(net(), _stream(3, n_max=3), 5, 1e-3, ckpt=ck2, ckpt_every=1)
    b = net(); c_res = tim.train_fusion(b, _stream(3), 5, 1e-3, ckpt=ck2, ckpt_every=1)
    assert c_res == c_ref
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
