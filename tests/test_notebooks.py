"""Every notebook in notebooks/ follows fgkd's conventions and runs with params/smoke.

Conventions (docs/notebooks.md): a "# Title" first cell; a "## Parameters" header right before the
first code cell, tagged ``parameters``, of flat commented scalars including ``output_dir = "."``;
stored without outputs; no training or metric code (that lives in the package); it writes its table
and headline through ``fgkd.report`` and shows the paper's numbers from ``fgkd.reference``; it has a
params file in every set and an entry in notebooks/manifest.yaml; a notebook of a paper reads the
set's shared recipe (``params_set``, ``<paper>.recipe_from(globals())``).
"""

import ast
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from fgkd.reproduce.execute import execute_notebook
from fgkd.reproduce.manifest import discover_notebooks, load_manifest, notebook_title
from fgkd.reproduce.params import check_params, parse_parameters, prepare_params
from fgkd.reproduce.sets import PARAMS_SETS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

# Training loops, optimisers and losses belong in fgkd.train / fgkd.losses / fgkd.eval, not in a notebook.
FORBIDDEN = {
    r"\btorch\.optim\b|\bfrom\s+torch\s+import\s+optim\b": "an optimiser (use fgkd.train)",
    r"\.backward\(": "a backward pass (use fgkd.train)",
    r"\boptim\w*\.step\(|\bopt\.step\(": "an optimiser step (use fgkd.train)",
    r"^\s*for\s+\w*epoch\w*\s+in\b": "an epoch loop (use fgkd.train)",
    r"class\s+\w+\s*\([^)]*nn\.Module": "a model definition (use fgkd.models)",
    r"\bcross_entropy\(|\bkl_div\(|\bbinary_cross_entropy": "a loss (use fgkd.losses)",
}


def _read(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_world_preview_notebook_is_there():
    assert "world_preview" in IDS


def test_the_manifest_lists_every_notebook_with_its_title():
    assert [p.stem for p in discover_notebooks()] == list(load_manifest().names)  # raises on a mismatch
    manifest = load_manifest()
    assert {n: manifest[n].title for n in IDS} == {p.stem: notebook_title(p) for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_paper_notebook_reads_its_sets_shared_recipe(path):
    paper = load_manifest()[path.stem].paper
    nb = _read(path)
    found = parse_parameters(next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])))
    if paper is None:
        assert "params_set" not in found
        return
    assert found["params_set"].default == "embedded", 'a paper notebook has `params_set = "embedded"`'
    assert f"recipe = {paper}.recipe_from(globals())" in _code(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_title_and_parameters_cell(path):
    nb = _read(path)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        "the first cell must be a Markdown '# Title' naming the table or figure"
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [code_cells[0]], "exactly one cell, the first code cell, must be tagged 'parameters'"
    header = nb.cells[tagged[0] - 1]
    assert header.cell_type == "markdown" and header.source.startswith("## Parameters"), \
        "the parameters cell must follow a Markdown '## Parameters' header"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_are_flat_commented_scalars(path):
    source = next(c.source for c in _read(path).cells if "parameters" in c.metadata.get("tags", []))
    tree = ast.parse(source)
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), \
            f"line {node.lineno}: the parameters cell holds only `name = value  # comment` lines"
        value = ast.literal_eval(node.value)
        assert value is None or isinstance(value, (bool, int, float, str)), \
            f"{node.targets[0].id}: parameters are flat scalars (int, float, str, bool, None), got {value!r}"
    found = parse_parameters(source)
    assert len(found) == len(tree.body), "a parameter is assigned twice"
    undocumented = [name for name, p in found.items() if not p.help]
    assert not undocumented, f"parameters without a trailing '# what it is' comment: {undocumented}"
    assert found["output_dir"].default == ".", 'every notebook has `output_dir = "."` (fgkd reproduce sets it)'
    # papermill's own parser must see the same parameters (it drops lines whose comment has quotes).
    assert set(papermill.inspect_notebook(str(path))) == set(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    for cell in _read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                "clear outputs before committing (Jupyter: Edit > Clear Outputs of All Cells)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_training_or_metric_logic(path):
    code = _code(_read(path))
    for pattern, what in FORBIDDEN.items():
        match = re.search(pattern, code, flags=re.MULTILINE)
        assert match is None, f"{path.name} contains {what}: {match.group(0)!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_writes_through_report_and_shows_the_paper(path):
    code = _code(_read(path))
    assert "report.write_table(" in code, "write the table (CSV + Markdown) with fgkd.report.write_table"
    assert "report.write_headline(" in code, "write headline.json with fgkd.report.write_headline"
    assert "fgkd.reference" in code, "show the paper's numbers from fgkd.reference"
    assert "paper_label" in code and "kit_label" in code, "label both sides with their scale"


@pytest.mark.parametrize("params_set", PARAMS_SETS)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_params_file_in_every_set_validates(path, params_set):
    # The paper set names real datasets and weights this machine may not have: check its keys,
    # types and names here; `fgkd reproduce --params paper` checks the files on the real machine.
    check_params(params_set, [path], check_files=not params_set.startswith("paper"))


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory):
    # One cache for all smoke notebooks, as in a real reproduce: the smoke teachers are trained
    # by the first notebook that needs them and reused by the others.
    return tmp_path_factory.mktemp("smoke_cache")


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_with_smoke_params(path, tmp_path, smoke_cache, monkeypatch):
    monkeypatch.setenv("FGKD_CACHE_DIR", str(smoke_cache))
    params = prepare_params("smoke", [path])[path.stem]  # its own params and params_set, as fgkd reproduce injects
    result = execute_notebook(path, params.injected, tmp_path)
    assert result.ok, f"{path.name} failed in cell {result.failing_cell} ({result.failing_source!r}): {result.error}"
    suffixes = {Path(a).suffix for a in result.artefacts}
    assert {".csv", ".md"} <= suffixes, f"{path.name} wrote no table: {result.artefacts}"
    assert result.headline is not None, f"{path.name} wrote no headline.json"
    assert (tmp_path / f"{path.stem}.html").is_file()
    # No red stderr boxes for things that are fine (tqdm's IProgress note, CLIP's 77-token cut...)
    executed = nbformat.read(str(tmp_path / path.name), as_version=4)
    stderr = ["".join(o.get("text", "")).strip()[:200] for c in executed.cells for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], f"{path.name} wrote to stderr: {stderr}"
    html = (tmp_path / f"{path.stem}.html").read_text()
    assert "No description has been provided for this image" not in html, "a figure without alternative text"
