"""benchmarks/makd_cost.py on the smoke recipe: both variants measured, the aspect head's parameters exact."""

import json

import pytest


@pytest.mark.slow
def test_cost_benchmark_measures_base_and_ours(tmp_path, load_repo_script):
    out = tmp_path / "cost.json"
    assert load_repo_script("benchmarks/makd_cost.py").main(["--params", "smoke", "--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    base, ours = result["best"]["Base"], result["best"]["Ours"]
    # The only extra parameters: Q aspect rows (weights + bias) on ResNet18's 512-d features.
    assert round((ours["params (M)"] - base["params (M)"]) * 1e6) == result["aspects"] * (512 + 1)
    for row in (base, ours):
        assert row["train s/epoch"] > 0 and row["inference s"] > 0
    assert result["ratio"]["train s/epoch"] == pytest.approx(ours["train s/epoch"] / base["train s/epoch"])


def test_cost_benchmark_rejects_a_single_epoch(load_repo_script):
    with pytest.raises(SystemExit, match="epochs must be >= 2"):
        load_repo_script("benchmarks/makd_cost.py").main(["--params", "smoke", "--epochs", "1"])
