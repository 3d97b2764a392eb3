import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from notebook_fakes import BAD_BODY, GOOD_BODY, make_notebook  # noqa: E402

from fgkd import reproduce as R  # noqa: E402
from fgkd.cli import main  # noqa: E402
from fgkd.params import ParamsError, ParamsSet  # noqa: E402
from fgkd.report import Headline  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_discover_notebooks_in_report_order_with_patterns(tmp_path):
    for name in ("zeta", "makd_main", "makd_cost", "world_preview", "lead_main"):
        make_notebook(tmp_path / f"{name}.ipynb")
    assert [p.stem for p in R.discover_notebooks(tmp_path)] == ["world_preview", "lead_main", "makd_main",
                                                                "makd_cost", "zeta"]
    assert [p.stem for p in R.discover_notebooks(tmp_path, ["makd_*"])] == ["makd_main", "makd_cost"]
    assert [p.stem for p in R.discover_notebooks(tmp_path, ["zeta.ipynb", "lead_*"])] == ["lead_main", "zeta"]
    with pytest.raises(ValueError, match="did you mean 'makd_main'"):
        R.discover_notebooks(tmp_path, ["makd_mian"])
    with pytest.raises(ValueError, match="does not exist"):
        R.discover_notebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No \\*.ipynb"):
        R.discover_notebooks(tmp_path / "empty")


def test_notebook_title_is_the_first_heading(tmp_path):
    path = make_notebook(tmp_path / "x.ipynb", title="Intro text\n\n## Table 4: word removal")
    assert R.notebook_title(path) == "Table 4: word removal"


def test_config_is_validated():
    with pytest.raises(ValueError, match="jobs"):
        R.ReproduceConfig(jobs=0)
    with pytest.raises(ValueError, match="tuple"):
        R.ReproduceConfig(only="makd_*")


def _fake_set(tmp_path, params: dict[str, str]) -> tuple[Path, Path]:
    notebooks, pdir = tmp_path / "notebooks", tmp_path / "myparams"
    pdir.mkdir(parents=True)
    for name, text in params.items():
        body = BAD_BODY if name == "bad" else GOOD_BODY
        make_notebook(notebooks / f"{name}.ipynb", body)
        (pdir / f"{name}.yaml").write_text(text)
    return notebooks, pdir


def test_invalid_params_stop_the_run_before_any_notebook(tmp_path, capsys):
    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n", "other": "num_clases: 3\n"})
    config = R.ReproduceConfig(params=str(pdir), notebooks=notebooks, reports=tmp_path / "reports", progress=False)
    with pytest.raises(ParamsError, match="other.yaml.*did you mean 'num_classes'"):
        R.reproduce(config)
    assert not (tmp_path / "reports" / "myparams" / "good.ipynb").exists()
    code = main(["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports",
                 str(tmp_path / "reports"), "--no-progress"])
    assert code == 2
    assert "did you mean 'num_classes'" in capsys.readouterr().err


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


def test_preview_is_rendered_when_the_notebook_did_not_run(tmp_path, monkeypatch):
    import fgkd.data.preview

    calls = []

    def fake_render(path, image_size=64, seed=0, **kwargs):
        calls.append(Path(path))
        Path(path).write_bytes(PNG)
        return Path(path)

    monkeypatch.setattr(fgkd.data.preview, "render_preview", fake_render)
    target, error = R._write_preview(tmp_path, tmp_path / "smoke", [])
    assert (target, error) == (tmp_path.resolve() / "world_preview.png", "") and calls == [target]
    R._write_preview(tmp_path, tmp_path / "smoke", [])
    assert len(calls) == 1  # an existing sheet is kept

    def broken(path, **kwargs):
        raise RuntimeError("no world")

    monkeypatch.setattr(fgkd.data.preview, "render_preview", broken)
    target, error = R._write_preview(tmp_path / "elsewhere", tmp_path / "smoke", [])
    assert target is None and "RuntimeError: no world" in error


@pytest.mark.notebook
@pytest.mark.slow
def test_failing_notebook_is_reported_and_the_others_still_run(tmp_path, capsys):
    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n", "bad": ""})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)  # this folder has no world_preview notebook
    code = main(["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports),
                 "--jobs", "2", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED bad" in err and "ValueError: boom: deliberately broken" in err

    set_dir = reports / "myparams"
    summary = {n["name"]: n for n in json.loads((set_dir / "summary.json").read_text())["notebooks"]}
    assert summary["bad"]["status"] == "failed"
    assert summary["bad"]["error"] == "ValueError: boom: deliberately broken"
    # title, header, parameters, injected parameters, `x = 1`, then the failing cell
    assert summary["bad"]["failing_cell"] == 5
    assert summary["bad"]["failing_source"] == "raise ValueError('boom: deliberately broken')"
    assert (set_dir / "bad.html").is_file()  # the failed notebook is still exported, error shown
    assert summary["good"]["status"] == "ok", summary["good"]
    assert (set_dir / "good.html").is_file()
    assert summary["good"]["headline"]["kit"] == {"Top-1": 12.5}
    csv = (set_dir / "good" / "good.csv").read_text().splitlines()
    assert csv == ["num_classes,Top-1", "3,12.5"]  # the params reached the notebook
    readme = (set_dir / "README.md").read_text()
    assert "FAILED in cell 5: ValueError: boom" in readme
    assert "[good.csv](good/good.csv)" in readme
    assert "1 of 2 notebooks ran; 1 failed" in readme
    assert (set_dir / "index.html").is_file()


@pytest.mark.notebook
@pytest.mark.slow
def test_reproduce_world_preview_smoke_end_to_end(tmp_path, capsys):
    reports = tmp_path / "tmp"
    code = main(["reproduce", "--only", "world_preview", "--params", "smoke", "--reports", str(reports),
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    set_dir = reports / "smoke"
    out = set_dir / "world_preview"
    for path in (set_dir / "world_preview.ipynb", set_dir / "world_preview.html", set_dir / "index.html",
                 set_dir / "README.md", out / "world_preview.csv", out / "world_preview.md"):
        assert path.is_file(), path
    figure = (out / "world_preview.png").read_bytes()
    assert figure.startswith(PNG)
    assert (reports / "world_preview.png").read_bytes() == figure  # the README's promised sheet

    headline = json.loads((out / "headline.json").read_text())
    assert headline["kit"] == {"image px": 32.0, "classes per domain": 4.0}  # params/smoke values
    assert headline["paper"] == {"image px": 224.0, "classes per domain": 200.0}
    assert headline["kit_label"].startswith("fgkd embedded (world:")
    assert headline["paper_label"].startswith("paper (")

    readme = (set_dir / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "(`world_preview`)" in line)
    assert "| ok |" in row and "[html](world_preview.html)" in row
    assert "classes per domain 4" in row and "classes per domain 200" in row
    assert "[world_preview.png](../world_preview.png)" in readme
    assert 'href="world_preview.html"' in (set_dir / "index.html").read_text()
    md = (out / "world_preview.md").read_text()
    assert "| bird | CUB-200-2011 | 4 | 32 | 200 | 224 |" in md


def test_embedded_set_trains_its_three_teachers_first_most_expensive_first():
    notebooks = R.discover_notebooks()
    params = R.check_params(R.resolve_params_set("embedded"), notebooks)
    assert R.teacher_jobs(notebooks, params) == [("embedded-L", {}), ("embedded-M", {}), ("embedded-S", {})]
    smoke = R.check_params(R.resolve_params_set("smoke"), notebooks)
    tiny = {"epochs": 1, "world_options": {"pretrain_per_class": 2}}
    assert R.teacher_jobs(notebooks, smoke) == [("embedded-M", tiny), ("embedded-S", tiny)]
    only_world = [nb for nb in notebooks if nb.stem == "world_preview"]
    assert R.teacher_jobs(only_world, params) == []


def test_notebooks_start_longest_first_and_unknown_ones_last(tmp_path):
    names = ("zeta", "lead_descriptions", "world_preview", "makd_main", "alpha", "lead_main")
    paths = [tmp_path / f"{n}.ipynb" for n in names]
    order = [p.stem for p in R.longest_first(paths)]
    known = sorted(["lead_descriptions", "world_preview", "makd_main", "lead_main"], key=R.COLD_SECONDS.get, reverse=True)
    assert order == known + ["alpha", "zeta"]
    assert order[0] == "makd_main"  # the MaKD grid is the longest cold notebook


def test_teachers_are_trained_before_any_notebook_and_a_failed_one_is_reported(tmp_path, capsys, monkeypatch):
    import fgkd.teachers.embedded as E

    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n"})
    events = []
    monkeypatch.setattr(R, "teacher_jobs", lambda nbs, params: [("embedded-S", {"epochs": 1}), ("embedded-M", {})])

    def fake_train(config, progress=True):
        events.append(("teacher", config.arch, config.train.epochs))
        if config.arch == "embedded-M":
            raise RuntimeError("no disk left")
        return tmp_path / "teacher.pt"

    real_execute = R._execute_job
    monkeypatch.setattr(E, "train_embedded_teacher", fake_train)
    monkeypatch.setattr(R, "_execute_job", lambda job: events.append(("notebook", Path(job[0]).stem)) or real_execute(job))
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)
    code = main(["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports),
                 "--no-progress"])
    default_m = E._DEFAULT_EPOCHS["embedded-M"]  # no options: the teacher's default recipe
    assert events == [("teacher", "embedded-S", 1), ("teacher", "embedded-M", default_m), ("notebook", "good")]
    err = capsys.readouterr().err
    assert "FAILED teacher embedded-M" in err and "RuntimeError: no disk left" in err
    assert code == 0  # the notebook did not need the teacher: it ran and is the only row


def test_unchanged_notebooks_are_not_executed_again_and_changed_or_forced_ones_are(tmp_path, monkeypatch):
    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n", "other": "num_classes: 4\n"})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)
    args = ["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports), "--no-progress"]
    executed = []
    real_execute = R._execute_job
    monkeypatch.setattr(R, "_execute_job", lambda job: executed.append(Path(job[0]).stem) or real_execute(job))

    def rows():
        return {n["name"]: n for n in json.loads((reports / "myparams" / "summary.json").read_text())["notebooks"]}

    assert main(args) == 0 and sorted(executed) == ["good", "other"]
    first = rows()
    assert not first["good"]["reused"] and first["good"]["fingerprint"]

    executed.clear()
    assert main(args) == 0 and executed == []  # nothing changed: both kept
    second = rows()
    assert second["good"]["reused"] and second["good"]["runtime_s"] == first["good"]["runtime_s"]
    assert "unchanged, not re-run" in (reports / "myparams" / "README.md").read_text()

    (pdir / "other.yaml").write_text("num_classes: 5\n")  # changed params: that notebook runs again
    assert main(args) == 0 and executed == ["other"]
    assert (reports / "myparams" / "other" / "good.csv").read_text().splitlines()[1] == "5,12.5"

    executed.clear()
    (reports / "myparams" / "good" / "good.csv").unlink()  # a missing output file: run again
    assert main(args) == 0 and executed == ["good"]

    executed.clear()
    assert main([*args, "--force"]) == 0 and sorted(executed) == ["good", "other"]
    assert not rows()["good"]["reused"]


def test_the_fingerprint_follows_the_notebook_params_and_package(tmp_path):
    nb = tmp_path / "good.ipynb"
    make_notebook(nb, GOOD_BODY)
    base = R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abc")
    assert base == R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abc")
    assert base != R.notebook_fingerprint(nb, {"num_classes": 4}, "python3", package="abc")
    assert base != R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abd")
    assert base != R.notebook_fingerprint(nb, {"num_classes": 3}, "other", package="abc")
    make_notebook(nb, BAD_BODY)
    assert base != R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abc")
    assert len(R.package_digest()) == 64


def test_teachers_already_trained_are_not_scheduled(monkeypatch):
    import fgkd.teachers.embedded as E

    notebooks = R.discover_notebooks()
    params = R.check_params(R.resolve_params_set("smoke"), notebooks)
    tiny = {"epochs": 1, "world_options": {"pretrain_per_class": 2}}
    folder = E.teacher_folder(E.embedded_config("embedded-M", **tiny))
    folder.mkdir(parents=True)
    (folder / "teacher.pt").write_bytes(b"weights")
    assert R.teacher_jobs(notebooks, params) == [("embedded-S", tiny)]
