"""The embedded ImageNet: a supervised pre-training on a tiny pool made here, cached, resumed, loaded."""

import numpy as np
import pytest
import torch

from fgkd.io import DamagedFileError
from fgkd.models import get_backbone
from fgkd.models.embedded_imagenet import (
    EmbeddedImageNetConfig,
    embedded_imagenet_weights,
    holdout_mask,
    load_embedded_imagenet,
    training_progress,
    weights_path,
)
from fgkd.teachers.training import TrainingInterrupted


def tiny_pool(classes=4, per_class=10, size=32, seed=0):
    """Each class a colour: a learnable pool in a few steps; rows interleaved by class as the world's."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(classes), per_class)
    colours = rng.integers(0, 256, size=(classes, 3))
    images = colours[labels][:, None, None, :] + rng.integers(-20, 21, size=(len(labels), size, size, 3))
    return images.clip(0, 255).astype(np.uint8), labels.astype(np.int64)


def cfg(**changes):
    return EmbeddedImageNetConfig(**{"epochs": 3, "batch_size": 6, "lr": 0.05, **changes})


def test_holdout_keeps_the_first_images_of_every_class():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    assert holdout_mask(labels, 1).tolist() == [True] * 3 + [False] * 6
    assert holdout_mask(labels, 2).sum() == 6 and holdout_mask(labels, 0).sum() == 0


def test_pretraining_learns_the_pool_and_records_its_provenance():
    config = cfg()
    path = embedded_imagenet_weights(config, progress=False, pool=tiny_pool())
    assert path == weights_path(config) and path.is_file()
    saved = load_embedded_imagenet(config)
    prov = saved["provenance"]
    assert prov["classes"] == 4 and prov["holdout_images"] == 4 and prov["pool_images"] == 40
    assert len(prov["holdout_top1_history"]) == 3 and prov["chance_top1"] == 25.0
    assert prov["loss_history"][-1] < prov["loss_history"][0]
    assert prov["holdout_top1"] > prov["chance_top1"]  # colours are easy: the held-out images are read
    assert prov["determinism"]["threads"] == 1
    # The file holds the backbone alone, and get_backbone loads it by path (every key).
    backbone, _ = get_backbone("resnet18", pretrained=path)
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, saved["state_dict"][name]), name


def test_an_interrupted_pretraining_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    config = cfg()
    pool = tiny_pool()
    with pytest.raises(TrainingInterrupted):
        embedded_imagenet_weights(config, progress=False, pool=pool, max_epochs_this_call=1)
    assert training_progress(config) == (1, 3) and not weights_path(config).exists()
    resumed = load_embedded_imagenet_after(config, pool)
    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "other"))
    straight = load_embedded_imagenet_after(config, pool)
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def load_embedded_imagenet_after(config, pool):
    embedded_imagenet_weights(config, progress=False, pool=pool)
    return load_embedded_imagenet(config)["state_dict"]


def test_a_damaged_weights_file_is_named_not_loaded():
    config = cfg(epochs=1)
    path = embedded_imagenet_weights(config, progress=False, pool=tiny_pool())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="delete"):
        get_backbone("resnet18", pretrained=path)


def test_weights_of_another_backbone_are_refused_with_the_fix(tmp_path):
    path = embedded_imagenet_weights(cfg(epochs=1), progress=False, pool=tiny_pool())
    with pytest.raises(RuntimeError, match="does not hold weights of backbone 'resnet34'"):
        get_backbone("resnet34", pretrained=path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_backbone("resnet18", pretrained=tmp_path / "missing.pt")


def test_the_key_follows_the_recipe_and_the_world():
    base = cfg()
    assert base.key == cfg().key
    assert base.key != cfg(epochs=4).key and base.key != cfg(small_input=True).key
    assert base.key != cfg(world_seed=1).key and base.key != cfg(domains=("bird",)).key


@pytest.mark.parametrize("changes, match", [
    ({"backbone": "resnet19"}, "unknown"), ({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"),
    ({"domains": ("bird", "bird")}, "distinct"), ({"flip": 1}, "flip"), ({"momentum": 1.0}, "momentum"),
])
def test_bad_values_are_named(changes, match):
    with pytest.raises(ValueError, match=match):
        cfg(**changes)


def test_a_pool_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="expected uint8"):
        embedded_imagenet_weights(cfg(), progress=False, pool=tiny_pool(size=40))
