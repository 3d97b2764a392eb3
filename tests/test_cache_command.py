import os
import time

import pytest
from train_fakes import lead_config

from fgkd import cache
from fgkd.cli import main
from fgkd.paths import cache_dir
from fgkd.runs import get_or_train


@pytest.fixture
def cached_run():
    return get_or_train(lead_config(method="moco", epochs=1))


def test_list_shows_runs_with_size_date_and_state(cached_run, capsys):
    entries = cache.inventory()
    runs = [e for e in entries if e.kind == "runs/moco"]
    assert [e.path for e in runs] == [cached_run.path] and runs[0].size > 0 and runs[0].detail.startswith("done")
    assert main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "runs/moco: 1" in out and cached_run.path.name in out


def test_verify_finds_flipped_bytes(cached_run, capsys):
    assert main(["cache", "verify"]) == 0
    weights = cached_run.path / "model.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["cache", "verify"]) == 1
    assert "model.pt: damaged" in capsys.readouterr().out


def test_clean_removes_old_temp_files_and_runs(cached_run, capsys):
    old = cache_dir("runs") / ".model.pt.abc.tmp"
    new = cache_dir("runs") / ".model.pt.def.tmp"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"x" * 10)
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert main(["cache", "clean", "--temp"]) == 0
    assert not old.exists() and new.exists()  # a young temp file may be a write in progress
    assert main(["cache", "clean", "--runs", "--method", "makd"]) == 0
    assert cached_run.path.exists()
    assert main(["cache", "clean", "--runs", "--older-than", "2000-01-01", "--dry-run"]) == 0
    assert "would remove 0 run(s)" in capsys.readouterr().out
    assert main(["cache", "clean", "--runs", "--method", "moco"]) == 0
    assert not cached_run.path.exists()
    assert main(["cache", "clean"]) == 2


def test_clean_removes_the_runs_a_params_set_trained(monkeypatch, capsys):
    from fgkd.paths import ENV_PARAMS_SET

    monkeypatch.setenv(ENV_PARAMS_SET, "smoke")  # as fgkd reproduce --params smoke sets it for its kernels
    smoke = get_or_train(lead_config(method="moco", epochs=1))
    monkeypatch.delenv(ENV_PARAMS_SET)
    mine = get_or_train(lead_config(method="moco", epochs=1, seed=1))
    assert cache.trained_for(smoke.path) == "smoke" and cache.trained_for(mine.path) is None
    assert main(["cache", "clean", "--runs", "--params", "embedded"]) == 0
    assert smoke.path.exists() and mine.path.exists()
    assert main(["cache", "clean", "--runs", "--params", "smoke"]) == 0
    assert not smoke.path.exists() and mine.path.exists()
    assert "removed 1 run(s)" in capsys.readouterr().out
