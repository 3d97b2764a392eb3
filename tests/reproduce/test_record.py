"""fgkd.reproduce.record: the run record of a reproduce and the README's generated status block."""

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fgkd.reproduce import record as R
from fgkd.reproduce.sets import ParamsSet, resolve_params_set

REPO = Path(__file__).resolve().parents[2]
STARTED = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "commit.gpgsign=false",
                    *args], cwd=folder, check=True, capture_output=True)


@needs_git
def test_git_state_reads_the_commit_and_uncommitted_changes(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / "a.ipynb").write_text("{}")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    state = R.git_state(repo / "notebooks")
    assert state["commit"] == head and state["dirty"] is False and state["problem"] == ""
    assert Path(state["repository"]).resolve() == repo.resolve()
    (repo / "notebooks" / "a.ipynb").write_text('{"changed": 1}')
    state = R.git_state(repo / "notebooks")
    assert state["dirty"] is True and state["n_changed"] == 1 and state["changed"] == [" M notebooks/a.ipynb"]


def test_git_state_says_why_when_git_or_the_repository_is_absent(tmp_path, monkeypatch):
    state = R.git_state(tmp_path, git="no-such-git-binary")
    assert state["commit"] is None and state["dirty"] is None and state["problem"] == "git is not installed"
    monkeypatch.setattr(R.shutil, "which", lambda name: None)  # no git on PATH at all
    assert R.git_state(REPO)["problem"] == "git is not installed"
    monkeypatch.undo()
    if shutil.which("git"):
        outside = R.git_state(tmp_path)  # pytest's temporary folders are in no repository
        assert outside["commit"] is None and "is not in a git repository" in outside["problem"]


def test_versions_machine_and_seeds():
    versions = R.package_versions(("fgkd", "numpy", "no-such-distribution-xyz"))
    assert versions["fgkd"] and versions["fgkd"] != R.NOT_INSTALLED
    assert versions["no-such-distribution-xyz"] == "not installed"
    assert set(R.package_versions()) == {"fgkd", "torch", "torchvision", "open_clip_torch", "transformers", "numpy"}
    assert R.cpu_model() and isinstance(R.cpu_model(), str)
    assert R.recipe_seeds({"seeds": "0, 1,2"}) == {"key": "seeds", "value": "0, 1,2", "seeds": [0, 1, 2]}
    assert R.recipe_seeds({"seed": 3, "epochs": 5}) == {"key": "seed", "value": 3, "seeds": [3]}
    assert R.recipe_seeds({"seeds": "a few"})["seeds"] is None  # whatever is there, as written
    assert R.recipe_seeds({"epochs": 5}) is None and R.recipe_seeds(None) is None


def test_gpu_names_without_torch(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert R.gpu_names() == []


def _fake_set(tmp_path: Path) -> ParamsSet:
    folder = tmp_path / "myparams"
    folder.mkdir()
    (folder / "lead.yaml").write_text("epochs: 5\nseeds: \"0,1\"\n")  # no makd.yaml
    return ParamsSet("myparams", folder)


def test_run_record_has_every_part(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "gpu_names", lambda: ["Fake GPU 80GB"])
    record = R.run_record(_fake_set(tmp_path), started=STARTED, ended=STARTED + timedelta(seconds=90.25),
                          command="fgkd reproduce --params myparams", repository=tmp_path, jobs=2, threads=1,
                          notebooks=[{"name": "a", "status": "ok", "runtime_s": 1.0}], fgkd_source="abc")
    assert {"command", "started", "ended", "wall_s", "git", "versions", "machine", "params", "notebooks",
            "fgkd_source_sha256", "python_executable"} <= set(record)
    assert record["started"] == "2026-12-01T10:00:00+00:00" and record["wall_s"] == 90.2
    assert set(record["versions"]) >= set(R.PACKAGES) | {"python"}
    machine = record["machine"]
    assert machine["jobs"] == 2 and machine["threads_per_job"] == 1 and machine["gpus"] == ["Fake GPU 80GB"]
    assert machine["logical_cores"] >= 1 and machine["cpu"]
    params = record["params"]
    assert params["name"] == "myparams" and params["recipes"]["lead"] == {"epochs": 5, "seeds": "0,1"}
    assert params["recipes"]["makd"] is None and "makd.yaml" in params["problems"]["makd"]
    assert params["seeds"]["lead"]["seeds"] == [0, 1] and params["seeds"]["makd"] is None
    assert record["git"]["commit"] is None  # tmp_path is in no repository (or git is absent): said, not raised
    json.dumps(record)  # JSON-able as it is
    assert record["teachers"] == [] and record["time_split"] == {
        "wall_s": 90.2, "teacher_phase_wall_s": 0.0, "after_teachers_wall_s": 90.2, "models_s": {}, "notebooks_s": 1.0}
    lines = R.describe(record)
    assert lines[0] == ("Command: fgkd reproduce --params myparams; from 2026-12-01 10:00:00 UTC to "
                        "2026-12-01 10:01:30 UTC (90.2 s wall).")
    assert lines[1].startswith("Source: no commit recorded: ")
    assert "GPU: Fake GPU 80GB" in lines[3] and "seeds: LEAD seeds 0, 1." in lines[4]


def test_the_time_split_adds_each_kind_of_model_and_the_phases():
    teachers = [{"name": "embedded-L", "kind": "embedded CLIP teachers", "seconds": 400.0, "ready_s": 401.0},
                {"name": "embedded-imagenet", "kind": "embedded ImageNet", "seconds": 460.0, "ready_s": 470.0},
                {"name": "embedded-M", "kind": "embedded CLIP teachers", "seconds": 300.0, "ready_s": 701.0}]
    split = R.time_split(teachers, [{"runtime_s": 1000.0}, {"runtime_s": 500.0}], 1500.0)
    assert split == {"wall_s": 1500.0, "teacher_phase_wall_s": 701.0, "after_teachers_wall_s": 799.0,
                     "models_s": {"embedded CLIP teachers": 700.0, "embedded ImageNet": 460.0}, "notebooks_s": 1500.0}
    assert R.describe({"time_split": split})[-1] == (
        "Time: models trained first for 701 s wall (embedded CLIP teachers 700 s, embedded ImageNet 460 s, in "
        "their own processes), then the notebooks for 799 s wall (1500 s of notebook processes).")


def test_the_shipped_recipes_are_recorded_as_sets_reads_them():
    from fgkd.reproduce.sets import recipe_values

    params = R.params_record(resolve_params_set("embedded"))
    assert params["recipes"] == {p: recipe_values("embedded", p) for p in ("lead", "makd")}
    assert params["problems"] == {}


def test_write_run_records_copies_the_record_into_each_notebook_folder(tmp_path):
    record = {"command": "fgkd reproduce", "started": "now"}
    kept = tmp_path / "old" / "run_record.json"
    kept.parent.mkdir()
    kept.write_text('{"started": "earlier"}')
    notebooks = [{"name": "new", "output_dir": "new", "params": {"num_classes": 3}, "runtime_s": 2.5,
                  "status": "ok", "reused": False},
                 {"name": "old", "output_dir": "old", "params": {}, "runtime_s": 1.0, "status": "unchanged",
                  "reused": True}]
    path = R.write_run_records(record, tmp_path, notebooks)
    assert json.loads(path.read_text()) == record and path == tmp_path / "run_record.json"
    copy = R.read_run_record(tmp_path / "new")
    assert copy["command"] == "fgkd reproduce" and copy["notebook"]["params"] == {"num_classes": 3}
    assert copy["notebook"]["runtime_s"] == 2.5
    assert R.read_run_record(tmp_path / "old") == {"started": "earlier"}  # unchanged: the run that made it
    assert R.read_run_record(tmp_path / "nothing") is None
    (tmp_path / "run_record.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="run_record.json is damaged"):
        R.read_run_record(tmp_path)


# --- the README status block ------------------------------------------------------------------------

README = """# a project

Intro text.

<!-- status:begin -->
old hand-written status
<!-- status:end -->

More text | with a pipe.
"""


def fake_reports(root: Path, set_name: str = "smoke", run: bool = True) -> Path:
    """``root/<set>/verdicts.json`` (and run_record.json) as fgkd reproduce writes them."""
    folder = root / set_name
    folder.mkdir(parents=True)
    verdicts = [
        {"notebook": "lead_main", "claim": "LEAD beats MoCo v2", "status": "holds", "mean_diff": 7.75,
         "ci_low": 2.1, "ci_high": 13.4, "n_seeds": 3, "unit": "points"},
        {"notebook": "lead_word_removal", "claim": "more words removed, lower Top-1", "status": "inconclusive",
         "mean_diff": 0.4, "ci_low": None, "ci_high": None, "n_seeds": 1, "unit": "Spearman rho"},
    ]
    (folder / "verdicts.json").write_text(json.dumps(verdicts))
    if run:
        (folder / "run_record.json").write_text(json.dumps({
            "ended": "2026-12-01T10:24:11+00:00",
            "git": {"commit": "009a0097b1d10c5f19cd", "repository": "/repo", "dirty": False, "n_changed": 0},
            "notebooks": [{"name": "lead_main", "status": "ok"}, {"name": "makd_main", "status": "failed"}]}))
    return folder


def test_status_block_has_date_commit_counts_and_one_row_per_claim(tmp_path):
    fake_reports(tmp_path / "reports")
    block = R.status_block(tmp_path / "reports", "smoke", relative_to=tmp_path)
    assert "from `reports/smoke/verdicts.json`; reproduce of 2026-12-01, commit 009a0097b1d1, no uncommitted" in block
    assert "**2 claims: 1 holds, 0 contradicted, 1 inconclusive.**" in block
    assert "| `lead_main` | LEAD beats MoCo v2 | holds | +7.75 points | [+2.10, +13.40] | 3 |" in block
    assert "| `lead_word_removal` | more words removed, lower Top-1 | inconclusive | +0.40 Spearman rho | — | 1 |" \
        in block
    assert "Failed, so without verdicts: `makd_main`." in block
    assert "/repo" not in block


def test_status_block_without_a_run_record_or_verdicts(tmp_path):
    fake_reports(tmp_path / "reports", run=False)
    assert "no run_record.json beside it" in R.status_block(tmp_path / "reports", "smoke")
    with pytest.raises(FileNotFoundError) as info:
        R.status_block(tmp_path / "reports", "paper")
    message = str(info.value)
    assert str(tmp_path / "reports" / "paper" / "verdicts.json") in message
    assert "fgkd reproduce --params paper" in message


def test_update_readme_replaces_only_the_block_and_is_idempotent(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    assert R.update_readme(readme, "new block | one\n\nsecond line") is True
    text = readme.read_text()
    assert text == README.replace("old hand-written status", "new block | one\n\nsecond line")
    assert R.update_readme(readme, "new block | one\n\nsecond line") is False  # twice: nothing changes
    assert readme.read_text() == text
    assert R.replace_block(text, "x") == README.replace("old hand-written status", "x")


@pytest.mark.parametrize("text, found", [("no markers", "0 and 0"), (README + R.STATUS_BEGIN, "2 and 1"),
                                         (f"{R.STATUS_END}\n{R.STATUS_BEGIN}\n", "1 and 1")])
def test_update_readme_needs_the_markers_once_each_in_order(tmp_path, text, found):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(ValueError, match=f"{readme}.*status markers.*found {found}"):
        R.update_readme(readme, "x")
    assert readme.read_text() == text
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R.update_readme(tmp_path / "missing.md", "x")


def test_the_repository_readme_holds_the_markers_and_reproduce_targets_it_only_for_embedded():
    text = (REPO / "README.md").read_text()
    assert text.count(R.STATUS_BEGIN) == 1 and text.count(R.STATUS_END) == 1
    assert text.index(R.STATUS_BEGIN) < text.index(R.STATUS_END)
    assert R.status_readme(resolve_params_set("embedded"), REPO / "reports") == REPO / "README.md"
    assert R.status_readme(resolve_params_set("smoke"), REPO / "reports") is None
    assert R.status_readme(resolve_params_set("embedded"), REPO / "elsewhere") is None
    assert R.status_readme(ParamsSet("embedded", REPO / "tmp" / "embedded"), REPO / "reports") is None
