"""fgkd.reproduce.index: index.html (from its template), README.md and summary.json of a set."""

import json

from fgkd.reproduce import index as R
from fgkd.reproduce.sets import ParamsSet
from fgkd.report import Headline


def _result(name: str, ok: bool, headline: Headline | None = None) -> R.NotebookResult:
    return R.NotebookResult(
        name=name, title=f"Title of {name}", status="ok" if ok else "failed", runtime_s=1.5,
        notebook=f"{name}.ipynb", html=f"{name}.html", output_dir=name,
        artefacts=(f"{name}/{name}.csv", f"{name}/{name}.png") if ok else (),
        error="" if ok else "ValueError: boom", failing_cell=None if ok else 4,
        failing_source="" if ok else "raise ValueError('boom')", headline=headline)


def test_write_index_lists_status_links_and_headline_beside_the_paper(tmp_path):
    headline = Headline(title="t", kit_label="fgkd embedded (world:bird, 32 px)", kit={"Top-1": 41.5},
                        paper_label="paper (CUB, ResNet50, 224 px)", paper={"Top-1": 78.44})
    summary = R.ReproduceSummary("myset", tmp_path, (_result("lead_main", True, headline), _result("makd_main", False)),
                                 preview=None, preview_error="no renderer")
    index_html, readme = R.write_index(summary, ParamsSet("myset", tmp_path / "params"))
    text = readme.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| Title of")]
    assert len(rows) == 2
    assert "| ok |" in rows[0] and "[html](lead_main.html)" in rows[0] and "(lead_main/lead_main.png)" in rows[0]
    assert "fgkd embedded (world:bird, 32 px): Top-1 41.50" in rows[0]
    assert "paper (CUB, ResNet50, 224 px): Top-1 78.44" in rows[0]
    assert "FAILED in cell 4: ValueError: boom" in rows[1]
    assert "1 of 2 notebooks ran; 1 failed" in text and "no renderer" in text
    page = index_html.read_text()
    assert '<a href="lead_main.html">html</a>' in page and "FAILED in cell 4" in page
    data = json.loads((tmp_path / "summary.json").read_text())
    assert [n["status"] for n in data["notebooks"]] == ["ok", "failed"]
    assert data["notebooks"][0]["headline"]["paper"] == {"Top-1": 78.44}


def test_index_keeps_rows_of_notebooks_an_earlier_run_left(tmp_path):
    pset = ParamsSet("myset", tmp_path / "params")
    for name in ("lead_main", "makd_main"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    first = R.ReproduceSummary("myset", tmp_path, (_result("lead_main", True), _result("makd_main", False)), None)
    R.write_index(first, pset)
    (tmp_path / "lead_main.ipynb").unlink()  # a row whose notebook is gone is dropped
    (tmp_path / "world_preview.ipynb").write_text("{}")
    second = R.ReproduceSummary("myset", tmp_path, (_result("world_preview", True),), None)
    _, readme = R.write_index(second, pset)
    rows = [line for line in readme.read_text().splitlines() if line.startswith("| Title of")]
    assert [row.split("`")[1] for row in rows] == ["world_preview", "makd_main"]
    assert "| ok |" in rows[0] and "FAILED (earlier run) in cell 4" in rows[1]
    assert "1 of 1 notebooks ran; 0 failed" in readme.read_text()
    assert not second.failed  # the exit status only counts this run




def test_rows_follow_the_given_order_then_alphabetically(tmp_path):
    summary = R.ReproduceSummary("myset", tmp_path, tuple(_result(n, True) for n in ("zeta", "b_nb", "a_nb")), None)
    _, readme = R.write_index(summary, ParamsSet("myset", tmp_path / "params"), order=["b_nb"])
    rows = [line for line in readme.read_text().splitlines() if line.startswith("| Title of")]
    assert [row.split("`")[1] for row in rows] == ["b_nb", "a_nb", "zeta"]
    page = (tmp_path / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>fgkd reports: myset</title>" in page and "$" not in page
