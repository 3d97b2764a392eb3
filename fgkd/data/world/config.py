"""The world's configuration: :class:`WorldConfig`, everything that determines a world, validated
when it is built (including whether the attribute space holds the classes it asks for)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fgkd.data.world.domains import DOMAINS
from fgkd.data.world.taxonomy import _carve


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a world and its rendered splits (same config, same bytes)."""

    domain: str = "bird"  # one of DOMAINS: "bird" (CUB analogue), "car" (Cars), "aircraft" (Aircraft)
    num_classes: int = 20  # C target classes (genera of species_per_genus siblings)
    image_size: int = 64  # H = W in pixels, 32 to 224
    train_per_class: int = 30  # training images per target class
    test_per_class: int = 20  # test images per target class
    # Many pretraining classes with few images each: a teacher trained on them has to learn the
    # attributes rather than memorise a few combinations, so it transfers to unseen target classes.
    pretrain_classes: int = 512  # classes of the disjoint pretraining pool (captioned images)
    pretrain_per_class: int = 6  # images per pretraining class
    seed: int = 0  # fixes the class universe, names, and every rendered pixel
    species_per_genus: int = 4  # siblings per genus (superclass); siblings differ in 1-2 attributes
    context_prob: float = 0.6  # P(an image shows its class's preferred scene / light), else another
    nuisance: float = 1.0  # pose, scale, shift, flip, jitter, clutter, occluders, noise; 0 = canonical
    # pose on a plain scene texture; above 1 (up to 2) only rotation and pixel noise grow further

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"WorldConfig.domain={self.domain!r} is unknown; use one of {', '.join(DOMAINS)}.")
        _check_int("image_size", self.image_size, 32, 224)
        _check_int("num_classes", self.num_classes, 2)
        _check_int("pretrain_classes", self.pretrain_classes, 2)
        for name in ("train_per_class", "test_per_class", "pretrain_per_class"):
            _check_int(name, getattr(self, name), 1)
        _check_int("species_per_genus", self.species_per_genus, 2, 8)
        _check_int("seed", self.seed, 0)
        for name, hi in (("context_prob", 1.0), ("nuisance", 2.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= hi:
                raise ValueError(f"WorldConfig.{name}={value!r} must be a number in [0, {hi}].")
        # The class universe is cached per (domain, seed, species_per_genus), so this check is
        # the same work World does next, not extra.
        _carve(self, "target")
        _carve(self, "pretrain")


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    ok = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
          and value >= lo and (hi is None or value <= hi))
    if not ok:
        allowed = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise ValueError(f"WorldConfig.{name}={value!r} must be {allowed}.")
