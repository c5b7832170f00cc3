"""`fusion-papers metrics` on single images and on folders."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fusion_papers import core, metrics
from fusion_papers.cli import main


@pytest.fixture()
def triple(tmp_path):
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (64, 72), dtype=np.uint8)
    vi = rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)
    fu = ((ir[..., None].astype(int) + vi) // 2).astype(np.uint8)
    for name, im in (("ir", ir), ("vi", vi), ("fu", fu)):
        Image.fromarray(im).save(tmp_path / f"{name}.png")
    return tmp_path, ir, vi, fu


@pytest.mark.parametrize("convention", metrics.CONVENTIONS)
def test_single_json(triple, capsys, convention):
    d, ir, vi, fu = triple
    rc = main(["metrics", "--ir", str(d / "ir.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png"),
               "--convention", convention, "--metrics", "EN,MI,SSIM,PSNR", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["EN", "MI", "SSIM", "PSNR"]
    ref = metrics.evaluate(ir, vi, fu, ["EN", "MI", "SSIM", "PSNR"], convention)
    assert out == pytest.approx(ref, rel=1e-12)


def test_single_default_all_metrics_text(triple, capsys):
    d, *_ = triple
    assert main(["metrics", "--ir", str(d / "ir.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png"),
                 "--metrics", "fast"]) == 0
    text = capsys.readouterr().out
    assert "convention: cddfuse" in text and "Qabf" in text and "FMI" not in text


def test_folders_table_and_csv(tmp_path, triple, capsys):
    d, ir, vi, fu = triple
    for sub in ("ir", "vi", "fused"):
        (tmp_path / sub).mkdir()
    for k in ("a", "b"):
        shutil.copy(d / "ir.png", tmp_path / "ir" / f"{k}.png")
        shutil.copy(d / "vi.png", tmp_path / "vi" / f"{k}.png")
        shutil.copy(d / "fu.png", tmp_path / "fused" / f"{k}_avg.png")
        shutil.copy(d / "ir.png", tmp_path / "fused" / f"{k}_copyir.png")
    args = ["metrics", "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vi"), "--fused", str(tmp_path / "fused"),
            "--metrics", "EN,SSIM", "--convention", "tang"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "convention: tang" in text and "copyir" in text and "±" in text
    out = tmp_path / "res.csv"
    assert main(args + ["--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 4 and set(table["method"]) == {"avg", "copyir"} and (table["convention"] == "tang").all()
    summary = pd.read_csv(tmp_path / "res_summary.csv")
    assert set(summary["metric"]) == {"EN", "SSIM"} and (summary["n"] == 2).all()
    assert table.loc[table["method"] == "avg", "SSIM"].iloc[0] == pytest.approx(metrics.evaluate(ir, vi, fu, ["SSIM"], "tang")["SSIM"])


def test_errors_are_clear(triple, capsys, tmp_path):
    d, *_ = triple
    assert main(["metrics", "--ir", str(d / "nope.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png")]) == 1
    assert "nope.png" in capsys.readouterr().err
    assert main(["metrics", "--ir", str(d), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png")]) == 1
    assert "three files or three folders" in capsys.readouterr().err
    assert main(["metrics", "--ir", str(d / "ir.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png"), "--metrics", "XYZ"]) == 1
    assert "XYZ" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["metrics", "--ir", str(tmp_path / "bad.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png"),
                 "--convention", "vifb"]) == 1
    assert "bad.png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["metrics", "--ir", "a", "--vis", "b", "--fused", "c", "--convention", "matlab"])


def test_vifb_folder_matches_reference(tmp_path, capsys):
    if not core.has_fixtures("vifb"):
        pytest.skip("shared VIFB fixtures not available")
    root = core.fixture("vifb")
    fused = tmp_path / "fused"; fused.mkdir()
    for m in ("ADF", "GTF"):                             # links, not copies, to two fused images
        (fused / f"kettle_{m}.jpg").symlink_to(root / "fused" / f"kettle_{m}.jpg")
    ir, vi = tmp_path / "ir", tmp_path / "vi"
    ir.mkdir(); vi.mkdir()
    (ir / "kettle.jpg").symlink_to(root / "ir" / "kettle.jpg"); (vi / "kettle.jpg").symlink_to(root / "vi" / "kettle.jpg")
    assert main(["metrics", "--ir", str(ir), "--vis", str(vi), "--fused", str(fused), "--convention", "vifb",
                 "--metrics", "EN,Qabf,SSIM", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ref = pd.read_csv(root / "matlab_values.csv").query("image == 'kettle'")
    for r in rows:
        for ours, theirs in (("EN", "Entropy"), ("Qabf", "Qabf"), ("SSIM", "Ssim")):
            want = ref.query("method == @r['method'] and metric == @theirs")["value"].iloc[0]
            assert r[ours] == pytest.approx(want, rel=1e-4)


def test_console_script(triple):
    exe = shutil.which("fusion-papers")
    d, *_ = triple
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from fusion_papers.cli import main; sys.exit(main())"]
    r = subprocess.run(cmd + ["metrics", "--ir", str(d / "ir.png"), "--vis", str(d / "vi.png"), "--fused", str(d / "fu.png"),
                              "--metrics", "EN", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)) == {"EN"}
