"""Tests of fgkd.data.world.render: every attribute is visible, nuisance varies, pixels are no shortcut."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fgkd.data.world import DOMAINS, World, WorldConfig, render_images


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
