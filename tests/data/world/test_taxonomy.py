"""Tests of fgkd.data.world.taxonomy: the class universe, pools, siblings and coverage."""

from __future__ import annotations

import pytest
from world_fakes import small_world

from fgkd.data.world import DOMAINS, World, WorldConfig


def test_bird_world_holds_200_classes():
    world = World(WorldConfig(domain="bird", num_classes=200))
    assert len(world.classes) == 200
    assert len({c.name for c in world.classes}) == 200
    assert len({c.vector for c in world.classes}) == 200


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
