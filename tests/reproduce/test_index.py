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


def _record(claim: str, status: str = "holds", **changes) -> dict:
    record = {"claim": claim, "status": status, "mean_diff": 1.5, "ci_low": 0.5, "ci_high": 2.5, "n_seeds": 3,
              "unit": "points", "text": "probe Top-1"}
    return {**record, **changes}


def _with_verdicts(name: str, ok: bool, *records: dict) -> R.NotebookResult:
    from dataclasses import replace

    return replace(_result(name, ok), verdicts=tuple(records))


def test_index_collects_verdicts_in_order_with_counts_and_intervals(tmp_path):
    results = (
        _with_verdicts("makd_main", True, _record("MaKD beats Base", "contradicted", mean_diff=-9.4, ci_low=-12.0,
                                                   ci_high=-6.8)),
        _with_verdicts("lead_main", True, _record("LEAD beats MoCo v2 <bird> & co"),
                       _record("one seed only", "inconclusive", ci_low=None, ci_high=None, n_seeds=1)),
        _with_verdicts("lead_vs_ssl", False, _record("never collected")),  # failed: none of its verdicts
        _result("world_preview", True),  # ran, recorded no verdicts
    )
    summary = R.ReproduceSummary("myset", tmp_path, results, preview=None)
    index_html, readme = R.write_index(summary, ParamsSet("myset", tmp_path / "params"),
                                       order=["world_preview", "lead_main", "lead_vs_ssl", "makd_main"])

    collected = json.loads((tmp_path / "verdicts.json").read_text())
    assert [(v["notebook"], v["claim"]) for v in collected] == [
        ("lead_main", "LEAD beats MoCo v2 <bird> & co"), ("lead_main", "one seed only"),
        ("makd_main", "MaKD beats Base")]  # the index's (manifest) order, the failed notebook left out
    assert collected[1]["ci_low"] is None

    text = readme.read_text()
    counts = "Verdicts: 3 claims: 1 holds, 1 contradicted, 1 inconclusive"
    assert counts in text.splitlines()[4]  # at the top, under the status line
    assert "| `lead_main` | LEAD beats MoCo v2 <bird> & co | holds | +1.50 points | [+0.50, +2.50] | 3 |" in text
    assert "| `lead_main` | one seed only | inconclusive | +1.50 points | — | 1 |" in text
    assert "| `makd_main` | MaKD beats Base | contradicted | -9.40 points | [-12.00, -6.80] | 3 |" in text
    assert "| `lead_vs_ssl` | no verdicts: the notebook failed |" in text
    assert "| `world_preview` | no verdicts recorded |" in text
    assert "never collected" not in text
    assert text.index("## Verdicts") < text.index("## Notebooks") < text.index("## How this was made")

    page = index_html.read_text()
    assert page.index(counts) < page.index("<h2>Verdicts</h2>") < page.index("<h2>Notebooks</h2>")
    assert "LEAD beats MoCo v2 &lt;bird&gt; &amp; co" in page and "<bird>" not in page  # escaped
    assert '<tr class="contradicted"><td>makd_main</td><td>MaKD beats Base<br><small>probe Top-1</small></td>' \
           '<td class="verdict">contradicted</td><td>-9.40 points</td><td>[-12.00, -6.80]</td><td>3</td></tr>' in page
    assert '<td colspan="5" class="none">no verdicts: the notebook failed</td>' in page
    assert "No run record was written." in page and "$" not in page

    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["verdict_counts"] == {"holds": 1, "contradicted": 1, "inconclusive": 1}
    rows = {n["name"]: n for n in data["notebooks"]}
    assert [v["claim"] for v in rows["lead_main"]["verdicts"]] == ["LEAD beats MoCo v2 <bird> & co", "one seed only"]


def test_index_shows_how_it_was_made_and_earlier_rows_keep_their_verdicts(tmp_path):
    pset = ParamsSet("myset", tmp_path / "params")
    (tmp_path / "lead_main.ipynb").write_text("{}")
    record = {"command": "fgkd reproduce --params myset", "started": "2026-12-01T10:00:00+00:00",
              "ended": "2026-12-01T10:24:11+00:00", "wall_s": 1451.0,
              "git": {"commit": "009a0097b1d10c5f19cd", "repository": "/repo", "dirty": True, "n_changed": 2},
              "versions": {"fgkd": "0.1.0", "torch": "not installed"},
              "machine": {"cpu": "AMD EPYC", "logical_cores": 2, "jobs": 2, "threads_per_job": 1, "gpus": []},
              "params": {"name": "myset", "folder": "/p", "seeds": {"lead": {"key": "seeds", "value": "0,1",
                                                                               "seeds": [0, 1]}, "makd": None}}}
    first = R.ReproduceSummary("myset", tmp_path, (_with_verdicts("lead_main", True, _record("a claim")),), None)
    index_html, readme = R.write_index(first, pset, run_record=record)
    text = readme.read_text()
    assert "- Source: commit 009a0097b1d1 of /repo, with 2 uncommitted changes." in text
    assert "- Versions: fgkd 0.1.0, torch not installed." in text
    assert "- Machine: AMD EPYC, 2 logical cores; 2 notebook job(s) at once, 1 thread each; GPU: none." in text
    assert "seeds: LEAD seeds 0, 1." in text and "[run_record.json](run_record.json)" in text
    assert "from 2026-12-01 10:00:00 UTC to 2026-12-01 10:24:11 UTC (1451.0 s wall)" in index_html.read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["run_record"]["command"] == record["command"]

    second = R.ReproduceSummary("myset", tmp_path, (_result("world_preview", True),), None)
    R.write_index(second, pset)  # lead_main is an earlier row now: its verdicts are still collected
    assert [v["notebook"] for v in json.loads((tmp_path / "verdicts.json").read_text())] == ["lead_main"]
