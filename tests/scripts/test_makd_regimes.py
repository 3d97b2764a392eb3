"""scripts/makd_regimes.py on the smoke recipe: one row per regime, gaps are the differences."""

import pandas as pd
import pytest


@pytest.mark.slow
def test_table_rows_and_gaps(tmp_path, capsys, monkeypatch, load_repo_script):
    script = load_repo_script("scripts/makd_regimes.py")
    out = tmp_path / "regimes.csv"
    assert script.main(["--params", "smoke", "--epochs", "1", "--fractions", "1.0", "0.5", "--csv", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["fraction"]) == [1.0, 0.5]
    for label in ("Base", "MaKD", "MaKD random"):
        assert table[label].between(0, 100).all()
    assert (table["MaKD - Base"] == table["MaKD"] - table["Base"]).all()
    assert (table["MaKD - random"] == table["MaKD"] - table["MaKD random"]).all()
    assert "recipe of params/smoke/makd.yaml" in capsys.readouterr().out

    # A second call reads every run from the run store instead of training it again.
    import fgkd.runs

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(fgkd.runs, "_train_and_store", no_training)
    again = tmp_path / "again.csv"
    script.main(["--params", "smoke", "--epochs", "1", "--fractions", "1.0", "0.5", "--csv", str(again)])
    second = pd.read_csv(again)
    assert (second[["Base", "MaKD", "MaKD random"]] == table[["Base", "MaKD", "MaKD random"]]).all().all()


def test_unknown_backbone_fails_before_training(tmp_path, load_repo_script):
    script = load_repo_script("scripts/makd_regimes.py")
    with pytest.raises(ValueError, match="unknown backbone"):
        script.main(["--params", "smoke", "--backbones", "resnet19"])


def test_set_overrides_recipe_keys_and_rejects_others(load_repo_script):
    script = load_repo_script("scripts/makd_regimes.py")
    assert script.parse_overrides(["alpha=5", "world_test_per_class=100", "seeds=0"]) == {
        "alpha": 5, "world_test_per_class": 100, "seeds": 0}
    with pytest.raises(SystemExit, match="not a MaKD recipe key"):
        script.parse_overrides(["alpah=5"])
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        script.parse_overrides(["alpha"])
