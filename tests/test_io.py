import json
import os

import numpy as np
import pytest

from fgkd import io, paths


def test_cache_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.ENV_CACHE, str(tmp_path / "c"))
    assert paths.cache_dir("runs") == tmp_path / "c" / "runs"
    assert (tmp_path / "c" / "runs").is_dir()


def test_atomic_path_leaves_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    io.atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["x.json"]  # no temporary left behind


def test_atomic_savez_round_trip(tmp_path):
    target = tmp_path / "a.npz"
    io.atomic_savez(target, x=np.arange(5))
    assert np.load(target)["x"].tolist() == [0, 1, 2, 3, 4]


def test_stable_hash_ignores_key_order_and_changes_with_values():
    assert io.stable_hash({"a": 1, "b": 2}) == io.stable_hash({"b": 2, "a": 1})
    assert io.stable_hash({"a": 1}) != io.stable_hash({"a": 2})


def test_atomic_writes_honour_the_umask(tmp_path):
    import os

    from fgkd.io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.txt", "x")
        assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.txt", "x")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
