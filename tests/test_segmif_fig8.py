"""SegMiF Fig. 8 (issue #14): drawn from per-image metric files, one per method and test set, written by
`segmif.fig8_per_image` through `fmb.fusion_track` — registered methods and a network trained in the run (`ours_fuser`,
labelled with its profile). Checked against independent computations: the metrics of each file's rows equal
`metrics.evaluate` on images fused here directly (pixel mean written out by hand; `SegMiFFuser` called on the pair), the
`max_side` downscale is the INTER_AREA resize applied to both inputs, and the cache is keyed by the weights' tag."""
import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from fusion_papers import data, fmb, metrics, segmif

METRICS = list(segmif.FIG8_METRICS)


@pytest.fixture(scope="module")
def fmb_root(tmp_path_factory):
    return fmb.make_synthetic_fmb(tmp_path_factory.mktemp("fig8") / "fmb", size=(96, 72), seed=0)


def _pairs(root, max_side=None):
    spec = data.get_dataset("fmb")
    for stem, ip, vp in data.list_pairs("fmb", root, "test", strict=False):
        p = data.load_pair_entry(spec, stem, ip, vp)
        ir, vis = p.ir, p.vis
        if max_side:
            h, w = ir.shape
            size = (round(w * max_side / max(h, w)), round(h * max_side / max(h, w)))
            ir, vis = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (ir, vis))
        yield stem, ir, vis


def _y(a):
    return a if a.ndim == 2 else data.rgb_to_ycrcb(a)[..., 0]


def test_fusion_track_callable_downscale_and_cache(fmb_root, tmp_path):
    "A (label, fuse, tag) entry is scored like a registered method; max_side downscales both inputs; the tag keys the cache."
    calls = []

    def mean(ir, vis):                            # the pixel mean, written out (the registered 'average' is the reference)
        calls.append(1)
        return np.clip(data.recombine((ir + _y(vis)) / 2, vis), 0, 1) if vis.ndim == 3 else (ir + vis) / 2
    df = fmb.fusion_track(["average", ("mine", mean, "v1")], fmb_root, metrics=METRICS, cache_dir=tmp_path / "c", max_side=48)
    a, b = df[df.method == "average"], df[df.method == "mine"]
    assert len(a) == len(b) > 0 and (df.convention == "cddfuse").all()
    assert np.allclose(a[METRICS].to_numpy(), b[METRICS].to_numpy(), rtol=1e-5, equal_nan=True)
    for stem, ir, vis in _pairs(fmb_root, 48):    # independent: evaluate on the resized pair fused here
        assert max(ir.shape) == 48
        want = metrics.evaluate(ir, _y(vis), _y(mean(ir, vis)), metrics=METRICS, convention="cddfuse")
        got = b[b.image == stem].iloc[0]
        assert all(np.isclose(got[k], want[k], rtol=1e-5, equal_nan=True) for k in METRICS), (stem, dict(got), want)
    n = len(calls)
    fmb.fusion_track([("mine", mean, "v1")], fmb_root, metrics=METRICS, cache_dir=tmp_path / "c", max_side=48)
    assert len(calls) == n                        # same tag: read from the cache
    fmb.fusion_track([("mine", mean, "v2")], fmb_root, metrics=METRICS, cache_dir=tmp_path / "c", max_side=48)
    assert len(calls) > n                         # new weights (tag): fused again
    n = len(calls)
    fmb.fusion_track([("mine", mean)], fmb_root, metrics=METRICS, cache_dir=tmp_path / "c", max_side=48)
    assert len(calls) > n                         # no tag: never cached


def test_fig8_per_image_files_with_this_runs_net(fmb_root, tmp_path):
    "Per-image files per method; SegMiF as trained in a run (its round file) labelled with the profile; rows = its fuser's metrics."
    S = segmif.resolve_settings("smoke")
    run = tmp_path / "tbl-segmif-2" / "Ours"
    run.mkdir(parents=True)
    torch.manual_seed(0)
    net = segmif.SegMiFFusionNet("full", with_ffm2=False)
    seg = segmif.fresh_segmenter(len(data.FMB_CLASSES), S.seg_variant, 0)
    torch.save({"net": net.state_dict(), "seg": seg.state_dict()}, run / "round_1.pt")
    out = tmp_path / "fig-segmif-8"
    df = segmif.fig8_per_image({"fmb": (fmb_root, "fmb", "test")}, ["average"], out, S, {"fmb": (run, len(data.FMB_CLASSES))})
    files = sorted(p.name for p in (out / "per_image" / "fmb").glob("*.csv"))
    assert files == sorted(["average.csv", fmb.method_folder("SegMiF (this run, smoke)") + ".csv"]), files
    back = pd.concat([pd.read_csv(out / "per_image" / "fmb" / f, dtype={"image": str}) for f in files])
    assert len(back) == len(df) and set(df.method) == {"average", "SegMiF (this run, smoke)"}
    fuse = segmif.SegMiFFuser(net=net, seg=seg, normalise_features=S.feature_normalise)
    ours = df[df.method.str.startswith("SegMiF")]
    for stem, ir, vis in _pairs(fmb_root):
        f = fuse(ir, vis)
        want = metrics.evaluate(ir, _y(vis), _y(f), metrics=METRICS, convention="cddfuse")
        got = ours[ours.image == stem].iloc[0]
        assert all(np.isclose(got[k], want[k], rtol=1e-4, equal_nan=True) for k in METRICS), (stem, dict(got), want)
        assert (out / "fused" / "fmb" / fmb.method_folder("SegMiF (this run, smoke)") / f"{stem}.png").exists()
