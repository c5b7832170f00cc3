"""The torch metrics (`metrics_torch`, nbs/00bb) equal the numpy path to 1e-6 relative: on real fixture pairs
(MSRS, TNO, RoadScene), on adversarial images, batched or pair by pair, and through the routing of
`metrics.evaluate(device=...)`, `evaluate_batch` and `fusion-papers metrics --device`; the `vifb` convention (RGB per
channel, a gray source reused, a gray fused image against RGB sources) on VIFB fixture triples; the five FMI variants
batched in torch (`torch_fmi=True`; by default only on a GPU) against the numpy path's compiled kernel. On the CPU by default;
FUSION_PAPERS_TEST_DEVICE=cuda runs the torch side on a GPU (never executed on the build machine: it has none)."""
import json
import os

import numpy as np
import pytest

from fusion_papers import core, metrics as M

torch = pytest.importorskip("torch")
from fusion_papers import metrics_torch as T  # noqa: E402

DEVICE = os.environ.get("FUSION_PAPERS_TEST_DEVICE", "cpu")
SUITE = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "CC", "PSNR", "MSE")
DATASETS = ("msrs", "tno", "roadscene")


def _pairs(ds, n, conv="cddfuse"):
    "The first `n` fixture pairs of `ds` as level arrays, with two fused images each (rounded average, 70/30 floor)."
    if not core.has_fixtures(ds):
        pytest.skip(f"fixture {ds} missing")
    from fusion_papers.data import images_by_stem
    ir, vi = images_by_stem(core.fixture(ds) / "ir"), images_by_stem(core.fixture(ds) / "vi")
    out = []
    for stem in sorted(ir)[:n]:
        a, b, _ = M.prepare(ir[stem], vi[stem], ir[stem], conv)
        out.append((stem, a, b, np.round((a + b) / 2)))
        out.append((stem + "-blend", a, b, np.floor(0.7 * a + 0.3 * b)))
    return out


def _assert_equal(d, tol=1e-6):
    bad = d[d.rel_diff > tol]
    assert bad.empty, bad.to_string()


@pytest.mark.parametrize("ds", DATASETS)
def test_cddfuse_suite_on_fixture_pairs(ds):
    for stem, a, b, f in _pairs(ds, 1):
        _assert_equal(T.check_against_numpy(a[None], b[None], f[None], SUITE, "cddfuse", DEVICE))


@pytest.mark.parametrize("conv", ["cddfuse", "tang", "dut", "tang2022"])
def test_every_torch_metric_on_a_fixture_pair(conv):
    "Every metric with a torch version, on a 640x480 MSRS pair (MS-SSIM computed, not NaN) and a TNO crop."
    _, a, b, f = _pairs("msrs", 1, conv)[0]
    _, a2, b2, f2 = _pairs("tno", 1, conv)[1]
    for A, B, F in ((a, b, f), (a2[:200, :180], b2[:200, :180], f2[:200, :180])):
        d = T.check_against_numpy(A[None], B[None], F[None], "fast", conv, DEVICE)
        assert set(d.metric) == set(T.torch_metrics(conv, "fast"))
        _assert_equal(d)


def _adversarial(h, w):
    z, one = np.zeros((h, w)), np.ones((h, w))
    half = np.where(np.arange(w)[None, :] < w // 2, 0.0, 255.0) * one
    ramp = np.round(np.linspace(0, 255, h * w)).reshape(h, w)
    noise = np.round(np.random.default_rng(2).random((h, w)) * 255)
    A = np.stack([z, 128 * one, 255 * one, half, ramp, noise, noise])
    B = np.stack([z, 128 * one, 255 * one, 255 - half, ramp[::-1], 255 * one, z])
    F = np.stack([z, 128 * one, 255 * one, half, np.round((ramp + noise) / 2), noise, 255 - noise])
    return A, B, F


@pytest.mark.parametrize("conv", ["cddfuse", "tang", "dut", "tang2022"])
@pytest.mark.parametrize("hw", [(40, 36), (8, 8)], ids=["40x36", "8x8"])
def test_adversarial_images(conv, hw):
    "Constant (0, 128, 255), saturated halves, ramps, F equal to a source; 8x8: VIF refuses in both paths."
    d = T.check_against_numpy(*_adversarial(*hw), "fast", conv, DEVICE)
    _assert_equal(d)
    if hw == (8, 8):
        assert d[d.metric == "VIF"].error.str.contains("too small").all()


def test_batched_equals_pair_by_pair():
    ps = _pairs("msrs", 2)
    A, B, F = (np.stack([p[k][:240, :200] for p in ps]) for k in (1, 2, 3))
    allv = T.evaluate_stack(A, B, F, "fast", device=DEVICE)
    for i in (0, len(ps) - 1):
        one = T.evaluate_stack(A[i], B[i], F[i], "fast", device=DEVICE)
        for m, v in one.items():
            assert T.rel_diff(float(v[0]), float(allv[m][i])) <= 1e-12, (m, i)


def test_fallbacks_are_listed_and_run_on_the_numpy_path():
    assert set(T.fallback_metrics("cddfuse")) == set(M.FMI_METRICS)
    assert T.fallback_metrics("vifb") == M.FMI_METRICS
    assert T.fallback_metrics("tang2022") == ("FMI_pixel", "FMI_gradient", "FMI_edge", "FMI_dct", "FMI_wavelet", "Qabf")
    _, a, b, f = _pairs("tno", 1)[0]
    a, b, f = a[:64, :64], b[:64, :64], f[:64, :64]
    names = ["EN", "FMI_pixel", "Qabf", "VIF"]
    for conv in ("cddfuse", "tang2022", "vifb"):
        n = M.evaluate(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), names, conv)
        t = M.evaluate(a.astype(np.uint8), b.astype(np.uint8), f.astype(np.uint8), names, conv, device=DEVICE)
        assert all(T.rel_diff(t[m], n[m]) <= 1e-6 for m in names), (conv, t, n)


def test_evaluate_batch_and_cli_route_to_torch(tmp_path, capsys):
    "Folder path: pairs of equal size batched on the device; same table as the numpy path; the CLI's --device."
    root = core.fixture("msrs") if core.has_fixtures("msrs") else pytest.skip("fixture msrs missing")
    items = M.match_files(root / "ir", root / "vi", root / "ir", method="ir")[:3]
    names = ["EN", "MI", "SSIM", "VIF", "PSNR"]
    tn, _ = M.evaluate_batch(items, names)
    tt, _ = M.evaluate_batch(items, names, device=DEVICE)
    for m in names:
        for x, y in zip(tt[m], tn[m]):
            assert T.rel_diff(float(x), float(y)) <= 1e-6, (m, x, y)
    from fusion_papers.cli import main
    args = ["metrics", "--ir", str(root / "ir"), "--vis", str(root / "vi"), "--fused", str(root / "ir"),
            "--metrics", "EN,SSIM,Qabf", "--json", "--workers", "1"]
    assert main(args) == 0
    rows_n = json.loads(capsys.readouterr().out)
    assert main(args + ["--device", DEVICE]) == 0
    rows_t = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in rows_t] == [r["image"] for r in rows_n]
    for rt, rn in zip(rows_t, rows_n):
        assert all(T.rel_diff(rt[m], rn[m]) <= 1e-6 for m in ("EN", "SSIM", "Qabf")), (rt, rn)


def test_map_evaluate_groups_sizes_and_keeps_order():
    "Mixed sizes (TNO) with a batch of 2: results in the order of the jobs, equal to the numpy path."
    if not core.has_fixtures("tno"):
        pytest.skip("fixture tno missing")
    from fusion_papers.data import images_by_stem
    root = core.fixture("tno")
    ir, vi = images_by_stem(root / "ir"), images_by_stem(root / "vi")
    stems = sorted(ir)[:5]
    jobs = {s: (ir[s], vi[s], ir[s], ("EN", "SD", "CC")) for s in stems}
    seen = []
    r = T.map_evaluate(jobs, "cddfuse", DEVICE, on_result=lambda k, v: seen.append(k), batch=2)
    assert list(r) == stems and sorted(seen) == sorted(stems)
    for s in stems:
        n = M.evaluate(ir[s], vi[s], ir[s], ("EN", "SD", "CC"))
        assert all(T.rel_diff(r[s][m], n[m]) <= 1e-6 for m in n), (s, r[s], n)


def test_unusable_device_is_a_clear_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    z = np.zeros((16, 16), np.uint8)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        M.evaluate(z, z, z, "EN", device="cuda")
    d = {k: tmp_path / k for k in ("ir", "vi", "f")}
    from PIL import Image
    for p in d.values():
        p.mkdir()
        Image.fromarray(z).save(p / "a.png")
    from fusion_papers.cli import main
    assert main(["metrics", "--ir", str(d["ir"]), "--vis", str(d["vi"]), "--fused", str(d["f"]), "--metrics", "EN",
                 "--device", "cuda"]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err


def _vifb(stem, method="ADF", crop=None):
    "A VIFB fixture triple (IR, visible, fused levels as `metrics.prepare(..., 'vifb')` returns), optionally cropped."
    if not core.has_fixtures("vifb"):
        pytest.skip("fixture vifb missing")
    r = core.fixture("vifb")
    a, b, f = M.prepare(r / "ir" / f"{stem}.jpg", r / "vi" / f"{stem}.jpg", r / "fused" / f"{stem}_{method}.jpg", "vifb")
    return tuple(z[:crop[0], :crop[1]] if crop else z for z in (a, b, f))


@pytest.mark.parametrize("case", ["rgb", "gray-ir", "gray-fused"])
def test_vifb_per_channel_on_fixture_triples(case):
    """vifb: every metric with a torch version (all but FMI) against the numpy path's per-channel rule: RGB triple
    (kettle, crop 200x240: MS-SSIM computed), gray IR reused for each channel (manWalking, 254x328), and a gray
    fused image (MATLAB rgb2gray of walking's SeAFusion) against RGB sources, which are then converted."""
    if case == "rgb":
        a, b, f = _vifb("kettle", "ADF", (200, 240))
        assert a.ndim == b.ndim == f.ndim == 3
    elif case == "gray-ir":
        a, b, f = _vifb("manWalking", "GTF")
        assert a.ndim == 2 and b.ndim == f.ndim == 3
    else:
        a, b, f = _vifb("walking", "SeAFusion")
        f = M._rgb2gray_matlab(f.astype(np.uint8))
        assert a.ndim == b.ndim == 3 and f.ndim == 2
    d = T.check_against_numpy(a[None], b[None], f[None], "fast", "vifb", DEVICE)
    assert set(d.metric) == set(M.FAST_METRICS) and not d.numpy.isna().any()
    _assert_equal(d)


def test_vifb_batched_equals_pair_by_pair_and_routes():
    "Three 254x328 gray-IR triples (cropped) in one stack = one by one; `metrics.evaluate(device=)` with FMI."
    trip = [_vifb(s, m, (170, 200)) for s, m in (("running", "ADF"), ("walking2", "U2Fusion"), ("walkingnight", "GTF"))]
    A, B, F = (np.stack([t[k] for t in trip]) for k in range(3))
    allv = T.evaluate_stack(A, B, F, "fast", "vifb", DEVICE)
    for i in range(3):
        one = T.evaluate_vifb_stack(*trip[i], "fast", DEVICE)
        for m, v in one.items():
            assert T.rel_diff(float(v[0]), float(allv[m][i])) <= 1e-12, (m, i)
    names = ["SF", "MI", "SSIM", "PSNR", "FMI_pixel"]
    u8 = [z.astype(np.uint8) for z in trip[0]]
    n, t = M.evaluate(*u8, names, "vifb"), M.evaluate(*u8, names, "vifb", device=DEVICE)
    assert all(T.rel_diff(t[m], n[m]) <= 1e-6 for m in names), (t, n)


def test_vifb_cli_device(tmp_path, capsys):
    "`fusion-papers metrics --convention vifb --device`: a gray-IR and an RGB triple (two groups), same table."
    if not core.has_fixtures("vifb"):
        pytest.skip("fixture vifb missing")
    root = core.fixture("vifb")
    d = {k: tmp_path / k for k in ("ir", "vi", "fused")}
    for p in d.values():
        p.mkdir()
    for stem in ("walking", "running"):                 # links, not copies
        (d["ir"] / f"{stem}.jpg").symlink_to(root / "ir" / f"{stem}.jpg")
        (d["vi"] / f"{stem}.jpg").symlink_to(root / "vi" / f"{stem}.jpg")
        (d["fused"] / f"{stem}_ADF.jpg").symlink_to(root / "fused" / f"{stem}_ADF.jpg")
    from fusion_papers.cli import main
    names = ("EN", "SF", "MI", "SSIM", "Qabf", "RMSE", "Qcv")
    args = ["metrics", "--ir", str(d["ir"]), "--vis", str(d["vi"]), "--fused", str(d["fused"]), "--convention", "vifb",
            "--metrics", ",".join(names), "--json", "--workers", "1"]
    assert main(args) == 0
    rows_n = json.loads(capsys.readouterr().out)
    assert main(args + ["--device", DEVICE]) == 0
    rows_t = json.loads(capsys.readouterr().out)
    assert len(rows_t) == 2 and [r["image"] for r in rows_t] == [r["image"] for r in rows_n]
    for rt, rn in zip(rows_t, rows_n):
        assert all(T.rel_diff(rt[m], rn[m]) <= 1e-6 for m in names), (rt, rn)


@pytest.mark.parametrize("conv", ["cddfuse", "tang", "dut", "tang2022", "vifb"])
def test_torch_fmi_equals_numpy(conv):
    """The five FMI variants batched in torch (feature maps of the stack, every window of both pairs at once) equal
    the numpy path (tang's FMI_pixel = edge features): two fixture pairs cropped to 96x120 in one stack (vifb: two
    RGB VIFB triples, 3 channels each), and the adversarial stacks (constants, F = a source, 8x8)."""
    if conv == "vifb":
        trip = [_vifb(s, m, (96, 120)) for s, m in (("kettle", "ADF"), ("carLight", "GTF"))]
    else:
        trip = [(a[:96, :120], b[:96, :120], f[:96, :120]) for _, a, b, f in _pairs("msrs", 1, conv)]
    A, B, F = (np.stack([t[k] for t in trip]) for k in range(3))
    d = T.check_against_numpy(A, B, F, M.FMI_METRICS, conv, DEVICE, torch_fmi=True)
    assert set(d.metric) == set(M.FMI_METRICS) and len(d) == 10
    _assert_equal(d)
    for hw in ((40, 36), (8, 8)):
        _assert_equal(T.check_against_numpy(*_adversarial(*hw), M.FMI_METRICS, conv, DEVICE, torch_fmi=True))


def test_fmi_runs_on_the_compiled_kernel_on_the_cpu_by_default(monkeypatch):
    "On the CPU, FMI stays on the numpy path (numba kernel) unless torch_fmi=True; on a GPU only tang2022 Qabf falls back."
    assert T.fallback_metrics("cddfuse", device="cuda") == () and T.fallback_metrics("vifb", device="cuda") == ()
    assert T.fallback_metrics("tang2022", device="cuda") == ("Qabf",)
    A, B, F = _adversarial(24, 20)
    want = T.evaluate_stack(A, B, F, ["FMI_pixel", "FMI_edge"], torch_fmi=True)

    def boom(*a, **k):
        raise AssertionError("torch FMI used on the CPU")
    monkeypatch.setattr(T, "fmi", boom)
    got = T.evaluate_stack(A, B, F, ["FMI_pixel", "FMI_edge"], device="cpu")
    for m in want:
        assert all(T.rel_diff(float(x), float(y)) <= 1e-6 for x, y in zip(got[m], want[m])), m
