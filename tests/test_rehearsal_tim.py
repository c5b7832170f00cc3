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
                "tbl-tim-4/TIM/result.json", "tbl-tim-5/TIM/result.json", "tbl-tim-4/DID/per_class.csv")
TIMEOUT_S = int(os.environ.get("FUSION_PAPERS_REHEARSAL_TIMEOUT", 1500))


def write_tim_mocks(root, n: int = 4) -> Path:
    root = Path(root)
    for d in TIM_DATASETS:
        data.write_mock(d, root / d, n=n, seed=0)
    return root


@pytest.mark.slow
def test_tim_rehearsal_via_cli(tmp_path, bindir, root):
    "The paper profile on mocks: every promised table/figure written, every stage ok with a bar and a checkpoint, rows labelled rehearsal."
    mock = write_tim_mocks(tmp_path / "mock")
    out = tmp_path / "out"
    r = subprocess.run([str(bindir / "fusion-papers"), "reproduce", "--paper", "tim", "--profile", "paper", "--rehearse", "1",
                        "--data-root", str(mock), "--out", str(out), "--device", "cpu", "--no-progress", "--cell-timeout", "900"],
                       cwd=root, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = out / "tim" / "results"
    missing = [f for f in TIM_PROMISED if not (res / f).exists()]
    assert not missing, f"promised by the paper profile but not written: {missing}"
    stages = core.load_json(core.record_path(res))["stages"]
    assert {"tbl-tim-4/TIM/search", "tbl-tim-4/TIM/train", "tbl-tim-5/TIM/search", "tbl-tim-5/TIM/train",
            "tbl-tim-6/ias/seed0", "tbl-tim-6/darts/seed0", "tbl-tim-9/K=4"} <= set(stages), sorted(stages)
    for name, s in stages.items():
        assert s["status"] == "ok", (name, s["status"])
        assert s["progress_bars"] >= 1, f"stage {name} has no progress bar"
        if s["unit"] == "step":
            assert s["checkpoints"] >= 1, f"stage {name} saved no checkpoint"
            assert s["projected_gpu_hours"] is not None and s["projected_gpu_hours"] > 0, name
    for f in ("tbl-tim-4/table4.csv", "tbl-tim-5/table5.csv", "tbl-tim-10/table10.csv", "tbl-tim-9/table9.csv"):
        txt = (res / f).read_text()
        assert "rehearsal" in txt and "reproduced" not in txt, f
    executed = (out / "tim" / "04_tim.ipynb").read_text()
    text = sum(len("".join(o.get("text", ""))) for c in json.loads(executed)["cells"] for o in c.get("outputs", [])
               if o.get("output_type") == "stream")
    assert text < 200_000, f"the executed notebook prints {text} characters of text"


def test_tim_data_root_contract(tmp_path):
    "Only the datasets of the asked tables are required; every missing one is named with its expected path and layout."
    assert set(tim.required_datasets(["table4"])) == {"multispectral"}
    assert set(tim.required_datasets(["table9"])) == {"tno", "roadscene", "medical_ct", "medical_pet", "medical_spect"}
    assert tim.required_datasets(["table7", "fig4"]) == {}
    data.write_mock("tno", tmp_path / "tno", n=2, seed=0)
    assert set(tim.check_data_root(tmp_path, ["table3"])) == {"tno"}
    with pytest.raises(FileNotFoundError) as e:
        tim.check_data_root(tmp_path, ["table3", "table5", "table4"])
    msg = str(e.value)
    assert str(tmp_path / "msrs") in msg and str(tmp_path / "multispectral") in msg and "table5" in msg and "ir/" in msg
    assert str(tmp_path / "tno") not in msg
    with pytest.raises(ValueError, match="table10"):
        tim.wanted_tables(["table99"])
