"""Tests of fgkd.data.world.config: WorldConfig validation and the limits it names.

(Not test_config.py: tests have no __init__ files, so basenames must be unique across tests/.)
"""

from __future__ import annotations

import re

import pytest
from world_fakes import SMALL

from fgkd.data.world import WorldConfig


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


def test_too_few_pretraining_classes_to_cover_target_values():
    with pytest.raises(ValueError, match=r"pretrain_classes=4 is too few.*Use pretrain_classes >= \d+"):
        WorldConfig(domain="bird", num_classes=20, pretrain_classes=4)
