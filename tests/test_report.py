import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fgkd import report  # noqa: E402
from fgkd.reference import paper_label, paper_table  # noqa: E402


def test_kit_label_names_the_scale():
    assert report.kit_label("world:bird", 32) == "fgkd embedded (world:bird, 32 px)"
    assert report.kit_label("cub200", 224, "resnet50") == "fgkd (cub200, resnet50, 224 px)"


def test_side_by_side_lines_up_kit_and_paper_rows():
    paper = paper_table("lead", "table4")
    kit = pd.DataFrame({"removal_pct": [0, 40], "Top-1": [41.0, 35.5], "mAP": [20.0, 15.0]}).set_index("removal_pct")
    kit_label = report.kit_label("world:bird", 32)
    table = report.side_by_side(kit, paper, kit_label=kit_label, paper_label=paper_label("lead", "table4"),
                                columns=["Top-1", "mAP"])
    assert list(table.columns) == [(kit_label, "Top-1"), (kit_label, "mAP"),
                                   ("paper (CUB, ResNet50, 224 px)", "Top-1"), ("paper (CUB, ResNet50, 224 px)", "mAP")]
    assert table.loc[40, (kit_label, "Top-1")] == 35.5
    assert table.loc[40, ("paper (CUB, ResNet50, 224 px)", "Top-1")] == 76.42
    assert math.isnan(table.loc[80, (kit_label, "Top-1")])  # a row the kit did not run


def test_side_by_side_rejects_equal_labels_and_unknown_columns():
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ValueError, match="tell the scales apart"):
        report.side_by_side(frame, frame, kit_label="x", paper_label="x")
    with pytest.raises(KeyError, match="neither table"):
        report.side_by_side(frame, frame, kit_label="x", paper_label="y", columns=["b"])


def test_write_table_writes_csv_and_markdown_with_flat_labelled_columns(tmp_path):
    paper = paper_table("lead", "table5")
    kit = pd.DataFrame({"Top-1": [50.0]}, index=pd.Index(["LEAD"], name="method"))
    table = report.side_by_side(kit, paper, kit_label="fgkd embedded (world:bird, 32 px)",
                                paper_label="paper (CUB, ResNet50, 224 px)", columns=["Top-1"])
    paths = report.write_table(table, "vs_ssl", tmp_path / "out", caption="LEAD vs SSL")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == ["method", "fgkd embedded (world:bird, 32 px) · Top-1",
                                 "paper (CUB, ResNet50, 224 px) · Top-1"]
    assert csv.set_index("method").loc["iBOT", "paper (CUB, ResNet50, 224 px) · Top-1"] == 73.66
    md = paths["md"].read_text()
    assert md.startswith("**LEAD vs SSL**")
    assert "| LEAD | 50.00 | 78.44 |" in md
    assert "| SimCLR | — | 37.28 |" in md


def test_write_table_accepts_row_dicts_and_checks_the_name(tmp_path):
    paths = report.write_table([{"a": 1, "b": "x|y"}], "rows", tmp_path)
    assert paths["csv"].read_text().splitlines() == ["a,b", "1,x|y"]
    assert "x\\|y" in paths["md"].read_text()
    with pytest.raises(ValueError, match="plain file stem"):
        report.write_table([{"a": 1}], "sub/rows", tmp_path)
    with pytest.raises(ValueError, match="plain file stem"):
        report.write_table([{"a": 1}], "rows.csv", tmp_path)


def test_write_figure_saves_png_and_copies_png_files(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = report.write_figure(fig, "line", tmp_path)
    plt.close(fig)
    assert path == tmp_path / "line.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    copy = report.write_figure(path, "copy", tmp_path / "other")
    assert copy.read_bytes() == path.read_bytes()
    with pytest.raises(TypeError, match="matplotlib Figure"):
        report.write_figure(42, "x", tmp_path)


def test_headline_round_trip(tmp_path):
    path = report.write_headline(tmp_path, title="Word removal", kit={"Top-1": 41.234, "mAP": float("nan")},
                                 kit_label="fgkd embedded (world:bird, 32 px)", paper={"Top-1": 78.44},
                                 paper_label="paper (CUB, ResNet50, 224 px)", note="smoke")
    data = json.loads(path.read_text())
    assert data["kit"] == {"Top-1": 41.234, "mAP": None}
    headline = report.read_headline(tmp_path)
    assert headline.kit_text() == "Top-1 41.23, mAP —"
    assert headline.paper_text() == "Top-1 78.44"
    assert report.read_headline(tmp_path / "nothing") is None
    report.write_headline(tmp_path, title="Sizes", kit={"image px": 32}, kit_label="k")
    assert report.read_headline(tmp_path).kit_text() == "image px 32"  # whole numbers without decimals


def test_headline_needs_title_numbers_and_paper_label(tmp_path):
    with pytest.raises(ValueError, match="title"):
        report.write_headline(tmp_path, title=" ", kit={"a": 1}, kit_label="k")
    with pytest.raises(ValueError, match="paper_label"):
        report.write_headline(tmp_path, title="t", kit={"a": 1}, kit_label="k", paper={"a": 2})
    with pytest.raises(ValueError, match="at least one number"):
        report.write_headline(tmp_path, title="t", kit={}, kit_label="k")
