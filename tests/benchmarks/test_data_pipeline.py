"""benchmarks/data_pipeline.py at toy size: both run kinds measured, engine and compute alike."""

import json


def test_data_pipeline_reports_engine_and_compute_rates(tmp_path, load_repo_script):
    out = tmp_path / "pipeline.json"
    assert load_repo_script("benchmarks/data_pipeline.py").main(
        ["--classes", "4", "--per-class", "16", "--rounds", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"MoCo v2 / LEAD student (two views, per-image PIL transforms)",
                         "MoCo v2 / LEAD student (two views, batched uint8 augmentation)", "MaKD classifier (one view)"}
    for row in rows.values():
        assert row["engine_images_per_s"] > 0 and row["compute_images_per_s"] > 0
        assert abs(row["ratio"] - row["engine_images_per_s"] / row["compute_images_per_s"]) < 0.01
        assert row["meets_target"] == (row["ratio"] >= 0.85)
