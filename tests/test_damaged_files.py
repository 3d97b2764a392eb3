"""Damaged files are found, rebuilt from what is intact, or named with the fix; never loaded silently."""

import json

import numpy as np
import pytest
import torch

from train_fakes import lead_config

import fgkd.runs as runs
from fgkd.io import DamagedFileError, atomic_torch_save, checked_torch_load, checksum_path
from fgkd.runs import Run, get_or_train


def _flip_bytes(path, count=8):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(count):
        data[middle + i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def trained():
    cfg = lead_config(method="moco", epochs=1)
    return cfg, get_or_train(cfg)


def test_flipped_bytes_in_weights_are_found_not_loaded(tmp_path):
    path = tmp_path / "model.pt"
    atomic_torch_save({"w": torch.arange(1000, dtype=torch.float32)}, path)
    assert checksum_path(path).exists()
    assert torch.equal(checked_torch_load(path, fix="retrain")["w"], torch.arange(1000, dtype=torch.float32))
    _flip_bytes(path)
    with pytest.raises(DamagedFileError, match=r"model.pt is damaged.*SHA-256.*retrain"):
        checked_torch_load(path, fix="retrain")


def test_a_truncated_file_names_itself(tmp_path):
    path = tmp_path / "teacher.pt"
    torch.save({"w": torch.zeros(100)}, path)  # an old file: no checksum beside it
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DamagedFileError, match=r"teacher.pt is damaged \(torch cannot read it"):
        checked_torch_load(path, fix="delete it")


def test_a_run_with_damaged_weights_says_how_to_retrain(trained):
    cfg, run = trained
    _flip_bytes(run.path / "model.pt")
    with pytest.raises(DamagedFileError, match="delete the run folder"):
        run.model()


@pytest.mark.parametrize("damage", ["truncate", "empty", "not a dict", "missing"])
def test_damaged_metrics_are_evaluated_again_without_training(trained, monkeypatch, damage):
    cfg, run = trained
    before = run.metrics
    path = run.path / "metrics.json"
    if damage == "truncate":
        path.write_text(path.read_text()[:20])
    elif damage == "empty":
        path.write_text("")
    elif damage == "not a dict":
        path.write_text(json.dumps([1, 2]))
    else:
        path.unlink()  # killed between the weights and the metrics
    assert not Run.of(cfg).done

    def no_training(*args, **kwargs):
        raise AssertionError("the run was trained again although its weights are intact")

    monkeypatch.setattr(runs, "train", no_training)
    again = get_or_train(cfg)
    assert again.done and again.metrics["re_evaluated"] is True
    assert again.metrics["top1"] == pytest.approx(before["top1"]) and again.metrics["mAP"] == pytest.approx(before["mAP"])


def test_damaged_feature_files_are_rebuilt_from_the_weights(trained):
    cfg, run = trained
    good = run.arrays("test")
    path = run.path / "features_test.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged"):
        again = Run.of(cfg).arrays("test")
    assert np.allclose(again["features"], good["features"], atol=1e-5)


def test_a_damaged_checkpoint_restarts_training_and_orphan_temp_files_go(tmp_path, monkeypatch):
    cfg = lead_config(method="moco", epochs=2)
    run = Run.of(cfg)
    run.path.mkdir(parents=True)
    orphans = [run.path / ".checkpoint.pt.abc123.tmp", run.path / ".model.pt.def456.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"x" * 1000)
    atomic_torch_save({"config_hash": "nonsense"}, run.path / "checkpoint.pt")
    _flip_bytes(run.path / "checkpoint.pt", count=4)
    with pytest.warns(UserWarning, match="checkpoint.pt is damaged"):
        done = get_or_train(cfg)
    assert done.done and done.metrics["epochs"] == 2
    assert not any(o.exists() for o in orphans)
    assert not (run.path / "checkpoint.pt").exists() and not checksum_path(run.path / "checkpoint.pt").exists()
