"""``pretrained: "world"``: LEAD's family starts from the embedded ImageNet, named in the run key."""

import numpy as np
import pytest
import torch

from train_fakes import lead_config

import fgkd.models.embedded_imagenet as EI
from fgkd.config import ConfigError
from fgkd.experiments.lead import Recipe, embedded_teachers
from fgkd.methods import as_method
from fgkd.runs import method_class

WORLD = {"num_classes": 4, "image_size": 32, "train_per_class": 8}


def world_config(method="lead", **changes):
    return lead_config(method, **{"dataset": "world:bird", "dataset_options": WORLD, "image_size": 32,
                                  "pretrained": "world", **changes})


@pytest.fixture
def tiny_pool(monkeypatch):
    """The world's pools replaced by 4 colour classes at 32 px, and the pre-training shortened."""
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(4), 10)
    images = (rng.integers(0, 256, (4, 3))[labels][:, None, None, :] + np.zeros((1, 32, 32, 3))).astype(np.uint8)
    monkeypatch.setattr(EI, "pretraining_pool", lambda config: (images, labels.astype(np.int64)))
    real = EI.embedded_imagenet_config
    monkeypatch.setattr(EI, "embedded_imagenet_config", lambda *a, **k: real(*a, **{"epochs": 1, "batch_size": 8, **k}))


def test_the_key_names_the_init_and_its_recipe(tiny_pool):
    world, scratch = world_config(), world_config(pretrained=False)
    assert world.config_hash() != scratch.config_hash()
    assert world.hash_dict()["pretrained_key"] == world.embedded_imagenet().key
    assert "pretrained_key" not in scratch.hash_dict()
    assert world_config(small_input=True).hash_dict()["pretrained_key"] != world.hash_dict()["pretrained_key"]


@pytest.mark.parametrize("method", ["lead", "moco", "simclr"])
def test_the_student_starts_from_the_pretrained_backbone(tiny_pool, method):
    cfg = world_config(method)
    saved = EI.load_embedded_imagenet(cfg.embedded_imagenet())["state_dict"]
    backbone = method_class(cfg).build_module(cfg).backbone
    for name, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


def test_loading_a_stored_run_needs_no_pretraining(tiny_pool, monkeypatch):
    from fgkd.methods.moco import MocoMethod

    def refuse(*args, **kwargs):
        raise AssertionError("a stored run's weights replace the init: nothing is pre-trained to load it")

    monkeypatch.setattr(EI, "embedded_imagenet_weights", refuse)
    cfg = as_method(world_config(), "moco")
    module = MocoMethod.model_from_meta(cfg, {})
    assert isinstance(module, torch.nn.Module)


@pytest.mark.parametrize("changes, match", [
    ({"pretrained": "imagenet"}, "true .* false .* 'world'"),
    ({"dataset": "fake:blobs", "dataset_options": {}, "image_size": 16}, "world:\\* datasets only"),
    ({"pretrained": 1}, "must be bool | str"),
])
def test_bad_inits_are_named_with_the_fix(changes, match):
    with pytest.raises(ConfigError, match=match):
        world_config(**changes)


def test_the_recipe_accepts_world_and_trains_it_beside_the_teachers():
    recipe = Recipe(pretrained="world", backbone="resnet18", image_size=32, teacher="embedded-M")
    assert recipe.config("world:bird").pretrained == "world"
    jobs = embedded_teachers({"teacher": "embedded-M", "pretrained": "world", "backbone": "resnet18",
                              "small_input": False, "image_size": 32})
    assert jobs[-1] == ("embedded-imagenet", {"backbone": "resnet18", "small_input": False, "image_size": 32})
    assert [name for name, _ in embedded_teachers({"teacher": "embedded-M", "pretrained": True})] == ["embedded-M"]
