"""fgkd.figures: the seed spread in every figure, and alternative text for each."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fgkd import figures  # noqa: E402
from fgkd.experiments.common import seed_summary  # noqa: E402


def _table(keys, per_key_values, index_name):
    seeds = (0, 1, 2)
    rows = [seed_summary(seeds, [{"Top-1": v, "mAP": v / 2} for v in values]) for values in per_key_values]
    index = (pd.MultiIndex.from_tuples(keys, names=index_name) if isinstance(keys[0], tuple)
             else pd.Index(keys, name=index_name))
    return pd.DataFrame(rows, index=index)


def test_seed_curves_draw_the_mean_a_band_of_one_sd_and_every_seed():
    table = _table([40, 0, 80], [[30, 32, 34], [40, 41, 42], [20, 25, 30]], "removal_pct")
    paper = pd.DataFrame({"Top-1": [78.44, 76.42]}, index=[0, 40])
    fig = figures.seed_curves(table, ["Top-1", "mAP"], x_label="words removed (%)", paper=paper,
                              paper_label="paper (CUB)")
    kit_ax = fig.axes[0]
    mean_line = kit_ax.get_lines()[0]
    assert list(mean_line.get_xdata()) == [0, 40, 80]  # sorted by the swept value
    assert list(mean_line.get_ydata()) == [41, 32, 25]
    band = kit_ax.collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.max(), 41 + 1.0) and np.isclose(band.min(), 25 - 5.0)  # mean ± s.d.
    seed_dots = sum(len(line.get_xdata()) for line in kit_ax.get_lines()[1:])
    assert seed_dots == 9
    legend = [t.get_text() for t in kit_ax.get_legend().get_texts()]
    assert "±1 s.d. over 3 seeds" in legend and "paper (CUB)" in legend
    assert len(fig.axes) == 3  # Top-1 (+ the paper's twin axis), mAP (no paper numbers)
    alt = figures.describe(fig)
    assert alt.startswith("Figure with 2 panels: Top-1 against words removed (%) (x: words removed (%), y: fgkd Top-1, "
                          "right y: paper Top-1)")
    plt.close(fig)
    with pytest.raises(KeyError, match="not columns"):
        figures.seed_curves(table, ["R@1"], x_label="x")


def test_paired_bars_show_error_bars_and_join_each_seed_across_a_group():
    table = _table([("bird", "MoCo v2"), ("bird", "LEAD"), ("car", "MoCo v2"), ("car", "LEAD")],
                   [[30, 31, 32], [35, 37, 39], [40, 40, 40], [41, 45, 43]], ("benchmark", "method"))
    fig = figures.paired_bars(table, "Top-1", hue="method", paper={("bird", "LEAD"): 78.44})
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [31, 37, 40, 43]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bird", "car"]
    pair_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
    assert len(pair_lines) == 6  # 3 seeds x 2 benchmarks, each joining MoCo v2 to LEAD
    assert "±1 s.d. over 3 seeds" in ax.get_legend().get_title().get_text()
    assert len(fig.axes) == 2  # the paper's value on its own axis
    plt.close(fig)
    with pytest.raises(KeyError, match="two-level index"):
        figures.paired_bars(table, "Top-1", hue="seed")


class _Run:
    def __init__(self, losses, kd=True):
        self.history = [{"epoch": i + 1, "loss": v, **({"kd": v / 2} if kd else {}), "seconds": 1.0, "lr": 0.1}
                        for i, v in enumerate(losses)]


def test_training_curves_average_each_arms_seeds_per_epoch_and_skip_timings():
    runs = {"MoCo v2": [_Run([4, 3, 2], kd=False)], "LEAD": [_Run([3, 2, 1]), _Run([5, 4, 3])]}
    fig = figures.training_curves(runs)
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "training kd"]  # LEAD's KD term too
    moco, lead = fig.axes[0].get_lines()
    assert list(lead.get_ydata()) == [4, 3, 2] and list(moco.get_ydata()) == [4, 3, 2]
    assert len(fig.axes[1].get_lines()) == 1  # only LEAD logs kd
    assert len(fig.axes[0].collections) == 1  # a band only where there are several seeds
    plt.close(fig)
    with pytest.raises(ValueError, match="no runs"):
        figures.training_curves({"x": []})


def test_describe_names_titles_axes_and_legend_or_the_figures_own_label():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="LEAD")
    ax.set(title="Top-1 against words removed", xlabel="words removed (%)", ylabel="Top-1")
    ax.legend()
    fig.suptitle("Word removal")
    text = figures.describe(fig)
    assert text == ("Figure with 1 panel: Word removal; Top-1 against words removed "
                    "(x: words removed (%), y: Top-1) legend: LEAD")
    fig.set_label("A hand-written description")
    assert figures.describe(fig) == "A hand-written description"
    plt.close(fig)


def test_alt_text_is_off_outside_a_kernel():
    assert figures.enable_alt_text() is False
