"""Tests of the procedural world: class universe, ground truth, rendering, splits, cache, datasets."""

from __future__ import annotations

import itertools
import re
import warnings

import numpy as np
import pytest
from PIL import Image

import fgkd.data.world as world_module
from fgkd.data.world import (
    DOMAINS,
    PALETTE,
    AttributeSpec,
    World,
    WorldConfig,
    WorldDataset,
    caption,
    max_color_jitter,
    render_images,
    world_dataset,
)

# Small worlds keep every render in these tests to a few hundred 32 px images.
SMALL = dict(image_size=32, train_per_class=4, test_per_class=2, pretrain_classes=24, pretrain_per_class=2)


def small_world(domain: str = "bird", num_classes: int = 4, **overrides) -> World:
    return World(WorldConfig(domain=domain, num_classes=num_classes, **{**SMALL, **overrides}))


# --- domains and attributes


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_domain_has_part_and_context_attributes(domain):
    spec = DOMAINS[domain]
    assert len(spec.part_attributes) >= 8
    assert all(2 <= len(a.values) <= 6 for a in spec.attributes)
    assert {a.kind for a in spec.context_attributes} == {"scene", "light"}
    assert len(set(spec.attribute_names)) == len(spec.attributes)
    assert spec.attributes[: len(spec.part_attributes)] == spec.part_attributes  # part columns first


def test_phrases_read_naturally():
    bird, car, aircraft = DOMAINS["bird"], DOMAINS["car"], DOMAINS["aircraft"]
    assert bird.attribute("wing_color").phrase("red") == "red wings"
    assert bird.attribute("body_pattern").phrase("striped") == "a striped body"
    assert bird.attribute("head_shape").phrase(1) == "a crested head"
    assert aircraft.attribute("engine_count").phrase("two") == "two engines"
    assert bird.attribute("scene").phrase("forest") == "in a forest"
    assert car.attribute("body_style").phrase("hatchback") == "a hatchback body"
    with pytest.raises(ValueError, match="wing_color has no value 'pink'"):
        bird.attribute("wing_color").phrase("pink")


def test_attribute_spec_validates():
    with pytest.raises(ValueError, match="kind"):
        AttributeSpec("x", "body", "texture", ("a", "b"))
    with pytest.raises(ValueError, match="2 to 6 distinct values"):
        AttributeSpec("x", "body", "color", ("red",))


def test_colour_jitter_keeps_values_apart():
    """Worst-case jitter of two values of one colour attribute never meets in the middle."""
    for spec in DOMAINS.values():
        for a in spec.part_attributes:
            if a.kind != "color":
                continue
            for c1, c2 in itertools.combinations(a.values, 2):
                gap = np.linalg.norm(np.subtract(PALETTE[c1], PALETTE[c2]))
                assert gap > max_color_jitter(c1) + max_color_jitter(c2), (spec.name, a.name, c1, c2)


# --- config validation


@pytest.mark.parametrize("field, value, pattern", [
    ("domain", "fish", r"domain='fish' is unknown; use one of bird, car, aircraft"),
    ("image_size", 16, r"image_size=16 must be an integer in \[32, 224\]"),
    ("image_size", 300, r"image_size=300"),
    ("num_classes", 1, r"num_classes=1 must be an integer >= 2"),
    ("train_per_class", 0, r"train_per_class=0"),
    ("context_prob", 1.5, r"context_prob=1.5 must be a number in \[0, 1.0\]"),
    ("species_per_genus", 1, r"species_per_genus=1"),
])
def test_config_rejects_bad_values(field, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        WorldConfig(**{**SMALL, field: value})


def test_too_many_classes_names_the_limit_and_the_fix():
    with pytest.raises(ValueError) as err:
        WorldConfig(domain="car", num_classes=100_000)
    message = str(err.value)
    limit = int(re.search(r"at most (\d+) target classes", message).group(1))
    assert "num_classes=100000" in message and f"Use num_classes <= {limit}" in message
    WorldConfig(domain="car", num_classes=limit)  # the limit itself is allowed


def test_bird_world_holds_200_classes():
    world = World(WorldConfig(domain="bird", num_classes=200))
    assert len(world.classes) == 200
    assert len({c.name for c in world.classes}) == 200
    assert len({c.vector for c in world.classes}) == 200


def test_too_few_pretraining_classes_to_cover_target_values():
    with pytest.raises(ValueError, match=r"pretrain_classes=4 is too few.*Use pretrain_classes >= \d+"):
        WorldConfig(domain="bird", num_classes=20, pretrain_classes=4)


# --- classes


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_target_and_pretraining_vectors_are_disjoint_for_any_class_count(domain):
    pretrain = {c.vector for c in small_world(domain).pretrain_classes}
    for num_classes in (2, 7, 20, 61):
        world = small_world(domain, num_classes)
        target = {c.vector for c in world.classes}
        assert len(target) == num_classes
        assert not target & pretrain
        assert {c.vector for c in world.pretrain_classes} == pretrain  # the pool does not move


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_class_has_a_sibling_one_or_two_attributes_away(domain):
    world = small_world(domain, 22)
    for c in world.classes:
        siblings = world.siblings(c)
        assert siblings, c.name
        assert all(s.superclass == c.superclass for s in siblings)
        distances = [sum(x != y for x, y in zip(c.vector, s.vector)) for s in siblings]
        assert min(distances) in (1, 2), (c.name, distances)
    for c in world.classes:  # the genus word is shared in the sibling names
        assert c.superclass.split()[0] in c.name


def test_target_values_all_occur_in_the_pretraining_pool():
    world = small_world("aircraft", 40)
    for j in range(len(world.domain.part_attributes)):
        assert set(world.class_attribute_matrix[:, j]) <= set(world.pretrain_class_attribute_matrix[:, j])


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


# --- splits


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


# --- rendering


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_part_attribute_changes_the_pixels_at_32px(domain):
    """Each value of each attribute is drawn and visible at 32 px: changing only it (same pose,
    same background) changes several pixels clearly, for one of two base objects and two scenes."""
    spec = DOMAINS[domain]
    n_part = len(spec.part_attributes)
    for j, a in enumerate(spec.part_attributes):
        for value in range(len(a.values)):
            changed = 0
            for base_value, scene in itertools.product((0, 1), (0, 2)):
                base = np.array([base_value % len(b.values) for b in spec.part_attributes] + [scene, 0])
                if base[j] == value:
                    continue
                row = base.copy()
                row[j] = value
                pair = np.concatenate([render_images(domain, r[None], 32, seed=0, nuisance=0.0) for r in (base, row)])
                changed = max(changed, int((np.abs(pair[0].astype(int) - pair[1]).max(-1) > 40).sum()))
            assert changed >= 5, (domain, a.name, a.values[value], changed)
    assert n_part >= 8


def test_nuisance_varies_images_of_one_class():
    attrs = np.zeros((8, len(DOMAINS["bird"].attributes)), dtype=np.int64)

    def spread(nuisance: float) -> float:  # mean pixel distance between images of one class
        images = render_images("bird", attrs, 32, seed=0, nuisance=nuisance).astype(int)
        return float(np.mean([np.abs(images[i] - images[i + 1]).mean() for i in range(7)]))

    assert spread(1.0) > 1.5 * spread(0.0)


def test_render_images_checks_its_input():
    with pytest.raises(ValueError, match=r"attributes must be \[N, 12\]"):
        render_images("bird", np.zeros((2, 3)), 32)
    with pytest.raises(ValueError, match="out of range"):
        render_images("bird", np.full((1, 12), 9), 32)


# --- captions


def test_pretraining_captions_mention_every_attribute_and_vary():
    world = small_world("bird", 2, pretrain_per_class=3)
    data = world.split("pretrain")
    assert len(data.captions) == len(data.labels) == 72
    for text, row in zip(data.captions, data.attributes):
        for a, v in zip(world.domain.attributes, row):
            word = a.phrase(v) if a.context else a.values[v]
            assert word in text.lower(), (word, text)
    templates = {t.split(" ")[0] + t.split(" ")[1] for t in data.captions}
    assert len(templates) >= 3  # phrasing varies
    first_parts = {re.sub(r"^.*? with (a |an )?", "", t).split()[0] for t in data.captions}
    assert len(first_parts) >= 3  # part order varies
    assert small_world("bird", 2, pretrain_per_class=3).split("pretrain").captions == data.captions


def test_canonical_description():
    values = {"wing_color": "red", "head_color": "blue", "head_shape": "crested", "scene": "forest"}
    assert caption("bird", values) == "a photo of a bird with a blue crested head and red wings in a forest."
    world = small_world("aircraft", 2)
    assert world.describe(0).startswith("a photo of an aircraft with ")


# --- torch datasets


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


def test_a_linear_model_on_pixels_does_not_solve_the_classes():
    """Nuisance keeps raw pixels from being a shortcut: ridge regression on them (the best of a few
    strengths) stays far from solving 20 sibling-rich bird classes; a small CNN reaches ~80 %."""
    world = World(WorldConfig(domain="bird", num_classes=20, image_size=32, train_per_class=30, test_per_class=10))
    train, test = world.split("train"), world.split("test")

    def pixels(images: np.ndarray) -> np.ndarray:
        x = images.reshape(len(images), -1).astype(np.float64) / 255.0
        return x - x.mean(1, keepdims=True)

    x, x_test = pixels(train.images), pixels(test.images)
    targets = np.eye(20)[train.labels]
    gram, cross = x @ x.T, x_test @ x.T
    # Ridge in kernel form: W = X^T (X X^T + alpha I)^-1 Y, so scores = X_test X^T (...)^-1 Y.
    def accuracy(alpha: float) -> float:
        scores = cross @ np.linalg.solve(gram + alpha * np.eye(len(x)), targets)
        return float((scores.argmax(1) == test.labels).mean())

    best = max(accuracy(alpha) for alpha in (3.0, 30.0, 300.0))
    assert 0.1 < best < 0.6, best  # above chance (0.05): the classes do show in the pixels
