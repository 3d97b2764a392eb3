"""Shared helpers of the scorer tests (imported by name: tests/ has no __init__ files).

A world-shaped dataset (the documented contract: .attributes [N, A] value indices, one column per
world.domain.attributes entry, and .world), small enough to reason about by hand.
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np
import torch

from fgkd.llm.questions import AspectQuestion


@dataclass(frozen=True)
class Spec:
    name: str
    values: tuple[str, ...]


class FakeWorldDataset(torch.utils.data.Dataset):
    def __init__(self, attributes: np.ndarray):
        specs = [Spec("wing_color", ("red", "blue", "green")), Spec("habitat", ("forest", "sky"))]
        self.world = types.SimpleNamespace(domain=types.SimpleNamespace(attributes=specs))
        self.attributes = np.asarray(attributes, dtype=np.int64)
        self.targets = [0] * len(self.attributes)

    def __len__(self):
        return len(self.attributes)

    def __getitem__(self, index):
        raise AssertionError("the oracle must not read images")


ATTRS = np.array([[0, 0], [1, 1], [2, 0], [0, 1], [1, 0], [2, 1]])
QUESTIONS = [
    AspectQuestion("Does the bird have red wings?", attribute="wing_color", value="red"),
    AspectQuestion("Does the bird have blue wings?", attribute="wing_color", value="blue"),
    AspectQuestion("Is the bird in the sky?", attribute="habitat", value="sky"),
]
GT = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=float)
