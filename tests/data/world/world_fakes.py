"""Shared helpers of the world tests (imported by name: tests/ has no __init__ files)."""

from __future__ import annotations

from fgkd.data.world import World, WorldConfig

# Small worlds keep every render in these tests to a few hundred 32 px images.
SMALL = dict(image_size=32, train_per_class=4, test_per_class=2, pretrain_classes=24, pretrain_per_class=2)


def small_world(domain: str = "bird", num_classes: int = 4, **overrides) -> World:
    return World(WorldConfig(domain=domain, num_classes=num_classes, **{**SMALL, **overrides}))
