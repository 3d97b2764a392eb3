import json
import math
import re

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
    # short headers; the scales are said once, in the caption
    assert list(table.columns) == [("fgkd", "Top-1"), ("fgkd", "mAP"), ("paper", "Top-1"), ("paper", "mAP")]
    assert report.sources_text(table) == f"fgkd: {kit_label}; paper: paper (CUB, ResNet50, 224 px)"
    assert table.loc[40, ("fgkd", "Top-1")] == 35.5
    assert table.loc[40, ("paper", "Top-1")] == 76.42
    assert math.isnan(table.loc[80, ("fgkd", "Top-1")])  # a row the kit did not run


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
    assert list(csv.columns) == ["method", "fgkd · Top-1", "paper · Top-1"]
    assert csv.set_index("method").loc["iBOT", "paper · Top-1"] == 73.66
    md = paths["md"].read_text()
    # the caption names the sources the short headers stand for, once
    assert md.startswith("**LEAD vs SSL (fgkd: fgkd embedded (world:bird, 32 px); paper: paper (CUB, ResNet50, 224 px))**")
    assert "| LEAD | 50.00 | 78.44 |" in md
    assert "| SimCLR | — | 37.28 |" in md


def test_show_rounds_as_the_paper_and_prints_a_dash_for_missing_values():
    paper = paper_table("lead", "table5")
    kit = pd.DataFrame({"Top-1": [50.123456]}, index=pd.Index(["LEAD"], name="method"))
    table = report.side_by_side(kit, paper, kit_label="fgkd embedded (world:bird, 32 px)",
                                paper_label="paper (CUB, ResNet50, 224 px)", columns=["Top-1"])
    html = report.show(table).to_html()
    assert "50.12" in html and "50.1234" not in html
    assert "NaN" not in html and "nan" not in html and "—" in html  # SimCLR has no fgkd number
    assert "fgkd embedded (world:bird, 32 px)" in html  # the caption, once
    assert html.count("fgkd embedded (world:bird, 32 px)") == 1


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


# --- verdicts -------------------------------------------------------------------------------------


def _verdict(claim="LEAD beats MoCo v2", **changes):
    record = {"claim": claim, "status": "holds", "mean_diff": 1.5, "ci_low": 0.5, "ci_high": 2.5, "n_seeds": 3,
              "kind": "difference", "method": "paired t interval over seeds", "level": 0.95,
              "per_seed": [1.0, 1.5, 2.0], "unit": "points", "paper": 6.2, "text": "bird probe Top-1"}
    record.update(changes)
    return record


class _RecordOnly:
    """An object with a .record() method, like fgkd.experiments.common.Verdict."""

    def __init__(self, record):
        self._record = record

    def record(self):
        return self._record


def _strict_json(text):
    def no_constant(name):
        raise AssertionError(f"{name} is not valid JSON")

    return json.loads(text, parse_constant=no_constant)


def test_write_verdicts_round_trip_of_dicts_and_record_objects(tmp_path):
    one_seed = _verdict("a single seed", status="inconclusive", ci_low=float("nan"), ci_high=float("nan"),
                        n_seeds=1, per_seed=[0.25], paper=None, kind="trend", unit="Spearman rho")
    path = report.write_verdicts(tmp_path / "out", [_verdict(), _RecordOnly(one_seed)])
    assert path == tmp_path / "out" / "verdicts.json"
    text = path.read_text()
    data = _strict_json(text)  # NaN written as null: valid JSON
    assert isinstance(data, list) and [d["claim"] for d in data] == ["LEAD beats MoCo v2", "a single seed"]
    assert list(data[0]) == sorted(data[0])  # sorted keys
    assert data[1]["ci_low"] is None and data[1]["ci_high"] is None and data[1]["paper"] is None
    assert data[0]["per_seed"] == [1.0, 1.5, 2.0] and data[0]["n_seeds"] == 3
    assert report.read_verdicts(tmp_path / "out") == data
    assert report.read_verdicts(path) == data  # the file itself works too
    assert report.read_verdicts(tmp_path / "nothing") == []


def test_verdict_records_accept_numpy_numbers_and_turn_nan_to_null(tmp_path):
    import numpy as np

    record = _verdict(mean_diff=np.float32(1.5), n_seeds=np.int64(3), per_seed=np.array([1.0, np.nan, 2.0]))
    checked = report.verdict_record(record)
    assert checked["mean_diff"] == 1.5 and type(checked["n_seeds"]) is int
    assert checked["per_seed"] == [1.0, None, 2.0]


@pytest.mark.parametrize("changes, message", [
    ({"status": "reproduced"}, "verdict 'LEAD beats MoCo v2': status 'reproduced' must be one of holds, "
                               "contradicted, inconclusive"),
    ({"mean_diff": "big"}, "verdict 'LEAD beats MoCo v2': mean_diff must be a number"),
    ({"n_seeds": 0}, "verdict 'LEAD beats MoCo v2': n_seeds must be an integer >= 1"),
    ({"n_seeds": 2.0}, "n_seeds must be an integer"),
    ({"per_seed": [1.0, 2.0]}, "per_seed has 2 values but n_seeds is 3"),
    ({"kind": "ranking"}, "kind 'ranking' must be one of difference, trend"),
    ({"ci_low": 3.0}, "ci_low 3.0 is above ci_high 2.5"),
    ({"level": 95}, "level must be a confidence level between 0 and 1"),
    ({"unit": 1}, "unit must be a string"),
])
def test_write_verdicts_rejects_bad_records_naming_the_claim(tmp_path, changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        report.write_verdicts(tmp_path, [_verdict(**changes)])
    assert not (tmp_path / "verdicts.json").exists()


def test_write_verdicts_names_missing_keys_missing_claims_and_repeated_claims(tmp_path):
    record = _verdict()
    del record["ci_high"], record["n_seeds"]
    with pytest.raises(ValueError, match="verdict 'LEAD beats MoCo v2' lacks 'ci_high', 'n_seeds'"):
        report.write_verdicts(tmp_path, [record])
    nameless = _verdict()
    del nameless["claim"]
    with pytest.raises(ValueError, match="needs a 'claim'"):
        report.write_verdicts(tmp_path, [nameless])
    with pytest.raises(ValueError, match="given twice"):
        report.write_verdicts(tmp_path, [_verdict(), _verdict()])
    with pytest.raises(ValueError, match="list of verdicts"):
        report.write_verdicts(tmp_path, _verdict())
    with pytest.raises(ValueError, match="must be a dict or have a .record"):
        report.write_verdicts(tmp_path, [42])


def test_read_verdicts_names_a_damaged_file(tmp_path):
    path = tmp_path / "verdicts.json"
    path.write_text("[{not json")
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is damaged"):
        report.read_verdicts(tmp_path)
    path.write_text('{"claim": "x"}')
    with pytest.raises(ValueError, match="is damaged: it holds a dict"):
        report.read_verdicts(tmp_path)
    path.write_text(json.dumps([_verdict(status="maybe")]))
    with pytest.raises(ValueError, match="is damaged: verdict 'LEAD beats MoCo v2': status 'maybe'"):
        report.read_verdicts(tmp_path)


def test_verdict_cells_counts_and_markdown():
    records = [_verdict(), _verdict("b", status="contradicted", mean_diff=-2.0, ci_low=-3.0, ci_high=-1.0),
               _verdict("c | d", status="inconclusive", ci_low=None, ci_high=None, n_seeds=1, per_seed=[0.1],
                        mean_diff=None, unit="")]
    assert report.verdict_counts(records) == {"holds": 1, "contradicted": 1, "inconclusive": 1}
    assert report.counts_text(records) == "3 claims: 1 holds, 1 contradicted, 1 inconclusive"
    assert report.counts_text(records[:1]) == "1 claim: 1 holds, 0 contradicted, 0 inconclusive"
    assert report.verdict_cells(records[0]) == {"claim": "LEAD beats MoCo v2", "status": "holds",
                                                "mean": "+1.50 points", "interval": "[+0.50, +2.50]", "seeds": "3"}
    assert report.verdict_cells(records[2])["mean"] == "—" and report.verdict_cells(records[2])["interval"] == "—"
    md = report.verdicts_markdown([{**r, "notebook": "lead_main"} for r in records])
    assert md.splitlines()[0] == "| notebook | claim | status | mean difference | 95 % interval | seeds |"
    assert "| `lead_main` | b | contradicted | -2.00 points | [-3.00, -1.00] | 3 |" in md
    assert "| `lead_main` | c \\| d | inconclusive | — | — | 1 |" in md
