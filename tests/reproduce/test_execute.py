"""fgkd.reproduce.execute: validation before any notebook, papermill execution, teachers first,
re-runs only of changed notebooks (their file, params, shared recipe, fgkd source)."""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_fakes import BAD_BODY, GOOD_BODY, PARAMETERS, make_notebook, write_manifest  # noqa: E402

from fgkd.cli import main  # noqa: E402
from fgkd.reproduce import execute as R  # noqa: E402
from fgkd.reproduce.manifest import discover_notebooks  # noqa: E402
from fgkd.reproduce.params import prepare_params  # noqa: E402
from fgkd.reproduce.sets import ParamsError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

PNG = b"\x89PNG\r\n\x1a\n"


def test_config_is_validated():
    with pytest.raises(ValueError, match="jobs"):
        R.ReproduceConfig(jobs=0)
    with pytest.raises(ValueError, match="tuple"):
        R.ReproduceConfig(only="makd_*")


def _fake_set(tmp_path, params: dict[str, str], papers: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Fake notebooks (paper none unless ``papers`` says; a LEAD one has ``params_set`` and the set
    the smoke LEAD recipe) with their manifest and params files."""
    notebooks, pdir = tmp_path / "notebooks", tmp_path / "myparams"
    pdir.mkdir(parents=True)
    papers = papers or {}
    for name, text in params.items():
        body = BAD_BODY if name == "bad" else GOOD_BODY
        parameters = PARAMETERS
        if papers.get(name) == "lead":  # no recipe key (lr) in its cell, and params_set
            parameters = "".join(line for line in PARAMETERS.splitlines(keepends=True) if not line.startswith("lr "))
            parameters = parameters.replace('output_dir = "."', 'params_set = "embedded"  # recipe set\noutput_dir = "."')
        make_notebook(notebooks / f"{name}.ipynb", body, parameters=parameters)
        (pdir / f"{name}.yaml").write_text(text)
    write_manifest(notebooks, {name: papers.get(name) for name in params})
    if "lead" in papers.values():
        shutil.copyfile(REPO / "params" / "smoke" / "lead.yaml", pdir / "lead.yaml")
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
    assert "[world_preview.png](world_preview.png)" in readme  # a copy inside the set's folder
    assert (set_dir / "world_preview.png").read_bytes() == figure  # survives copying reports/<set>/ elsewhere
    assert 'href="world_preview.html"' in (set_dir / "index.html").read_text()
    md = (out / "world_preview.md").read_text()
    assert "| bird | CUB-200-2011 | 4 | 32 | 200 | 224 |" in md


def test_embedded_set_trains_its_three_teachers_first_most_expensive_first():
    notebooks = discover_notebooks()
    params = prepare_params("embedded", notebooks)
    imagenet = ("embedded-imagenet", {"backbone": "resnet18", "small_input": False, "image_size": 32})
    assert R.teacher_jobs(params.values()) == [("embedded-L", {}), imagenet, ("embedded-M", {}), ("embedded-S", {})]
    smoke = prepare_params("smoke", notebooks)
    tiny = {"epochs": 1, "world_options": {"pretrain_per_class": 2}}
    assert R.teacher_jobs(smoke.values()) == [("embedded-M", tiny), ("embedded-S", tiny)]
    assert R.teacher_jobs([params["world_preview"]]) == []


def test_teachers_are_trained_before_any_notebook_and_a_failed_one_is_reported(tmp_path, capsys, monkeypatch):
    import fgkd.teachers.embedded as E

    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n"})
    events = []
    monkeypatch.setattr(R, "teacher_jobs", lambda notebooks: [("embedded-S", {"epochs": 1}), ("embedded-M", {})])

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
    # the run record says how long each model took, when it was ready and how the time split
    record = json.loads(next(reports.glob("*/run_record.json")).read_text())
    assert [(t["name"], t["kind"], bool(t["error"])) for t in record["teachers"]] == [
        ("embedded-S", "embedded CLIP teachers", False), ("embedded-M", "embedded CLIP teachers", True)]
    split = record["time_split"]
    assert 0 <= split["teacher_phase_wall_s"] <= split["wall_s"]
    assert split["teacher_phase_wall_s"] == max(t["ready_s"] for t in record["teachers"])
    assert split["after_teachers_wall_s"] == pytest.approx(split["wall_s"] - split["teacher_phase_wall_s"], abs=0.2)
    assert set(split["models_s"]) == {"embedded CLIP teachers"} and split["notebooks_s"] > 0


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
    with_recipe = R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abc", recipe={"epochs": 5})
    assert with_recipe != R.notebook_fingerprint(nb, {"num_classes": 3}, "python3", package="abc", recipe={"epochs": 6})


def test_a_notebook_runs_with_its_sets_recipe_and_reruns_when_the_recipe_changes(tmp_path, monkeypatch):
    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n", "recipe_user": "num_classes: 4\n"},
                                papers={"recipe_user": "lead"})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)
    args = ["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports), "--no-progress"]
    executed = []
    real_execute = R._execute_job
    monkeypatch.setattr(R, "teacher_jobs", lambda notebooks: [])  # the smoke recipe's teacher: not needed here
    monkeypatch.setattr(R, "_execute_job", lambda job: executed.append((Path(job[0]).stem, job[1])) or real_execute(job))

    assert main(args) == 0
    assert sorted(executed) == [("good", {"num_classes": 3}),
                                ("recipe_user", {"num_classes": 4, "params_set": str(pdir.resolve())})]
    injected = json.loads((reports / "myparams" / "recipe_user.ipynb").read_text())["cells"][3]["source"]
    assert f'params_set = "{pdir.resolve()}"' in "".join(injected)  # the notebook reads this set's lead.yaml

    executed.clear()
    recipe = pdir / "lead.yaml"
    recipe.write_text(recipe.read_text().replace("epochs: 1 ", "epochs: 2 "))
    assert main(args) == 0 and [name for name, _ in executed] == ["recipe_user"]  # only the LEAD notebook
    executed.clear()
    recipe.write_text(recipe.read_text() + "# a comment changes no value\n")
    assert main(args) == 0 and executed == []


def test_teachers_already_trained_are_not_scheduled(monkeypatch):
    import fgkd.teachers.embedded as E

    params = prepare_params("smoke", discover_notebooks()).values()
    tiny = {"epochs": 1, "world_options": {"pretrain_per_class": 2}}
    folder = E.teacher_folder(E.embedded_config("embedded-M", **tiny))
    folder.mkdir(parents=True)
    (folder / "teacher.pt").write_bytes(b"weights")
    assert R.teacher_jobs(params) == [("embedded-S", tiny)]


CLAIMS_BODY = (
    "from fgkd import report",
    "class V:  # like fgkd.experiments.common.Verdict\n"
    "    def record(self):\n"
    "        return {'claim': f'more classes help ({num_classes})', 'status': 'holds', 'mean_diff': 1.5,\n"
    "                'ci_low': 0.5, 'ci_high': 2.5, 'n_seeds': 3, 'per_seed': [1.0, 1.5, 2.0], 'unit': 'points'}\n"
    "nan = float('nan')\n"
    "report.write_verdicts(output_dir, [V(), {'claim': 'one seed', 'status': 'inconclusive', 'mean_diff': 0.2,\n"
    "                                         'ci_low': nan, 'ci_high': nan, 'n_seeds': 1}])",
)
WRITES_THEN_FAILS = (*CLAIMS_BODY, "raise ValueError('boom after the verdicts')")
DAMAGED_BODY = ("import pathlib\npathlib.Path(output_dir, 'verdicts.json').write_text('[{')",)


def test_reproduce_collects_verdicts_writes_run_records_and_the_readme_status(tmp_path, monkeypatch):
    notebooks, pdir = tmp_path / "notebooks", tmp_path / "myparams"
    pdir.mkdir()
    bodies = {"bad": WRITES_THEN_FAILS, "claims": CLAIMS_BODY, "damaged": DAMAGED_BODY}
    for name, body in bodies.items():
        make_notebook(notebooks / f"{name}.ipynb", body)
        (pdir / f"{name}.yaml").write_text("num_classes: 3\n")
    write_manifest(notebooks, list(bodies))  # index order: bad, claims, damaged
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\n<!-- status:begin -->\nnothing yet\n<!-- status:end -->\n\nthe rest\n")
    monkeypatch.setattr(R, "package_digest", lambda: "fixed")  # others may edit fgkd's source meanwhile
    monkeypatch.setattr(R, "status_readme", lambda pset, reports: readme)  # as for embedded into the repo's reports/
    executed = []
    real_execute = R._execute_job
    monkeypatch.setattr(R, "_execute_job", lambda job: executed.append(Path(job[0]).stem) or real_execute(job))
    args = ["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports),
            "--no-progress"]
    set_dir = reports / "myparams"

    assert main(args) == 1  # two notebooks failed
    collected = json.loads((set_dir / "verdicts.json").read_text())
    assert [(v["notebook"], v["claim"]) for v in collected] == [("claims", "more classes help (3)"),
                                                                ("claims", "one seed")]
    assert collected[1]["ci_low"] is None and collected[0]["per_seed"] == [1.0, 1.5, 2.0]
    rows = {n["name"]: n for n in json.loads((set_dir / "summary.json").read_text())["notebooks"]}
    assert rows["bad"]["status"] == "failed" and rows["bad"]["verdicts"] == []  # written, then it failed
    assert rows["damaged"]["status"] == "failed" and "unreadable verdicts" in rows["damaged"]["error"]
    assert str(set_dir.resolve() / "damaged" / "verdicts.json") in rows["damaged"]["error"]
    index = (set_dir / "README.md").read_text()
    assert "Verdicts: 2 claims: 1 holds, 0 contradicted, 1 inconclusive" in index
    assert "| `claims` | more classes help (3) | holds | +1.50 points | [+0.50, +2.50] | 3 |" in index
    assert "| `bad` | no verdicts: the notebook failed |" in index and "## How this was made" in index

    made = json.loads((set_dir / "run_record.json").read_text())
    assert made["command"] == "fgkd " + " ".join(args)
    assert made["params"]["name"] == "myparams" and made["fgkd_source_sha256"] == "fixed"
    assert [(n["name"], n["status"]) for n in made["notebooks"]] == [("bad", "failed"), ("claims", "ok"),
                                                                     ("damaged", "failed")]
    assert made["started"] <= made["ended"] and made["wall_s"] >= 0 and made["machine"]["jobs"] == 1
    own = json.loads((set_dir / "claims" / "run_record.json").read_text())
    assert own["notebook"]["params"] == {"num_classes": 3} and own["notebook"]["runtime_s"] > 0
    assert own["started"] == made["started"]
    status = readme.read_text()
    assert status.startswith("# project\n\n<!-- status:begin -->\n**Status: what the myparams scale shows**")
    assert "**2 claims: 1 holds, 0 contradicted, 1 inconclusive.**" in status and status.endswith("\n\nthe rest\n")
    assert "Failed, so without verdicts: `bad`, `damaged`." in status

    # Again: "claims" is unchanged, so its existing verdicts file is what is collected.
    from fgkd import report

    edited = report.read_verdicts(set_dir / "claims")
    edited[0]["status"] = "contradicted"
    report.write_verdicts(set_dir / "claims", edited)
    executed.clear()
    assert main(args) == 1 and sorted(executed) == ["bad", "damaged"]
    assert [v["status"] for v in json.loads((set_dir / "verdicts.json").read_text())] == ["contradicted",
                                                                                          "inconclusive"]
    again = json.loads((set_dir / "run_record.json").read_text())
    assert ("claims", "unchanged") in [(n["name"], n["status"]) for n in again["notebooks"]]
    assert json.loads((set_dir / "claims" / "run_record.json").read_text()) == own  # the run that made it
    assert "1 contradicted" in readme.read_text()


def test_the_failing_line_is_read_from_the_traceback():
    from fgkd.reproduce.execute import failing_line

    traceback = ["\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
                 "Cell \x1b[0;32mIn[3], line 4\x1b[0m\n\x1b[1;32m      2\x1b[0m x = 1\n"
                 "\x1b[0;32m----> 4\x1b[0m \x1b[43mtable\x1b[49m \x1b[38;5;241m=\x1b[39m lead\x1b[38;5;241m.\x1b[39mrun_table(grid)\n",
                 "\x1b[0;31mKeyError\x1b[0m: 'x'"]
    assert failing_line(traceback) == "table = lead.run_table(grid)"
    assert failing_line([]) == ""


def test_keys_in_executed_outputs_are_masked(tmp_path):
    import nbformat

    from fgkd.reproduce.execute import _mask_outputs

    key = "sk-" + "Q" * 40
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("call()")
    cell.outputs = [nbformat.v4.new_output("error", ename="AuthenticationError", evalue=f"bad key {key}",
                                           traceback=[f"AuthenticationError: bad key {key}"]),
                    nbformat.v4.new_output("stream", name="stderr", text=f"using {key}\n")]
    nb.cells.append(cell)
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, str(path))
    _mask_outputs(path)
    text = path.read_text()
    assert key not in text and "<masked key>" in text


def test_teacher_training_shows_its_epochs_in_the_progress_bar():
    import json

    from fgkd.reproduce.teachers import TeacherWatcher
    from fgkd.teachers.embedded import embedded_config, teacher_folder
    from fgkd.teachers.training import progress_path

    class Bar:
        def set_postfix_str(self, text):
            self.text = text

    watcher = TeacherWatcher([("embedded-S", {}, None), ("embedded-M", {}, None)], Bar(), every=3600)
    try:
        assert watcher.status() == "training teachers: embedded-S starting, embedded-M starting"
        folder = teacher_folder(embedded_config("embedded-S"))
        folder.mkdir(parents=True)
        progress_path(folder / "checkpoint.pt").write_text(json.dumps({"epoch": 2, "epochs": 5, "seconds": 9.0}))
        assert watcher.status().startswith("training teachers: embedded-S epoch 2/5")
        (folder / "teacher.pt").write_bytes(b"")  # trained: no longer shown
        assert watcher.status() == "training teachers: embedded-M starting"
    finally:
        watcher.stop()


@pytest.mark.notebook
@pytest.mark.slow
def test_a_failure_is_printed_once(tmp_path, capsys):
    notebooks, pdir = _fake_set(tmp_path, {"good": "num_classes: 3\n", "bad": ""})
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "world_preview.png").write_bytes(PNG)
    assert main(["reproduce", "--params", str(pdir), "--notebooks", str(notebooks), "--reports", str(reports),
                 "--jobs", "1", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("FAILED bad") == 1
    assert "1 notebook(s) failed: bad" in captured.err


FIGURE_BODY = (
    "from fgkd import report\nimport matplotlib.pyplot as plt",
    "fig, ax = plt.subplots()\nax.plot([0, 1], [1, 0], label='LEAD')\n"
    "ax.set(title='Top-1 against words removed', xlabel='words removed (%)', ylabel='Top-1')\nax.legend()",
)


def test_figures_carry_alternative_text_into_the_html_report(tmp_path, caplog, capfd):
    import logging

    notebook = make_notebook(tmp_path / "nb" / "figure.ipynb", FIGURE_BODY)
    set_dir = tmp_path / "reports" / "set"
    with caplog.at_level(logging.WARNING):
        result = R.execute_notebook(notebook, {}, set_dir, threads=1)
    assert result.status == "ok", result.error
    console = capfd.readouterr()
    for noise in ("Kernel is running over TCP", "KeyboardInterrupt caught", "IPKernelApp"):
        assert noise not in console.err + console.out  # the kernel's log stays out of the console
    html = (set_dir / "figure.html").read_text()
    assert 'alt="Figure with 1 panel: Top-1 against words removed (x: words removed (%), y: Top-1) legend: LEAD"' in html
    assert "No description has been provided" not in html
    assert "Alternative text is missing" not in caplog.text


def test_kernels_learn_the_params_set_their_runs_record(monkeypatch):
    from fgkd.paths import ENV_PARAMS_SET

    monkeypatch.delenv(ENV_PARAMS_SET, raising=False)
    with R._kernel_environment(1, "smoke"):
        assert R.os.environ[ENV_PARAMS_SET] == "smoke"
    assert ENV_PARAMS_SET not in R.os.environ
