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
    assert "reproduce" in out and "preview" in out


@pytest.mark.parametrize("command, options", [
    ("reproduce", ["--params", "--only", "--jobs", "--reports", "--notebooks", "--dry-run"]),
    ("preview", ["--out", "--image-size", "--seed"]),
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
