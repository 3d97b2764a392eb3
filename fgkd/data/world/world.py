"""The :class:`World`: target and pretraining classes of a config, and its rendered splits.

A split (``train``, ``test``, ``pretrain``) is a :class:`WorldSplit` of images with their ground
truth; it is rendered once and cached as uint8 ``.npz`` under ``cache_dir("world")``, keyed by
:meth:`World.cache_key` (exactly the config fields and :data:`RENDER_VERSION` that set its pixels).
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from fgkd.data.subsets import per_class_count
from fgkd.data.world.captions import caption
from fgkd.data.world.config import WorldConfig
from fgkd.data.world.domains import DOMAINS, _domain_code
from fgkd.data.world.render import RENDER_VERSION, render_images
from fgkd.data.world.taxonomy import ClassSpec, _carve
from fgkd.io import atomic_savez, stable_hash
from fgkd.paths import cache_dir

SPLITS = ("train", "test", "pretrain")


@dataclass(frozen=True)
class WorldSplit:
    """Rendered images with their ground truth; rows are interleaved: item i has class i % C."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int64 [N], class index in the split's class list
    attributes: np.ndarray  # int64 [N, A_all] value indices: part attributes, then context
    captions: list[str] | None  # one caption per image for the pretraining split, else None

    def __len__(self) -> int:
        return len(self.labels)


class World:
    """A fine-grained world: target classes, a disjoint pretraining pool, and rendered splits.

    Args:
        config: the :class:`WorldConfig` (validated when it is built).

    Attributes:
        domain: the :class:`DomainSpec` (``domain.attributes``: part attributes, then context).
        classes: target classes, ``classes[i].index == i``.
        pretrain_classes: the pretraining pool's classes (distinct attribute vectors).
        class_names: ``[c.name for c in classes]``.
        class_attribute_matrix: int64 ``[C, A_part]`` value indices of the part attributes.
    """

    def __init__(self, config: WorldConfig | None = None):
        self.config = config if config is not None else WorldConfig()
        if not isinstance(self.config, WorldConfig):
            raise TypeError(f"World needs a WorldConfig, got {type(self.config).__name__}.")
        self.domain = DOMAINS[self.config.domain]
        self.classes = self._classes("target")
        self.pretrain_classes = self._classes("pretrain")
        self.class_names = [c.name for c in self.classes]
        self.class_attribute_matrix = np.array([c.vector for c in self.classes], dtype=np.int64)
        self.pretrain_class_attribute_matrix = np.array([c.vector for c in self.pretrain_classes], dtype=np.int64)
        self._splits: dict[str, WorldSplit] = {}

    def __repr__(self) -> str:
        return f"World({self.config})"

    def _classes(self, pool: str) -> list[ClassSpec]:
        out = []
        for i, (genus, k) in enumerate(_carve(self.config, pool)):
            vec = genus.species[k]
            values = {a.name: a.values[v] for a, v in zip(self.domain.part_attributes, vec)}
            values.update({a.name: a.values[v] for a, v in zip(self.domain.context_attributes, genus.context[k])})
            out.append(ClassSpec(i, genus.names[k], values, genus.superclass, vec, genus.index))
        return out

    # --- lookups ----------------------------------------------------------------------------

    @property
    def attribute_names(self) -> list[str]:
        """Names of all attributes, in the column order of ``WorldSplit.attributes``."""
        return self.domain.attribute_names

    @property
    def part_attribute_names(self) -> list[str]:
        return [a.name for a in self.domain.part_attributes]

    def class_by_name(self, name: str) -> ClassSpec:
        for c in (*self.classes, *self.pretrain_classes):
            if c.name == name:
                return c
        raise ValueError(f"No class named {name!r} in {self}.")

    def split_classes(self, split: str) -> list[ClassSpec]:
        """The classes a split's labels index: target classes, or the pretraining pool."""
        _check_split(split)
        return self.pretrain_classes if split == "pretrain" else self.classes

    def siblings(self, cls: ClassSpec) -> list[ClassSpec]:
        """The other classes of the same genus in the same pool."""
        pool = self.pretrain_classes if cls in self.pretrain_classes else self.classes
        return [c for c in pool if c.genus == cls.genus and c.index != cls.index]

    def describe(self, cls: ClassSpec | int, include_context: bool = False) -> str:
        """The canonical attribute description of a class (the text a zero-shot teacher reads)."""
        cls = self.classes[cls] if isinstance(cls, (int, np.integer)) else cls
        values = {k: v for k, v in cls.values.items() if include_context or not self.domain.attribute(k).context}
        return caption(self.domain, values)

    # --- splits -----------------------------------------------------------------------------

    def split(self, split: str, fraction: float = 1.0) -> WorldSplit:
        """Rendered images of a split (cached on disk); ``fraction`` keeps a nested stratified part.

        ``fraction`` in (0, 1] keeps the first ``max(1, round(fraction * n))`` images of each
        class (items are interleaved by class, so this is a prefix): the 0.4 subset is inside the
        0.8 subset.
        """
        _check_split(split)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction={fraction!r} must be a number in (0, 1] (1.0 keeps every image).")
        if split not in self._splits:
            self._splits[split] = self._load_or_render(split)
        full = self._splits[split]
        n_classes, per_class = self._split_shape(split)
        keep = per_class_count(fraction, per_class) * n_classes
        if keep == len(full):
            return full
        return WorldSplit(full.images[:keep], full.labels[:keep], full.attributes[:keep],
                          full.captions[:keep] if full.captions is not None else None)

    def _split_shape(self, split: str) -> tuple[int, int]:
        c = self.config
        return {"train": (c.num_classes, c.train_per_class), "test": (c.num_classes, c.test_per_class),
                "pretrain": (c.pretrain_classes, c.pretrain_per_class)}[split]

    def cache_key(self, split: str) -> str:
        """Hash of exactly what determines a split's pixels (so unrelated fields share a cache)."""
        _check_split(split)
        c = self.config
        keys = {"domain": c.domain, "image_size": c.image_size, "seed": c.seed,
                "species_per_genus": c.species_per_genus, "context_prob": c.context_prob,
                "nuisance": c.nuisance, "split": split, "version": RENDER_VERSION}
        if split == "pretrain":
            keys.update(pretrain_classes=c.pretrain_classes, pretrain_per_class=c.pretrain_per_class)
        else:
            keys.update(num_classes=c.num_classes, per_class=self._split_shape(split)[1])
        return stable_hash(keys)

    def cache_path(self, split: str) -> Path:
        return cache_dir("world") / f"{self.config.domain}-{split}-{self.cache_key(split)}.npz"

    def ground_truth(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """A split's labels int64 [N] and attributes int64 [N, A_all], without rendering."""
        _check_split(split)
        classes = self.split_classes(split)
        n_classes, per_class = self._split_shape(split)
        labels = np.tile(np.arange(n_classes, dtype=np.int64), per_class)
        rng = np.random.default_rng(self._seed_material(split) + [1])
        return labels, self._attributes(classes, labels, rng)

    def _attributes(self, classes: list[ClassSpec], labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per-image attribute rows: the class's part vector, then context values that are the
        class's preferred value with probability ``context_prob`` and otherwise another one."""
        part = np.array([c.vector for c in classes], dtype=np.int64)[labels]
        context = []
        for a in self.domain.context_attributes:
            preferred = np.array([a.index(c.values[a.name]) for c in classes], dtype=np.int64)[labels]
            other = (preferred + rng.integers(1, len(a.values), size=len(labels))) % len(a.values)
            context.append(np.where(rng.random(len(labels)) < self.config.context_prob, preferred, other))
        return np.concatenate([part, np.stack(context, 1)], axis=1)

    def _seed_material(self, split: str) -> list[int]:
        return [self.config.seed, _domain_code(self.config.domain), SPLITS.index(split)]

    def _captions(self, attributes: np.ndarray) -> list[str]:
        rng = np.random.default_rng(self._seed_material("pretrain") + [2])
        attrs = self.domain.attributes
        return [caption(self.domain, {a.name: a.values[v] for a, v in zip(attrs, row)}, rng) for row in attributes]

    def _load_or_render(self, split: str) -> WorldSplit:
        labels, attributes = self.ground_truth(split)
        path = self.cache_path(split)
        size = self.config.image_size
        images = None
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as z:
                    images = z["images"]
                    ok = (images.dtype == np.uint8 and images.shape == (len(labels), size, size, 3)
                          and np.array_equal(z["labels"], labels) and np.array_equal(z["attributes"], attributes))
                if not ok:
                    raise ValueError("contents do not match the config")
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
                warnings.warn(f"World cache {path} is unreadable ({err}); rendering it again.", stacklevel=3)
                images = None
        if images is None:
            images = render_images(self.config.domain, attributes, size, self._seed_material(split),
                                   self.config.nuisance)
            atomic_savez(path, images=images, labels=labels, attributes=attributes)
        captions = self._captions(attributes) if split == "pretrain" else None
        return WorldSplit(images, labels, attributes, captions)

    def render_examples(self, class_indices: Sequence[int], per_class: int = 3, pool: str = "target",
                        seed: int = 0, nuisance: float | None = None) -> WorldSplit:
        """Render fresh (uncached) images of some classes, e.g. for previews; context sampled as usual.

        ``pool`` is "target" (indices into ``classes``) or "pretrain" (into ``pretrain_classes``);
        ``nuisance`` overrides the config's (0 shows each class in its canonical pose)."""
        if pool not in ("target", "pretrain"):
            raise ValueError(f"pool={pool!r} is unknown; use 'target' or 'pretrain'.")
        classes = self.pretrain_classes if pool == "pretrain" else self.classes
        labels = np.repeat(np.asarray(class_indices, dtype=np.int64), per_class)
        rng = np.random.default_rng([self.config.seed, _domain_code(self.config.domain), 99, seed])
        attributes = self._attributes(classes, labels, rng)
        nuis = self.config.nuisance if nuisance is None else nuisance
        images = render_images(self.config.domain, attributes, self.config.image_size,
                               [self.config.seed, 99, seed], nuis)
        return WorldSplit(images, labels, attributes, None)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is unknown; use one of {', '.join(SPLITS)}.")
