"""Tests of fgkd.data.world.world: class records, split ground truth, fractions and the cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from world_fakes import small_world

import fgkd.data.world.world as world_module  # the module whose render_images World.split calls


def test_class_records_are_consistent():
    world = small_world("car", 6)
    part = world.domain.part_attributes
    assert world.class_names == [c.name for c in world.classes]
    assert world.class_attribute_matrix.shape == (6, len(part))
    for i, c in enumerate(world.classes):
        assert c.index == i
        assert [a.values[v] for a, v in zip(part, c.vector)] == [c.values[a.name] for a in part]
        assert set(c.values) == set(world.attribute_names)  # context: the preferred value
        assert world.class_by_name(c.name) is c
    with pytest.raises(ValueError, match="No class named"):
        world.class_by_name("Nonexistent Sedan")


def test_split_ground_truth_is_in_range_and_matches_classes():
    world = small_world("bird", 4, train_per_class=50)
    data = world.split("train")
    assert data.images.shape == (200, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.attributes.dtype == np.int64
    assert np.array_equal(data.labels, np.tile(np.arange(4), 50))
    sizes = np.array([len(a.values) for a in world.domain.attributes])
    assert ((data.attributes >= 0) & (data.attributes < sizes)).all()
    n_part = len(world.domain.part_attributes)
    assert np.array_equal(data.attributes[:, :n_part], world.class_attribute_matrix[data.labels])
    assert data.captions is None
    # Context correlates with the class without determining it (preferred value with p = 0.6).
    scene = world.domain.attribute("scene")
    preferred = np.array([scene.index(world.classes[y].values["scene"]) for y in data.labels])
    share = (data.attributes[:, world.attribute_names.index("scene")] == preferred).mean()
    assert 0.45 < share < 0.75


def test_fraction_is_stratified_and_nested():
    world = small_world("bird", 4, train_per_class=10)
    small, large, full = world.split("train", 0.4), world.split("train", 0.8), world.split("train")
    assert np.bincount(small.labels).tolist() == [4] * 4
    assert np.bincount(large.labels).tolist() == [8] * 4
    assert np.array_equal(large.images[: len(small)], small.images)  # a prefix: nested
    assert np.array_equal(full.images[: len(large)], large.images)
    assert len(world.split("train", 0.01)) == 4  # at least one image per class
    for bad in (0.0, 1.5, True):
        with pytest.raises(ValueError, match="fraction"):
            world.split("train", bad)
    with pytest.raises(ValueError, match="split='val' is unknown"):
        world.split("val")


def test_rendering_is_deterministic_and_seeded(tmp_path, monkeypatch):
    a = small_world("car", 2).split("test").images
    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "other"))  # render again, not from the cache
    b = small_world("car", 2).split("test").images
    c = small_world("car", 2, seed=1).split("test").images
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_and_test_images_differ():
    world = small_world("aircraft", 2, test_per_class=4)
    assert not np.array_equal(world.split("train").images, world.split("test").images)


def test_second_load_does_not_render(monkeypatch):
    small_world("bird", 2).split("train")
    calls = []
    monkeypatch.setattr(world_module, "render_images", lambda *a, **k: calls.append(1))
    data = small_world("bird", 2).split("train")  # a new World: read from disk
    assert calls == [] and data.images.shape == (8, 32, 32, 3)


def test_corrupt_cache_is_detected_and_rendered_again():
    world = small_world("bird", 2)
    original = world.split("test").images.copy()
    path = world.cache_path("test")
    path.write_bytes(path.read_bytes()[:200])  # truncated
    with pytest.warns(UserWarning, match="unreadable"):
        again = small_world("bird", 2).split("test").images
    assert np.array_equal(again, original)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten: loads cleanly now
        small_world("bird", 2).split("test")


def test_cache_key_ignores_fields_a_split_does_not_use():
    a, b = small_world("bird", 2), small_world("bird", 2, train_per_class=9)
    assert a.cache_key("test") == b.cache_key("test")
    assert a.cache_key("train") != b.cache_key("train")
    assert a.cache_key("pretrain") == small_world("bird", 6).cache_key("pretrain")
