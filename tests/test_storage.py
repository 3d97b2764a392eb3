"""A full disk and a read-only cache are named with the folder, the free space and the fix."""

import errno
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

import fgkd.paths as paths
from fgkd.io import atomic_torch_save, atomic_write_text
from fgkd.paths import StorageError

Usage = namedtuple("Usage", "total used free")


def test_a_full_disk_names_the_folder_and_the_free_space(tmp_path, monkeypatch):
    monkeypatch.setattr(paths.shutil, "disk_usage", lambda p: Usage(100, 100, 2048))

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(StorageError, match=rf"no space left in {tmp_path} \(2.0 KB free.*FGKD_CACHE_DIR"):
        atomic_write_text(tmp_path / "metrics.json", "{}")
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file left behind


def test_torch_s_full_disk_error_is_translated(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(paths.shutil, "disk_usage", lambda p: Usage(100, 100, 0))

    def enforce_fail(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"x" * 4096)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4096 vs 4032")

    monkeypatch.setattr(torch, "save", enforce_fail)
    with pytest.raises(StorageError, match=r"no space left in .*\(0 B free, at least 4.0 KB needed for model.pt\)"):
        atomic_torch_save({"w": 1}, tmp_path / "model.pt")


def test_a_read_only_cache_says_set_fgkd_cache_dir(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_text", read_only)
    with pytest.raises(StorageError, match=r"is not writable \(Read-only file system\); set FGKD_CACHE_DIR"):
        atomic_write_text(tmp_path / "x.json", "{}")


def test_other_errors_pass_through(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(OSError) as err:
        atomic_write_text(tmp_path / "x.json", "{}")
    assert not isinstance(err.value, StorageError)


def test_dry_run_checks_the_cache_is_writable_and_has_room(monkeypatch, capsys):
    import tempfile

    from fgkd.cli import main

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    original = tempfile.NamedTemporaryFile
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    assert main(["reproduce", "--params", "smoke", "--only", "lead_main", "--dry-run", "--no-progress"]) == 2
    assert "not writable" in capsys.readouterr().err
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", original)
    monkeypatch.setattr(paths.shutil, "disk_usage", lambda p: Usage(100, 100, 10_000))
    assert main(["reproduce", "--params", "smoke", "--only", "lead_main", "--dry-run", "--no-progress"]) == 2
    assert "no space left" in capsys.readouterr().err
