"""Tests of fgkd.data.world.captions: canonical and varied captions."""

from __future__ import annotations

import re

from world_fakes import small_world

from fgkd.data.world import caption


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
