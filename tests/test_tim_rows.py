"""TIM's `rows` parameter (issue #12): unknown row names refused before any work, Table 9's K values selectable by
row, each row written under `out_dir/<table>/<row>/` and reused by a rerun; Figs. 8, 9 and 11 drawn from the rows'
files (checked against values computed here, independently of the plotting code)."""
import numpy as np
import pytest

from fusion_papers import tim


def test_unknown_rows_refused_with_each_tables_rows():
    assert tim.check_rows(None, ["table6"]) is None
    assert tim.check_rows(["IAS", "K=6"], ["table6", "table9"]) == ["IAS", "K=6"]
    assert tim.check_rows("DARTS", None) == ["DARTS"]
    with pytest.raises(ValueError) as e:
        tim.check_rows(["K=5", "IAS"], ["table9"])          # IAS is a Table 6 row, not asked
    msg = str(e.value)
    assert "K=5" in msg and "'IAS'" in msg and "K=10" in msg and "w/o Initialization" in msg
    with pytest.raises(ValueError, match="no rows"):
        tim.check_rows(["TIM"], ["table1"])


def test_table9_rows_are_the_papers_K_values():
    # the paper's Table 9 lists w/o initialisation and K = 2, 4, 6, 8, 10
    assert set(tim.TABLE9_K) == {"w/o Initialization", "K=2", "K=4", "K=6", "K=8", "K=10"}
    assert [tim.table9_k(r) for r in ("K=2", "K=10", "w/o Initialization")] == [2, 10, None]
    with pytest.raises(ValueError):
        tim.table9_k("K=two")
    paper = tim.resolve_settings("paper")
    assert tim.table9_rows(paper) == list(tim.TABLE9_K)                      # every row at paper settings
    smoke = tim.resolve_settings("smoke")
    assert set(tim.table9_rows(smoke)) == {f"K={smoke.pmi_K}", "w/o Initialization"}
    assert tim.table9_rows(smoke, ["K=8"]) == ["K=8"]                         # the other K values, one row away
    assert tim.table9_rows(tim.resolve_settings("paper", rehearse=1), ["K=6", "K=10"]) == ["K=6"]   # rehearsal cap
    assert tim.row_dir("w/o Initialization") == "w-o_Initialization" and tim.row_dir("K=4") == "K=4"


def test_table9_row_written_under_its_folder_and_reused(tmp_path, monkeypatch):
    calls = []

    def fake_run_pmi(S, K, seed, device, root=None, out=None, save=None, order="first"):
        calls.append(K)
        return {"K": K, "metrics": {"MI": 1.0 + (K or 0)}, "out": str(out), "save": str(save)}
    monkeypatch.setattr(tim, "run_pmi", fake_run_pmi)
    S = tim.resolve_settings("smoke")
    r = tim.table9_row(S, "K=6", tmp_path, run_params={"a": 1})
    assert r["metrics"]["MI"] == 7.0 and calls == [6]
    assert (tmp_path / "tbl-tim-9" / "K=6" / "result.json").exists()
    assert r["save"] == str(tim.table9_net(S, "K=6", tmp_path)) == str(tmp_path / "tbl-tim-9" / "K=6" / "net.pt")
    tim.table9_row(S, "K=6", tmp_path, run_params={"a": 1})            # rerun: reused, not recomputed
    assert calls == [6]
    tim.table9_row(S, "w/o Initialization", tmp_path, run_params={"a": 1})
    assert calls == [6, None] and (tmp_path / "tbl-tim-9" / "w-o_Initialization" / "result.json").exists()
    tim.table9_row(S, "K=6", tmp_path, run_params={"a": 2})            # other parameters: recomputed
    assert calls == [6, None, 6]


def test_fig11_cumulative_curve_is_sorted_values_against_percent():
    import matplotlib
    matplotlib.use("Agg")
    per = {"IAS": [{"MI": 3.0, "VIF": 0.5}, {"MI": 1.0, "VIF": 0.7}, {"MI": 2.0, "VIF": 0.6}, {"MI": 4.0, "VIF": 0.1}]}
    fig = tim.plot_cumulative(per, ("MI", "VIF"))
    line = fig.axes[0].lines[0]
    # 25 % of the images have MI ≤ 1, 50 % ≤ 2, 75 % ≤ 3, all ≤ 4
    assert np.allclose(line.get_xdata(), [25, 50, 75, 100]) and np.allclose(line.get_ydata(), [1, 2, 3, 4])
    assert np.allclose(fig.axes[1].lines[0].get_ydata(), [0.1, 0.5, 0.6, 0.7])


def test_task_examples_round_trip_and_figures(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    for row in ("TIM", "Visible"):
        d = tmp_path / row
        d.mkdir()
        np.savez_compressed(d / "example.npz", fused=rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), stem=np.array("img7"),
                            boxes=np.array([[1, 2, 10, 12], [3, 3, 8, 9]], np.float32), labels=np.array([1, 2]),
                            scores=np.array([0.9, 0.1], np.float32), gt_boxes=np.array([[1, 2, 11, 12]], np.float32),
                            gt_labels=np.array([1]), pred=rng.integers(0, 3, (24, 32), dtype=np.uint8),
                            gt=rng.integers(0, 3, (24, 32), dtype=np.uint8))
    ex = tim.load_task_examples(tmp_path)
    assert list(ex) == ["TIM", "Visible"] and ex["TIM"]["stem"] == "img7"
    fig = tim.plot_task_examples("det", ex, ["background", "person", "car"], tier="smoke", score_thr=0.3, top=1)
    # score ≥ 0.3 or among the top 1: only the 0.9 box is drawn, plus the one ground-truth box (dashed)
    assert len(fig.axes[0].patches) == 2 and "ours (smoke)" in fig.axes[0].get_title()
    fig = tim.plot_task_examples("seg", ex, ["unlabelled", "car", "person"], tier="rehearsal")
    assert len(fig.axes) == 6 and all("TIM" not in a.get_title() or "ours" in a.get_title() for a in fig.axes)


def test_table9_rows_ignore_other_tables_rows():
    S = tim.resolve_settings("smoke")
    assert tim.table9_rows(S, ["IAS", "K=6"]) == ["K=6"]
    assert tim.table9_rows(tim.resolve_settings("smoke", pmi_K=3)) == ["w/o Initialization", "K=3"]
