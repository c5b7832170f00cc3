"""CAF official-output check: `caf_det.pth` + the faithful pipeline reproduce the authors' released results.

Independent reference: `reference_outputs/caf/{00512,01670,03878}.png` from RollingPlain/CAF_IVIF @ bf12f26e.
Skips when the shared fixtures are absent; CI sets FUSION_PAPERS_REQUIRE_DATA=1, which makes that an error.
"""
import numpy as np
import pytest

from fusion_papers import core


def _need(*parts):
    if not core.has_fixtures(*parts):
        pytest.skip(f"fixture {'/'.join(parts)} not available")


def test_official_outputs_reproduced():
    _need("reference_outputs", "caf")
    _need("weights", "caf_det.pth")
    from fusion_papers.caf import check_official_outputs
    df = check_official_outputs()
    assert list(df["image"]) == ["00512", "01670", "03878"]
    assert (df["mae_y"] <= 1 / 255).all(), df
    # the golden test in weights/README: bit-exact on 99.997 % of pixels, the rest within 4 levels
    assert (df["exact_pixel_fraction"] >= 0.9999).all(), df
    assert (df["max_abs_y_levels"] <= 4).all(), df


def test_wrap_around_is_what_the_files_show():
    """The wrapped pixels are in the released files: clamping instead of wrapping must disagree with them there."""
    _need("reference_outputs", "caf")
    _need("weights", "caf_det.pth")
    import cv2
    from fusion_papers.caf import load_caf_net, fuse_official_u8
    root = core.fixtures_root()
    ir = cv2.imread(str(root / "m3fd/ir/03878.png"), cv2.IMREAD_GRAYSCALE)
    vis = cv2.imread(str(root / "m3fd/vi/03878.png"), cv2.IMREAD_COLOR)
    ref = cv2.imread(str(root / "reference_outputs/caf/03878.png"), cv2.IMREAD_COLOR)
    out, raw = fuse_official_u8(load_caf_net("det"), ir, vis)
    wrapped = np.trunc(raw * 255) < 0
    assert wrapped.sum() > 0
    y_ref = cv2.cvtColor(ref, cv2.COLOR_BGR2YCrCb)[..., 0]
    assert (y_ref[wrapped] > 200).mean() > 0.9          # wrapped: near-white in the official file
    assert (np.clip(raw[wrapped], 0, 1) * 255 < 1).all()  # clamped: black
