import json
import subprocess
import sys
from pathlib import Path

import pytest

from fgkd.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "reproduce" in out and "preview" in out and "status" in out


@pytest.mark.parametrize("command, options", [
    ("reproduce", ["--params", "--only", "--jobs", "--reports", "--notebooks", "--dry-run"]),
    ("preview", ["--out", "--image-size", "--seed"]),
    ("status", ["--params", "--reports", "--readme"]),
])
def test_subcommand_help(capsys, command, options):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "fgkd.cli", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "reproduce" in done.stdout


def test_defaults_and_repeated_only():
    args = build_parser().parse_args(["reproduce", "--only", "lead_*", "makd_main", "--only", "world_preview"])
    assert args.params == "embedded" and args.jobs == 1 and args.reports == Path("reports")
    assert args.only == ["lead_*", "makd_main", "world_preview"]


def test_bad_jobs_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "--jobs", "0"])
    assert info.value.code == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_unknown_params_set_exits_2_with_the_known_sets(capsys):
    assert main(["reproduce", "--params", "smoek", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "Unknown params set 'smoek'" in err and "did you mean 'smoke'" in err


def test_unknown_notebook_exits_2(capsys):
    assert main(["reproduce", "--params", "smoke", "--only", "no_such_notebook", "--dry-run"]) == 2
    assert "matches no notebook" in capsys.readouterr().err


def test_dry_run_validates_the_shipped_smoke_set(capsys):
    assert main(["reproduce", "--params", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "params set 'smoke'" in out and "world_preview" in out


def test_preview_calls_render_preview(tmp_path, monkeypatch, capsys):
    import fgkd.data.preview

    calls = []

    def fake_render(path, image_size=64, seed=0):
        calls.append((Path(path), image_size, seed))
        Path(path).write_bytes(b"png")
        return Path(path)

    monkeypatch.setattr(fgkd.data.preview, "render_preview", fake_render)
    out = tmp_path / "sub" / "sheet.png"
    assert main(["preview", "--out", str(out), "--image-size", "32", "--seed", "3"]) == 0
    assert calls == [(out, 32, 3)] and out.read_bytes() == b"png"
    assert str(out) in capsys.readouterr().out
    assert main(["preview", "--out", str(out), "--image-size", "4"]) == 2


def test_dry_run_checks_the_shared_recipe_too(tmp_path, capsys):
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(REPO / "params" / "smoke", folder)
    recipe = folder / "lead.yaml"
    recipe.write_text(recipe.read_text().replace("epochs:", "epoch:", 1))
    assert main(["reproduce", "--params", str(folder), "--only", "lead_main", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{recipe}: key 'epoch' (shared recipe)" in err and "did you mean 'epochs'?" in err
    recipe.write_text(recipe.read_text().replace("epoch:", "epochs:", 1))
    assert main(["reproduce", "--params", str(folder), "--only", "lead_main", "--dry-run"]) == 0
    assert f"lead_main  (shared recipe {recipe})" in capsys.readouterr().out


def test_a_bad_recipe_value_names_the_file_and_the_key(tmp_path, capsys):
    import shutil

    folder = tmp_path / "mine"
    shutil.copytree(REPO / "params" / "smoke", folder)
    recipe = folder / "lead.yaml"
    text = recipe.read_text()
    start = text.index("teacher_epochs:")
    end = text.index("\n", start)
    recipe.write_text(text[:start] + "teacher_epochs: -3" + text[end:])
    assert main(["reproduce", "--params", str(folder), "--only", "lead_main", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{recipe}: key 'teacher_epochs' (shared recipe)" in err and "must be >= 0" in err


def test_make_lab_works_on_ignored_copies():
    makefile = (REPO / "Makefile").read_text()
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert 'cp "$$nb" lab/' in lab and "jupyter lab lab/" in lab  # copies, never the tracked notebooks
    assert "/lab/" in (REPO / ".gitignore").read_text().splitlines()


def _status_reports(root: Path) -> Path:
    folder = root / "smoke"
    folder.mkdir(parents=True)
    (folder / "verdicts.json").write_text(json.dumps([
        {"notebook": "lead_main", "claim": "LEAD beats MoCo v2", "status": "contradicted", "mean_diff": -1.25,
         "ci_low": -2.0, "ci_high": -0.5, "n_seeds": 3, "unit": "points"}]))
    (folder / "run_record.json").write_text(json.dumps({"ended": "2026-12-01T10:24:11+00:00",
                                                        "git": {"problem": "git is not installed"}}))
    return folder


def test_status_prints_the_block_or_rewrites_the_readme_between_its_markers(tmp_path, capsys):
    reports = tmp_path / "reports"
    _status_reports(reports)
    assert main(["status", "--params", "smoke", "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "**1 claim: 0 holds, 1 contradicted, 0 inconclusive.**" in out
    assert "| `lead_main` | LEAD beats MoCo v2 | contradicted | -1.25 points | [-2.00, -0.50] | 3 |" in out
    assert "no commit recorded: git is not installed" in out

    readme = tmp_path / "README.md"
    before, after = "# title\n\ntext before\n\n", "\n\n## text after\n"
    readme.write_text(f"{before}<!-- status:begin -->\nplaceholder\n<!-- status:end -->{after}")
    args = ["status", "--params", "smoke", "--reports", str(reports), "--readme", str(readme)]
    assert main(args) == 0 and "status block updated" in capsys.readouterr().out
    text = readme.read_text()
    assert text.startswith(before + "<!-- status:begin -->\n**Status: what the smoke scale shows**")
    assert text.endswith("| 3 |\n<!-- status:end -->" + after) and "placeholder" not in text
    assert "from `reports/smoke/verdicts.json`" in text  # relative to the README's folder
    assert main(args) == 0 and "status block unchanged" in capsys.readouterr().out
    assert readme.read_text() == text  # idempotent


def test_status_without_verdicts_names_the_file_and_the_command(tmp_path, capsys):
    assert main(["status", "--params", "smoke", "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "smoke" / "verdicts.json") in err and "fgkd reproduce --params smoke" in err
    _status_reports(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    assert main(["status", "--params", "smoke", "--reports", str(tmp_path), "--readme", str(readme)]) == 2
    assert "<!-- status:begin -->" in capsys.readouterr().err and readme.read_text() == "no markers here\n"
    assert main(["status", "--params", "smoek", "--reports", str(tmp_path)]) == 2
    assert "Unknown params set 'smoek'" in capsys.readouterr().err


def test_version(capsys):
    import importlib.metadata

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"fgkd {importlib.metadata.version('fgkd')}"


def test_overrides_apply_where_the_key_exists_and_are_validated(capsys):
    from fgkd.reproduce.params import prepare_params
    from fgkd.reproduce.manifest import discover_notebooks
    from fgkd.reproduce.sets import ParamsError

    notebooks = discover_notebooks(None, ("lead_word_removal", "makd_main"))
    prepared = prepare_params("smoke", notebooks, overrides={"epochs": 2, "removal_pcts": "0,80"})
    lead, makd = prepared["lead_word_removal"], prepared["makd_main"]
    assert lead.injected["epochs"] == 2 and lead.injected["removal_pcts"] == "0,80" and lead.effective["epochs"] == 2
    assert makd.injected["epochs"] == 2 and "removal_pcts" not in makd.injected  # not a MaKD parameter
    with pytest.raises(ParamsError, match=r"'epoch'.*did you mean 'epochs'"):
        prepare_params("smoke", notebooks, overrides={"epoch": 2})
    with pytest.raises(ParamsError, match="epochs"):
        prepare_params("smoke", notebooks, overrides={"epochs": -1})
    assert main(["reproduce", "--params", "smoke", "--only", "lead_word_removal", "-p", "epochs=2", "--dry-run",
                 "--no-progress"]) == 0
    with pytest.raises(SystemExit) as bad:  # argparse: not KEY=VALUE
        main(["reproduce", "--params", "smoke", "--only", "lead_word_removal", "-p", "epochs", "--dry-run"])
    assert bad.value.code == 2 and "expected KEY=VALUE" in capsys.readouterr().err


def test_show_prints_headlines_and_verdicts(tmp_path, capsys):
    import json

    from fgkd import report

    folder = tmp_path / "reports" / "embedded"
    (folder / "lead_main").mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"notebooks": [
        {"name": "lead_main", "status": "ok",
         "headline": {"title": "t", "kit_label": "k", "kit": {"LEAD Top-1": 35.5, "gap": None},
                      "paper": {"LEAD Top-1": 78.44}}}]}))
    report.write_verdicts(folder, [{"claim": "LEAD beats MoCo v2", "status": "holds", "mean_diff": 3.0,
                                    "ci_low": 1.0, "ci_high": 5.0, "n_seeds": 3}])
    assert main(["show", "embedded", "--reports", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    assert "lead_main" in out and "LEAD Top-1 35.50" in out and "paper: LEAD Top-1 78.44" in out
    assert "LEAD beats MoCo v2" in out and "holds" in out
    assert main(["show", "paper", "--reports", str(tmp_path / "reports")]) == 2
