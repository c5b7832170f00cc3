"""`fusion-papers plan` and `reproduce --collect`: units with dependencies and projected GPU-hours from the committed
rehearsal records ("no record" where a chapter has none), a Slurm script, and the round trip units → collect giving the
tables of one serial run.

The round trip runs on a stand-in chapter notebook (written below: a parameters cell with `tables`/`rows`, rows cached as
`out_dir/<table>/<row>/result.json`, a table CSV assembled from them) so it tests the generic machinery in seconds;
the chapters' own `rows` handling is theirs to test."""
import json
import subprocess
import sys
import types

import nbformat
import pandas as pd
import pytest

from fusion_papers import cli, core

FAKE = '''
import json, os, pathlib
import pandas as pd
ROWS = {"tbl-x-1": ["A", "B"], "tbl-x-2": ["D"]}
out = pathlib.Path(out_dir)
for t, rs in ROWS.items():
    if tables is not None and t not in tables:
        continue
    got = {}
    for r in rs:
        f = out / t / r / "result.json"
        if (rows is None or r in rows) and not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"score": (seed + 1) * (ord(r) - 64) / 7, "pid": os.getpid(),
                                     "nproc": os.environ.get("FUSION_PAPERS_NPROC")}))
        if f.exists():
            got[r] = json.loads(f.read_text())["score"]
    if set(got) == set(rs):
        pd.DataFrame({"row": list(got), "score": list(got.values())}).to_csv(out / t / "table.csv", index=False)
'''


@pytest.fixture
def fake_chapter(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    params = nbformat.v4.new_code_cell('profile = "smoke"\ndata_root = None\ndevice = "auto"\nseed = 0\n'
                                       'out_dir = "results/x"\nrehearse = 0\ntables = None\nrows = None')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(FAKE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, nbs / cli.CHAPTERS["tim"])
    mod = types.ModuleType("fusion_papers.fakechapter")
    mod.plan_units = lambda profile: [dict(table="tbl-x-1", row="A"), dict(table="tbl-x-1", row="B"),
                                      dict(table="tbl-x-2", needs=["tbl-x-1:A"])]
    monkeypatch.setitem(sys.modules, "fusion_papers.fakechapter", mod)
    monkeypatch.setitem(cli.PAPER_MODULES, "tim", "fakechapter")
    return nbs


def test_units_then_collect_equal_serial_run(fake_chapter, tmp_path):
    kw = dict(profile="smoke", nbs=fake_chapter, progress=False)
    units = cli.plan_units("tim", "smoke")
    assert [(u["unit"], u["wave"]) for u in units] == [("tim:tbl-x-1:A", 0), ("tim:tbl-x-1:B", 0), ("tim:tbl-x-2", 1)]
    assert all(u["gpu_hours"] is None and u["basis"].startswith("no record") for u in units)
    cli.reproduce(["tim"], out=tmp_path / "serial", **kw)
    par = tmp_path / "par"
    cli.run_unit("tim:tbl-x-1:A", ["tim"], out=par, **kw)
    with pytest.raises(FileNotFoundError, match=r"tim:tbl-x-1:B.*\n.*tim:tbl-x-2"):   # collect names what is missing
        cli.reproduce(["tim"], out=par, collect=True, **kw)
    cli.run_unit(1, ["tim"], wave=0, out=par, nproc=2, **kw)              # by index within a wave, as a Slurm array task
    res = lambda r: json.loads((par / "tim" / "results" / "tbl-x-1" / r / "result.json").read_text())
    assert res("A")["nproc"] == "1" and res("B")["nproc"] == "2"          # --nproc reaches the chapter's kernel
    cli.run_unit(0, ["tim"], wave=1, out=par, **kw)
    results = {p: p.stat().st_mtime_ns for p in (par / "tim" / "results").rglob("result.json")}
    assert len(results) == 3
    cli.reproduce(["tim"], out=par, collect=True, **kw)
    assert {p: p.stat().st_mtime_ns for p in results} == results          # collect reused every unit's result
    for t in ("tbl-x-1", "tbl-x-2"):
        serial = pd.read_csv(tmp_path / "serial" / "tim" / "results" / t / "table.csv")
        pd.testing.assert_frame_equal(pd.read_csv(par / "tim" / "results" / t / "table.csv"), serial)
    assert (par / "tim" / "units" / "tim__tbl-x-1__A" / "unit.json").exists()
    assert not (par / "reproduce_summary.json").exists() or core.load_json(par / "reproduce_summary.json")["collect"]


def test_plan_caf_costs_from_its_record_and_no_record_elsewhere(capsys):
    units = {u["unit"]: u for u in cli.plan_units("caf", "paper")}
    st = core.committed_rehearsal_record("caf")["stages"]
    h = lambda *names: sum(st[n]["projected_gpu_hours"] for n in names)
    assert units["caf:tbl-caf-1:Ours"]["gpu_hours"] == pytest.approx(
        h("train-det", "tbl-caf-1/m3fd/Ours", "tbl-caf-1/multispectral/Ours"), abs=1e-4)
    assert units["caf:tbl-caf-1:Ours"]["needs"] == ["caf:fig-caf-5"] and units["caf:tbl-caf-1:Ours"]["wave"] == 1
    assert units["caf:tbl-caf-1:DIDFuse"]["needs"] == [] and units["caf:fig-caf-7"]["wave"] == 2
    rows_1 = [u["row"] for u in units.values() if u["table"] == "tbl-caf-1"]
    assert len(rows_1) == 7 and "Ours" in rows_1                   # the paper's seven Table 1 rows
    for paper in ("segmif", "tim", "bilevel"):
        if not (core.project_root() / "fusion_papers" / "rehearsal_records" / f"{cli.PAPER_MODULES[paper]}.json").exists():
            assert all(u["gpu_hours"] is None and u["basis"].startswith("no record") for u in cli.plan_units(paper))


def test_plan_cli_json_and_slurm(tmp_path):
    with open(tmp_path / "p.json", "w") as f:
        cli.plan(["caf"], as_json=True, file=f)
    units = json.loads((tmp_path / "p.json").read_text())
    assert len(units) == 25 and all("command" in u for u in units)
    script = tmp_path / "s.sh"
    with open(script, "w") as f:
        cli.plan(["caf"], slurm=True, file=f)
    text = script.read_text()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    # waves: 14 independent units, then the two Ours rows of Tables 1-2, then Table 3 (its rows reuse them) and Fig. 7
    assert text.count("sbatch --parsable") == 3 and "--array=0-13" in text and "--array=0-8" in text and "afterok" in text and "--collect" in text
