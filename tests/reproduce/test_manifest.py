"""fgkd.reproduce.manifest: the notebooks' order, paper, title and measured cold seconds; a notebook
without an entry (or an entry without a notebook) stops discovery."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_fakes import make_notebook, write_manifest  # noqa: E402

from fgkd.reproduce import manifest as M  # noqa: E402


def test_discover_notebooks_in_manifest_order_with_patterns(tmp_path):
    for name in ("zeta", "makd_main", "makd_cost", "world_preview", "lead_main"):
        make_notebook(tmp_path / f"{name}.ipynb")
    write_manifest(tmp_path, ["world_preview", "lead_main", "makd_main", "makd_cost", "zeta"])
    assert [p.stem for p in M.discover_notebooks(tmp_path)] == ["world_preview", "lead_main", "makd_main",
                                                                "makd_cost", "zeta"]
    assert [p.stem for p in M.discover_notebooks(tmp_path, ["makd_*"])] == ["makd_main", "makd_cost"]
    assert [p.stem for p in M.discover_notebooks(tmp_path, ["zeta.ipynb", "lead_*"])] == ["lead_main", "zeta"]
    with pytest.raises(ValueError, match="did you mean 'makd_main'"):
        M.discover_notebooks(tmp_path, ["makd_mian"])
    with pytest.raises(ValueError, match="does not exist"):
        M.discover_notebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No \\*.ipynb"):
        M.discover_notebooks(tmp_path / "empty")


def test_a_notebook_without_entry_or_an_entry_without_notebook_is_an_error(tmp_path):
    make_notebook(tmp_path / "lead_main.ipynb")
    with pytest.raises(ValueError, match="manifest.yaml does not exist"):
        M.discover_notebooks(tmp_path)
    make_notebook(tmp_path / "lead_new.ipynb")
    write_manifest(tmp_path, {"lead_main": "lead", "lead_old": "lead"})
    with pytest.raises(ValueError) as info:
        M.discover_notebooks(tmp_path)
    message = str(info.value)
    assert "notebook lead_new.ipynb has no entry in" in message
    assert "entry 'lead_old' of" in message and "has no notebook" in message and "did you mean 'lead_new'" in message


@pytest.mark.parametrize("entry, message", [
    ({"title": "t", "paper": "leed", "reproduces": "r", "cold_seconds": 1}, "did you mean 'lead'"),
    ({"title": "t", "paper": "lead", "reproduces": "r", "cold_seconds": -1}, "cold_seconds -1 must be a number >= 0"),
    ({"title": "t", "paper": "lead", "reproduce": "r", "cold_seconds": 1}, "unknown key 'reproduce'.*missing reproduces"),
    ({"title": "", "paper": "none", "reproduces": "r", "cold_seconds": 1}, "title must be a non-empty string"),
])
def test_malformed_entries_name_the_file_and_the_entry(tmp_path, entry, message):
    import yaml

    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"lead_main": entry}))
    with pytest.raises(ValueError, match=f"manifest.yaml: entry 'lead_main'.*{message}"):
        M.load_manifest(tmp_path)


def test_the_repository_manifest(tmp_path):
    manifest = M.load_manifest()
    assert manifest.names[0] == "world_preview" and manifest["world_preview"].paper is None
    assert manifest["lead_word_removal"].paper == "lead" and manifest["makd_cost"].paper == "makd"
    assert manifest["lead_word_removal"].reproduces == "LEAD Table 4"
    assert M.manifest_for(manifest.path.parent / "lead_main.ipynb") == manifest
    assert M.manifest_for(tmp_path / "loose.ipynb") is None
    with pytest.raises(KeyError, match="did you mean 'lead_main'"):
        manifest["lead_mian"]


def test_notebooks_start_longest_first_and_unknown_ones_last(tmp_path):
    manifest = M.load_manifest()
    names = ("zeta", "lead_descriptions", "world_preview", "makd_main", "alpha", "lead_main")
    paths = [tmp_path / f"{n}.ipynb" for n in names]
    order = [p.stem for p in manifest.longest_first(paths)]
    known = sorted(["lead_descriptions", "world_preview", "makd_main", "lead_main"],
                   key=lambda n: manifest[n].cold_seconds, reverse=True)
    assert order == known + ["alpha", "zeta"]
    assert order[0] == "makd_main"  # the MaKD grid is the longest cold notebook


def test_notebook_title_is_the_first_heading(tmp_path):
    path = make_notebook(tmp_path / "x.ipynb", title="Intro text\n\n## Table 4: word removal")
    assert M.notebook_title(path) == "Table 4: word removal"


def test_experiment_module_by_paper():
    assert M.experiment_module("lead").__name__ == "fgkd.experiments.lead"
    assert M.experiment_module("makd").__name__ == "fgkd.experiments.makd"
    with pytest.raises(ValueError, match="papers: lead, makd"):
        M.experiment_module("world")
