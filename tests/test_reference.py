"""Fact check of fgkd's copy of the papers' numbers against the source (values typed from REFERENCE.md)."""

import pytest

from fgkd.reference import (
    LEAD_METRICS,
    NotAvailable,
    get_table,
    list_facts,
    list_papers,
    list_tables,
    not_available,
    paper_fact,
    paper_label,
    paper_table,
    paper_value,
)


def test_lead_tables_have_the_five_metrics_and_the_right_rows():
    assert list_tables("lead") == ["table1", "table2", "table3", "table4", "table5"]
    for table in list_tables("lead"):
        assert tuple(paper_table("lead", table).columns) == LEAD_METRICS
    assert list(paper_table("lead", "table2").index) == [10, 20, 30, 40, 50, 60, 70]
    assert list(paper_table("lead", "table4").index) == [0, 20, 40, 60, 80]


@pytest.mark.parametrize("table, row, expected", [
    ("table1", "DeepSeek", [78.79, 95.46, 68.29, 89.32, 44.63]),
    ("table2", 10, [77.15, 94.41, 66.54, 86.78, 43.09]),
    ("table2", 60, [78.80, 95.50, 67.97, 88.49, 44.44]),
    ("table3", "ViT-L/14", [79.22, 95.62, 72.06, 90.25, 49.27]),
    ("table3", "ViT-B/32", [74.94, 94.06, 60.79, 84.57, 34.21]),
    ("table4", 40, [76.42, 94.81, 64.53, 86.85, 37.99]),
    ("table4", 80, [74.54, 94.08, 57.90, 82.55, 30.70]),
    ("table5", "SimCLR", [37.28, 66.17, 16.43, 36.24, 4.78]),
    ("table5", "iBOT", [73.66, 92.37, 61.53, 83.93, 34.89]),
])
def test_lead_rows_match_the_supplement(table, row, expected):
    assert list(paper_table("lead", table).loc[row]) == pytest.approx(expected)


def test_lead_ours_row_is_the_same_in_every_table():
    ours = [78.44, 95.30, 68.17, 88.37, 44.43]
    rows = {"table1": "GPT-3", "table2": 70, "table3": "ViT-B/16", "table4": 0, "table5": "LEAD"}
    for table, row in rows.items():
        assert list(paper_table("lead", table).loc[row]) == pytest.approx(ours), table


@pytest.mark.parametrize("table, dataset, backbone, base, ours, mllm", [
    ("table1", "stanford_cars", "resnet18", 77.53, 83.38, 14.30),
    ("table1", "oxford_pets", "efficientnet_b0", 83.42, 85.27, 49.38),
    ("table1", "dtd", "resnet34", 53.76, 59.89, 49.20),
    ("table1", "flowers102", "mobilenet_v1", 94.14, 95.56, 26.88),
    ("table1", "cub200", "efficientnet_b0", 66.04, 69.32, 10.27),
    ("table1", "fgvc_aircraft", "resnet34", 75.56, 76.93, 11.94),
    ("table2", "caltech101", "mobilenet_v1", 76.64, 79.14, 85.52),
    ("table2", "mini_imagenet", "efficientnet_b0", 73.05, 75.07, 76.38),
])
def test_makd_tables_match_the_paper(table, dataset, backbone, base, ours, mllm):
    frame = paper_table("makd", table)
    assert frame.loc[(dataset, backbone), "Base"] == pytest.approx(base)
    assert frame.loc[(dataset, backbone), "Ours"] == pytest.approx(ours)
    assert frame.loc[(dataset, backbone), "MLLM"] == pytest.approx(mllm)


def test_makd_table1_covers_six_datasets_by_four_backbones_and_its_gaps_match_the_printed_ones():
    frame = paper_table("makd", "table1")
    assert frame.shape[0] == 24
    assert set(frame.index.get_level_values("backbone")) == {"resnet18", "resnet34", "mobilenet_v1", "efficientnet_b0"}
    # the paper prints CUB200's gaps: +6.24, +5.45, +4.56, +3.28
    assert list(frame.loc["cub200", "Gap"]) == pytest.approx([6.24, 5.45, 4.56, 3.28])
    gain = paper_value("makd", "gain_stanford_cars_resnet18")
    assert frame.loc[("stanford_cars", "resnet18"), "Gap"] == pytest.approx(gain)


@pytest.mark.parametrize("fact, value", [
    ("gain_stanford_cars_resnet18", 5.85),
    ("gain_40pct_data_stanford_cars_resnet18", 24.01),
    ("params_ours_m", 11.25),
    ("params_base_m", 11.23),
    ("train_s_per_epoch_ours", 27.90),
    ("train_s_per_epoch_base", 25.42),
    ("inference_s_ours", 22.80),
    ("inference_s_base", 20.59),
    ("alpha_drop", 50),
    ("epochs", 240),
])
def test_makd_text_facts(fact, value):
    assert paper_value("makd", fact) == pytest.approx(value)


def test_makd_figure5_probabilities_from_the_text():
    frame = paper_table("makd", "figure5")
    assert frame.loc[("oxford_pets", "Birman", "Does the animal have striking blue eyes?"), "P(yes)"] == 86.97
    assert sorted(frame["P(yes)"]) == [11.74, 86.97, 96.23, 98.46]


def test_zero_shot_clip_numbers():
    frame = paper_table("zeroshot_clip", "vit_b_16_openai")
    assert frame["Top-1"].to_dict() == {"stanford_cars": 64.77, "fgvc_aircraft": 24.21, "flowers102": 69.07,
                                        "oxford_pets": 88.86, "dtd": 44.95, "caltech101": 89.01}
    assert "cub200" in not_available("zeroshot_clip")


def test_lead_facts():
    assert paper_value("lead", "cub_num_classes") == 200
    assert paper_value("lead", "best_num_categories") == 250
    assert paper_value("lead", "description_word_limit") == 70
    assert paper_value("lead", "moco_queue") == 65536
    assert paper_fact("lead", "lr").value == 0.03 and paper_fact("lead", "code_lr").value == 0.02


def test_lost_tables_raise_not_available_with_what_is_known():
    with pytest.raises(NotAvailable, match="24.01"):
        paper_table("makd", "table5")
    with pytest.raises(NotAvailable):
        paper_table("lead", "main_table")
    assert {"table3", "table4", "table5", "table6", "table7", "figure2"} <= set(not_available("makd"))


def test_lookup_errors_suggest_the_right_name():
    with pytest.raises(KeyError, match="did you mean 'table4'"):
        paper_table("lead", "tabel4")
    with pytest.raises(KeyError, match="did you mean 'lead'"):
        paper_table("laed", "table4")
    with pytest.raises(KeyError, match="no row 45"):
        paper_value("lead", "table4", row=45, column="Top-1")
    with pytest.raises(TypeError):
        paper_value("lead", "table4", row=40)


def test_labels_name_the_scale():
    assert paper_label("lead", "table4") == "paper (CUB, ResNet50, 224 px)"
    assert get_table("makd", "table1").label.startswith("paper (")


def test_every_table_and_fact_loads():
    for paper in list_papers():
        for table in list_tables(paper):
            assert len(paper_table(paper, table)) > 0
        for fact in list_facts(paper):
            assert paper_fact(paper, fact).text
