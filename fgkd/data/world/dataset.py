"""Torch views of a world split: :class:`WorldDataset` and the ``world:<domain>`` factory
:func:`world_dataset` that the dataset registry calls."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

import torch
from PIL import Image

from fgkd.data.world.config import WorldConfig
from fgkd.data.world.world import World


class WorldDataset(torch.utils.data.Dataset):
    """A world split as a torch dataset: items ``(PIL image, label)`` or ``(transform(image), label)``.

    Attributes follow the fgkd dataset contract: ``classes`` (names), ``targets`` (labels), plus
    ``world``, ``attributes`` (int64 ``[N, A_all]``) and ``captions`` (pretraining split, else None).
    """

    def __init__(self, world: World, split: str = "train", transform: Callable | None = None, fraction: float = 1.0):
        data = world.split(split, fraction)
        self.world = world
        self.split = split
        self.transform = transform
        self.images = data.images
        self.classes = [c.name for c in world.split_classes(split)]
        self.targets = data.labels.tolist()
        self.attributes = data.attributes
        self.attribute_names = world.attribute_names
        self.captions = data.captions

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.images[index])
        return (self.transform(image) if self.transform is not None else image), self.targets[index]


_CONFIG_FIELDS = tuple(f.name for f in fields(WorldConfig))


def world_dataset(domain: str, split: str = "train", transform=None, fraction: float = 1.0,
                  **config_options) -> WorldDataset:
    """The ``world:<domain>`` dataset: ``WorldDataset(World(WorldConfig(domain, **config_options)), ...)``."""
    unknown = sorted(set(config_options) - set(_CONFIG_FIELDS) | ({"domain"} & set(config_options)))
    if unknown:
        raise ValueError(f"world_dataset got unknown option(s) {', '.join(unknown)}; WorldConfig fields are: "
                         f"{', '.join(f for f in _CONFIG_FIELDS if f != 'domain')}.")
    return WorldDataset(World(WorldConfig(domain=domain, **config_options)), split, transform, fraction)
