"""Real distributions (#17): `data check` on copies in every documented release layout — built from the real distributed
files where the shared fixtures have them (RoadScene `cropinfrared` + `crop_LR_visible`, the MSRS image and label trees
rebuilt from MANIFEST.csv's source paths, the M3FD COCO json sizes, CDDFuse's medical folders), from mocks otherwise —
plus `data mock`, `data adapt` and the known release defects."""
import csv
import json
import os
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from fusion_papers import core, data
from fusion_papers.cli import main


def run(capsys, *argv):
    rc = main(["data", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def link(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src.resolve(), dst)


def manifest() -> list[dict]:
    return list(csv.DictReader(open(core.fixtures_root() / "MANIFEST.csv")))


# --- every layout of every dataset, as a mock -------------------------------------------------------------------

LAYOUTS = [(n, l.key) for n, s in data.DATASETS.items() for l in s.layouts]


@pytest.mark.parametrize("name,key", LAYOUTS, ids=[f"{n}-{k}" for n, k in LAYOUTS])
def test_mock_in_every_layout_passes_check_and_is_recognised(tmp_path, name, key):
    spec = data.get_dataset(name)
    r = data.write_mock(name, tmp_path / name, n=2, seed=1, layout=key)
    rep = data.check_dataset(name, r)
    assert rep.ok, str(rep)
    assert data.find_layout(spec, r).key == key
    assert data.is_mock(r) and data.is_mock(tmp_path) and any("MOCK copy" in n for n in rep.notes)
    assert rep.n_pairs == 2
    lay = spec.get_layout(key)
    # file conventions of the release: extension and channel layout
    stem, irp, visp = data.list_pairs(name, r)[0]
    ext, mode = lay.ir_file.split(":")
    assert irp.suffix == "." + ext
    raw = data.read_mfnet(irp) if mode == "RGBA4" else data.read_image(irp)
    if mode == "L":
        assert raw.ndim == 2
    elif mode == "RGBgray":
        assert raw.ndim == 3 and raw.shape[2] == 3
    if spec.sizes and not lay.single_file:
        assert data._image_size(irp) in spec.sizes


def test_mock_sizes_are_the_paper_sizes(tmp_path):
    for name, size in (("m3fd", (1024, 768)), ("fmb", (800, 600)), ("msrs", (640, 480)), ("llvip", (1280, 1024))):
        r = data.write_mock(name, tmp_path / name, n=1)
        assert data._image_size(data.list_pairs(name, r)[0][1]) == size


def test_mock_boxes_and_masks_are_exact(tmp_path):
    r = data.write_mock("msrs", tmp_path / "msrs", n=2, layout="official")
    pair, boxes, seg = data.synthetic_pair(0, (640, 480), data.SYNTH_SCENES[0])
    cls, xyxy = data.load_boxes("msrs", "00001D", r, annotation="infrared")
    np.testing.assert_allclose(xyxy, boxes[:, 1:], atol=1e-3)                 # YOLO text keeps 6 decimals
    assert [data.MSRS_DET_CLASSES[c] for c in cls] == [("person", "car")[int(c)] for c in boxes[:, 0]]
    m = data.load_mask("msrs", "00001D", r)
    want = np.select([seg == data.SYNTH_SEG_CLASSES.index("person"), seg == data.SYNTH_SEG_CLASSES.index("car")],
                     [data.MFNET_CLASSES.index("person"), data.MFNET_CLASSES.index("car")], 0)
    np.testing.assert_array_equal(m, want)
    assert data.load_boxes("msrs", "00002N", r, annotation="visible")[0].size == 0   # night: no visible boxes


def test_cli_mock_then_check(capsys, tmp_path):
    rc, out, _ = run(capsys, "mock", "m3fd", str(tmp_path / "m3fd"), "-n", "2", "--layout", "tardal")
    assert rc == 0 and "rehearsal (mock data)" in out
    rc, out, _ = run(capsys, "check", "m3fd", str(tmp_path / "m3fd"))
    assert rc == 0, out
    assert "layout: tardal:" in out and "880x520: 1" in out and "OK: 2 pairs" in out
    rc, out, _ = run(capsys, "mock", "medical", str(tmp_path / "med"), "-n", "2", "--layout", "cddfuse")
    rc, out, _ = run(capsys, "check", "medical", str(tmp_path / "med"))
    assert rc == 0 and out.count("layout: cddfuse") == 3, out


# --- M3FD: sizes from the official XML (COCO json), TarDAL copies, --full -----------------------------------------

@pytest.mark.skipif(not core.has_fixtures("m3fd"), reason="no M3FD fixtures")
def test_m3fd_size_runs_equal_the_coco_json():
    runs = defaultdict(list)
    n = 0
    for sp in ("train", "val", "test"):
        d = json.loads((core.fixtures_root() / "m3fd" / "annotations" / f"m3fd-{sp}.json").read_text())
        for im in d["images"]:
            n += 1
            if (im["width"], im["height"]) != (1024, 768):
                runs[(im["width"], im["height"])].append(Path(im["file_name"]).stem)
    assert n == 4200 and sum(map(len, runs.values())) == 274
    got = {k: (min(v), max(v), len(v)) for k, v in runs.items()}
    assert got == data.M3FD_SIZE_RUNS
    for (w, h), (a, b, k) in got.items():          # contiguous runs
        assert int(b) - int(a) + 1 == k
    assert set(data.get_dataset("m3fd").sizes) == {(1024, 768), *got}


@pytest.mark.skipif(not core.has_fixtures("m3fd"), reason="no M3FD fixtures")
def test_m3fd_tardal_copy_from_fixture_files(capsys, tmp_path):
    fx = core.fixtures_root() / "m3fd"
    root = tmp_path / "m3fd"
    stems = sorted(p.stem for p in (fx / "ir").glob("*.png"))
    for s in stems:
        link(fx / "ir" / f"{s}.png", root / "ir" / f"{s}.png")
        link(fx / "vi" / f"{s}.png", root / "vi" / f"{s}.png")
        link(fx / "labels" / "yolo" / f"{s}.txt", root / "labels" / f"{s}.txt")
    (root / "meta").mkdir()
    (root / "meta" / "train.txt").write_text("".join(f"{s}.png\n" for s in stems[:6]))
    (root / "meta" / "val.txt").write_text("".join(f"{s}.png\n" for s in stems[6:]))
    rc, out, _ = run(capsys, "check", "m3fd", str(root), "--full")
    assert "layout: tardal:" in out and "meta/train.txt: 6 ids" in out
    problems = [l for l in out.splitlines() if "PROBLEM" in l]
    assert problems and not any("checksum" in l for l in problems)      # --full: counts only; derived files never required
    cls, xyxy = data.load_boxes("m3fd", "00471", root)
    ref = data.load_boxes("m3fd", "00471")
    np.testing.assert_array_equal(cls, ref[0]); np.testing.assert_array_equal(xyxy, ref[1])
    assert data.dataset_split("m3fd", "val", root) == stems[6:]
    dst = data.adapt("m3fd", root, tmp_path / "canon")
    assert data.find_layout("m3fd", dst).key == "canonical" and data.check_dataset("m3fd", dst).ok
    assert (dst / "labels" / "yolo" / "00471.txt").is_symlink()


@pytest.mark.skipif(not core.has_fixtures("m3fd"), reason="no M3FD fixtures")
def test_m3fd_official_copy_with_a_smaller_frame(tmp_path):
    fx = core.fixtures_root() / "m3fd"
    root = data.write_mock("m3fd", tmp_path / "off", n=2, layout="detection")
    os.remove(root / data.MOCK_MARKER)                  # treat it as a real copy: registry checksums apply
    link(fx / "ir" / "00471.png", root / "Ir" / "00471.png")
    link(fx / "vi" / "00471.png", root / "Vis" / "00471.png")
    (root / "Annotation" / "00471.xml").write_text(data._voc_xml("00471", ".png", (1024, 768), [("Car", 0, 379, 350, 578)]))
    rep = data.check_dataset("m3fd", root, full=False)
    assert rep.ok, str(rep)
    assert any("880x520: 1" in n for n in rep.notes) and any("checksums: 2 of 2" in n for n in rep.notes)
    full = data.check_dataset("m3fd", root, full=True)
    missing = [p for p in full.problems if "known checksum is missing" in p]
    assert missing and all("/Ir/" in p or "/Vis/" in p for p in missing)   # only images, never derived label files


# --- RoadScene: the release's cropinfrared + crop_LR_visible, from the real files -----------------------------------

@pytest.mark.skipif(not core.has_fixtures("roadscene"), reason="no RoadScene fixtures")
def test_roadscene_release_layout_from_real_files(capsys, tmp_path):
    fx = core.fixtures_root() / "roadscene"
    root = tmp_path / "RoadScene"
    for f in sorted((fx / "ir").iterdir()):
        link(f, root / "cropinfrared" / f.name)
    for f in sorted((fx / "vi").iterdir()):
        link(f, root / "crop_LR_visible" / f.name)
    # crop_HR_visible: larger, not registered to the IR images (a wrong pairing would fail on every pair)
    small = sorted((fx / "vi").iterdir())[:2]
    for f in small:
        import cv2
        a = data.read_image(f)
        data.save_image(root / "crop_HR_visible" / f.name, cv2.resize(a, (a.shape[1] * 3, a.shape[0] * 3)))
    (root / "crop_LR_visible" / "Thumbs.db").write_bytes(b"\xd0\xcf")
    rc, out, _ = run(capsys, "check", "roadscene", str(root))
    assert rc == 0, out
    assert "layout: release: cropinfrared/ + crop_LR_visible/" in out and "checksums: 100 of 100 present files match" in out
    assert "OK: 50 pairs" in out
    p = next(data.iter_pairs("roadscene", root))
    assert p.ir.shape == p.vis.shape[:2]
    dst = data.adapt("roadscene", root, tmp_path / "canon")            # links into ir/ + vi/: the registry's paths
    rep = data.check_dataset("roadscene", dst, full=False)
    assert rep.ok and data.find_layout("roadscene", dst).key == "canonical"
    assert "checksums: 100 of 100 present files match (100 known)" in rep.notes


# --- MSRS: the official split tree + the label repository's tree, rebuilt from MANIFEST's source paths ----------------

@pytest.mark.skipif(not core.has_fixtures("msrs"), reason="no MSRS fixtures")
def test_msrs_official_tree_with_the_real_label_repository(capsys, tmp_path):
    fx = core.fixtures_root()
    root = tmp_path / "MSRS"
    rows = [r for r in manifest() if r["path"].startswith("msrs/labels/yolo/") and r["source_repo"] == "Lele-3/MSRS-detection-label"]
    # the repository's split of each id, from the source paths of the fusion set (fusion/test/00537D.txt, ...)
    split_of = {Path(r["source_path"]).stem: r["source_path"].split("/")[1] for r in rows
                if r["source_path"].startswith("fusion/")}
    assert len(split_of) == 6 and sorted(split_of.values()).count("test") == 2
    for r in rows:                                    # {set}/{split}/<id>.txt, the label repository's own tree
        parts = Path(r["path"]).relative_to("msrs/labels/yolo").parts
        if len(parts) == 2:
            link(fx / r["path"], root / "labels" / "yolo" / parts[0] / split_of[Path(parts[1]).stem] / parts[1])
        else:
            link(fx / r["path"], root / "labels" / "yolo" / parts[0])        # classes.txt
    for stem, sp in split_of.items():
        link(fx / "msrs" / "ir" / f"{stem}.png", root / sp / "ir" / f"{stem}.png")
        link(fx / "msrs" / "vi" / f"{stem}.png", root / sp / "vi" / f"{stem}.png")
    rc, out, _ = run(capsys, "check", "msrs", str(root))
    assert rc == 0, out
    assert "layout: official:" in out and "checksums: 12 of 12 present files match" in out
    assert "labels/yolo/fusion: 6 label files" in out
    ref = data.load_boxes("msrs", "00556D", annotation="infrared")       # fixture (flattened) copy
    got = data.load_boxes("msrs", "00556D", root, annotation="infrared")
    np.testing.assert_array_equal(ref[1], got[1])
    dst = data.adapt("msrs", root, tmp_path / "flat")
    assert data.find_layout("msrs", dst).key == "canonical" and data.check_dataset("msrs", dst).ok
    assert sorted(data.read_split_file(dst / "splits" / "test.txt")) == sorted(s for s, v in split_of.items() if v == "test")
    # the label repository kept elsewhere: --labels
    os.rename(root / "labels" / "yolo", tmp_path / "MSRS-detection-label")
    rc, out, _ = run(capsys, "check", "msrs", str(root))
    assert rc == 0 and "no box labels" in out
    rc, out, _ = run(capsys, "adapt", "msrs", str(root), str(tmp_path / "flat2"), "--labels", str(tmp_path / "MSRS-detection-label"))
    assert rc == 0 and "18 label files" in out, out


# --- Multispectral: the release layout, 8 ids, the paper's 5-class rule ----------------------------------------------

def test_multispectral_release_eight_ids(tmp_path):
    r = data.write_mock("multispectral", tmp_path / "ms", n=4, layout="release")
    ids = set()
    for s, _, _ in data.list_pairs("multispectral", r):
        ids |= set(data.load_boxes("multispectral", s, r)[0].tolist())
    assert ids & {5, 6, 7}                                   # bump / hole / animal occur and do not raise
    for s, _, _ in data.list_pairs("multispectral", r):
        cls, xyxy = data.load_boxes("multispectral", s, r, classes=data.MULTISPECTRAL_CLASSES)
        assert len(cls) == len(xyxy) and (cls < 5).all()
    dst = data.adapt("multispectral", r, tmp_path / "arranged", annotation="rgb")
    assert data.find_layout("multispectral", dst).key == "canonical" and data.check_dataset("multispectral", dst).ok
    assert os.readlink(dst / "labels" / "yolo" / "00001.txt").endswith("labels/rgb/00001.txt")


# --- FMB: unequal counts reported once as a known defect -------------------------------------------------------------

def test_fmb_unequal_counts_are_a_known_defect(capsys, tmp_path):
    r = data.write_mock("fmb", tmp_path / "fmb", n=4, defects=True)
    rc, out, _ = run(capsys, "check", "fmb", str(r))
    assert rc == 0, out
    assert out.count("KNOWN DEFECT") == 1 and "SegMiF issue #6" in out and "train/Infrared/00005.png" in out
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pairs = data.list_pairs("fmb", r)
    assert len(pairs) == 4 and any("known defect" in str(x.message) for x in w)


# --- Medical: CDDFuse's folder names and counts ---------------------------------------------------------------------

@pytest.mark.skipif(not core.has_fixtures("medical"), reason="no medical fixtures")
def test_medical_cddfuse_folders(capsys, tmp_path):
    fx = core.fixtures_root() / "medical"
    for sub, other in (("ct", "CT"), ("pet", "PET"), ("spect", "SPECT")):
        for f in (fx / f"mri_{sub}" / "mri").iterdir():
            link(f, tmp_path / f"MRI_{other}" / "MRI" / f.name)
        for f in (fx / f"mri_{sub}" / "other").iterdir():
            link(f, tmp_path / f"MRI_{other}" / other / f.name)
    rc, out, _ = run(capsys, "check", "medical", str(tmp_path))
    assert rc == 0, out
    assert out.count("layout: cddfuse") == 3 and out.count("checksums: 42 of 42") == 3
    assert "21 pairs found (full release: 42)" in out and "21 pairs found (full release: 73)" in out
    assert [data.get_dataset(f"medical_{s}").n_pairs for s in ("ct", "pet", "spect")] == [21, 42, 73]
