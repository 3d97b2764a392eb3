"""fgkd.reproduce.sets: params sets by name or folder, YAML with clear errors, the shared recipes
(one file per key in every shipped set), and the module stays a leaf."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fgkd.reproduce import sets
from fgkd.reproduce.sets import ParamsError, ParamsSet, recipe_values, resolve_params_set

REPO = Path(__file__).resolve().parents[2]


def test_shipped_sets_resolve_by_name():
    smoke = resolve_params_set("smoke")
    assert smoke.name == "smoke" and smoke.folder == REPO / "params" / "smoke"
    assert {"embedded", "paper", "smoke"} <= set(sets.list_params_sets())
    assert smoke.ref == "smoke" and resolve_params_set(smoke) is smoke


def test_a_folder_path_is_a_params_set(monkeypatch, tmp_path):
    from fgkd.reproduce.params import load_params

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from notebook_fakes import make_notebook

    nb = make_notebook(tmp_path / "notebooks" / "fake_table.ipynb")
    folder = tmp_path / "myset"
    folder.mkdir()
    (folder / "fake_table.yaml").write_text("num_classes: 3\n")
    resolved = resolve_params_set(str(folder))
    assert resolved == ParamsSet("myset", folder.resolve())
    assert resolved.ref == str(folder.resolve())  # what a notebook's params_set gets for a folder
    monkeypatch.chdir(tmp_path)
    assert resolve_params_set("./myset").folder == folder.resolve()
    assert load_params(str(folder), nb) == {"num_classes": 3}


def test_unknown_set_suggests_a_known_one():
    with pytest.raises(ParamsError, match="did you mean 'smoke'"):
        resolve_params_set("smoek")


def test_recipe_values_read_the_sets_file(tmp_path):
    assert recipe_values("smoke", "lead")["teacher"] == "embedded-S"
    (tmp_path / "lead.yaml").write_text("epochs: 2\nepoch: 3\nbackbon: resnet18\n")
    assert recipe_values(tmp_path, "lead") == {"epochs": 2, "epoch": 3, "backbon": "resnet18"}
    with pytest.raises(ParamsError) as info:
        recipe_values(tmp_path, "lead", fields=("epochs", "backbone"))
    assert [p.key for p in info.value.problems] == ["epoch", "backbon"]
    assert "lead.yaml: key 'backbon' (shared recipe): is not a key of the LEAD recipe (did you mean 'backbone'?)" \
        in str(info.value)
    with pytest.raises(ParamsError, match="makd.yaml.*does not exist.*copy params/embedded/makd.yaml"):
        recipe_values(tmp_path, "makd")
    with pytest.raises(ValueError, match="no shared recipe for paper 'world'"):
        recipe_values(tmp_path, "world")


def test_unreadable_yaml_names_the_file(tmp_path):
    (tmp_path / "lead.yaml").write_text("epochs: [1\n")
    with pytest.raises(ParamsError, match="lead.yaml.*not valid YAML"):
        recipe_values(tmp_path, "lead")
    (tmp_path / "lead.yaml").write_text("- 1\n")
    with pytest.raises(ParamsError, match="lead.yaml.*not a mapping"):
        recipe_values(tmp_path, "lead")


@pytest.mark.parametrize("set_name", sets.PARAMS_SETS)
def test_every_recipe_key_is_set_in_one_file_of_the_set(set_name):
    """A recipe key lives in <set>/<paper>.yaml only: no notebook file of that paper repeats it."""
    from fgkd.reproduce.manifest import load_manifest
    from fgkd.reproduce.params import recipe_fields

    folder = REPO / "params" / set_name
    manifest = load_manifest()
    for paper in sets.PAPERS:
        fields = recipe_fields(paper)
        files = [folder / f"{paper}.yaml"] + [folder / f"{e.name}.yaml" for e in manifest.entries.values()
                                             if e.paper == paper]
        where: dict[str, list[str]] = {}
        for path in files:
            for key in yaml.safe_load(path.read_text()) or {}:
                if key in fields:
                    where.setdefault(key, []).append(path.name)
        assert {k: f for k, f in where.items() if f != [f"{paper}.yaml"]} == {}
        assert set(where) == set(fields), f"{paper}.yaml of {set_name} should state every recipe key"


def test_sets_is_a_leaf_and_the_package_imports_lightly():
    code = ("import sys, fgkd.reproduce, fgkd.reproduce.sets; "
            "print(sorted(m for m in sys.modules if m.startswith('fgkd')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['fgkd', 'fgkd.reproduce', 'fgkd.reproduce.sets']"
