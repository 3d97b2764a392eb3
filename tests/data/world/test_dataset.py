"""Tests of fgkd.data.world.dataset: the torch view of a world split."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from world_fakes import SMALL

from fgkd.data.world import DOMAINS, WorldDataset, world_dataset


def test_world_dataset_follows_the_dataset_contract():
    data = world_dataset("car", split="train", num_classes=3, **SMALL)
    assert isinstance(data, WorldDataset) and len(data) == 12
    image, label = data[5]
    assert isinstance(image, Image.Image) and image.size == (32, 32) and image.mode == "RGB"
    assert label == data.targets[5] == 2
    assert data.classes == data.world.class_names
    assert data.attributes.shape == (12, len(DOMAINS["car"].attributes)) and data.captions is None
    shaped = world_dataset("car", split="train", transform=lambda im: np.asarray(im).shape, num_classes=3, **SMALL)
    assert shaped[0] == ((32, 32, 3), 0)
    pretrain = world_dataset("car", split="pretrain", fraction=0.5, num_classes=3, **SMALL)
    assert len(pretrain) == 24 and len(pretrain.captions) == 24
    assert pretrain.classes == [c.name for c in pretrain.world.pretrain_classes]


def test_world_dataset_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown option.*num_class.*WorldConfig fields are"):
        world_dataset("bird", num_class=3)
