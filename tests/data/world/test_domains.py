"""Tests of fgkd.data.world.domains: attributes, domains, phrases and the colour palette."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fgkd.data.world import DOMAINS, PALETTE, AttributeSpec, max_color_jitter


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
