"""Detection scenes of the world: several objects per image, each with its box (MaKD Table 7's
embedded stand-in for MS-COCO).

A scene is one of the domain's backgrounds (water, sky, forest, road, runway...) with 1 to
``max_objects`` objects of the target classes at different positions and sizes, some overlapping,
under the scene's light and pixel noise, like the world's classification images. Scene ``i``'s
*main* object has class ``i % C`` (rows interleaved by class, as in the world's splits); each
other object has the main class with probability 0.5 (a flock, a car park) and otherwise a
uniformly drawn one. The main object is the largest and is drawn last, so nothing but an occluder
hides it. Boxes are the tight extents of each object's alpha, in pixels, ``(x0, y0, x1, y1)``;
an object partly hidden by a later one keeps its whole box.

Per-image ground truth for the aspect questions (``attributes``): the main object's part
attributes and the scene's context (scene, light). The context varies per image (the world's
``context_prob``), so questions about it are answered per image, and the other objects make a
question about "the bird" harder to read off the image than in a single-object picture.

An object's alpha is recovered exactly from two draws with the same random stream, on black and
on white: the drawing is a chain of alpha blends, so ``white - black = prod_k (1 - a_k) = 1 - alpha``,
and the draw on black is the object's colour premultiplied by its alpha.
"""

from __future__ import annotations

import copy
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np

from fgkd.data.world.domains import DOMAINS, _domain_code
from fgkd.data.world.render import (_BATCH_PIXELS, _F, RENDER_VERSION, _clutter, _finish, _occlude, _scene,
                                    draw_objects)
from fgkd.data.world.world import World
from fgkd.io import atomic_savez, stable_hash
from fgkd.paths import cache_dir

# Bump when the scene layout or compositing changes, so stale cached scenes are never reused.
SCENE_VERSION = 1
_MAX_OVERLAP = 0.3  # IoU above which a tile is placed again (objects overlap, but rarely hide each other)
_ALPHA_THRESHOLD = 0.5  # an object's box covers the pixels where its alpha exceeds this


@dataclass(frozen=True)
class SceneSplit:
    """Rendered scenes with their boxes; box ``k`` belongs to image ``box_image[k]``."""

    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int64 [N], the main object's class (index into World.classes)
    attributes: np.ndarray  # int64 [N, A_all]: the main object's part attributes, the scene's context
    boxes: np.ndarray  # float32 [M, 4] (x0, y0, x1, y1) in pixels
    box_labels: np.ndarray  # int64 [M], class index of each box
    box_image: np.ndarray  # int64 [M], the image each box belongs to

    def __len__(self) -> int:
        return len(self.labels)


def object_layers(domain: str, attributes: np.ndarray, size: int, seed: list[int],
                  nuisance: float) -> tuple[np.ndarray, np.ndarray]:
    """Objects drawn alone on ``size`` px tiles: ``(premultiplied colour [3, N, s, s], alpha [N, s, s])``."""
    spec = DOMAINS[domain]
    n = len(attributes)
    colour = np.empty((3, n, size, size), dtype=_F)
    alpha = np.empty((n, size, size), dtype=_F)
    step = max(1, _BATCH_PIXELS // (size * size))
    for b, start in enumerate(range(0, n, step)):
        rows = attributes[start:start + step]
        values = {a.name: rows[:, i] for i, a in enumerate(spec.attributes)}
        rng = np.random.default_rng([*seed, b])
        twin = copy.deepcopy(rng)  # the same stream: the same pose, colours and shapes
        black = np.zeros((3, len(rows), size, size), dtype=_F)
        white = np.ones_like(black)
        draw_objects(spec, values, black, rng, nuisance)
        draw_objects(spec, values, white, twin, nuisance)
        colour[:, start:start + len(rows)] = black
        alpha[start:start + len(rows)] = np.clip(1.0 - (white - black).mean(0), 0.0, 1.0)
    return colour, alpha


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def _layout(world: World, split: str, size: int, per_class: int, max_objects: int):
    """Labels and attributes of every scene, and its objects: ``(labels [N], attributes [N, A],
    objects)`` with ``objects`` a list of ``(image, class, tile size, x, y)`` in drawing order."""
    c = world.config.num_classes
    labels = np.tile(np.arange(c, dtype=np.int64), per_class)
    rng = np.random.default_rng(world._seed_material(split) + [7, size, max_objects])
    attributes = world._attributes(world.classes, labels, rng)
    counts = rng.integers(1, max_objects + 1, size=len(labels))
    objects = []
    for i, (label, count) in enumerate(zip(labels, counts)):
        main = float(rng.uniform(0.45, 0.65))
        fractions = [main] + list(rng.uniform(0.3, main, size=count - 1))
        classes = [int(label)] + [int(label) if rng.random() < 0.5 else int(rng.integers(c)) for _ in range(count - 1)]
        placed = []
        for fraction, cls in zip(fractions, classes):
            t = max(16, int(round(fraction * size)))
            for _ in range(10):
                x, y = (int(v) for v in rng.integers(0, size - t + 1, size=2))
                tile = np.array([x, y, x + t, y + t], dtype=float)
                if all(_iou(tile, other[4]) <= _MAX_OVERLAP for other in placed):
                    placed.append((i, cls, t, (x, y), tile))
                    break
        objects.extend((i, cls, t, x, y) for i, cls, t, (x, y), _ in reversed(placed))  # the main one last
    return labels, attributes, objects


def render_scenes(world: World, split: str, size: int, per_class: int, max_objects: int) -> SceneSplit:
    """Draw a split's scenes (uncached; :func:`scene_split` caches them)."""
    spec = world.domain
    cfg = world.config
    labels, attributes, objects = _layout(world, split, size, per_class, max_objects)
    n = len(labels)
    part = world.class_attribute_matrix
    n_part = part.shape[1]
    seed = world._seed_material(split) + [8, size]
    # Every object drawn alone on its tile, one batch per tile size.
    layers: dict[int, tuple[np.ndarray, np.ndarray, dict[int, int]]] = {}
    for t in sorted({o[2] for o in objects}):
        which = [k for k, o in enumerate(objects) if o[2] == t]
        rows = np.concatenate([part[[objects[k][1] for k in which]],
                               attributes[[objects[k][0] for k in which], n_part:]], axis=1)
        colour, alpha = object_layers(cfg.domain, rows, t, seed + [t], cfg.nuisance)
        layers[t] = (colour, alpha, {k: j for j, k in enumerate(which)})
    rng = np.random.default_rng(seed + [_domain_code(cfg.domain)])
    strength = min(cfg.nuisance, 1.0)
    scenes = spec.attribute("scene").values
    scene_of = attributes[:, spec.attribute_names.index("scene")]
    rgb = np.empty((3, n, size, size), dtype=_F)
    for s, name in enumerate(scenes):
        idx = np.flatnonzero(scene_of == s)
        if len(idx):
            rgb[:, idx] = _scene(name, rng, len(idx), size)
    _clutter(rgb, rng, size, strength)
    boxes, box_labels, box_image = [], [], []
    for k, (i, cls, t, x, y) in enumerate(objects):
        colour, alpha, index = layers[t]
        j = index[k]
        a = alpha[j]
        window = rgb[:, i, y:y + t, x:x + t]
        window *= 1.0 - a
        window += colour[:, j]
        ys, xs = np.nonzero(a > _ALPHA_THRESHOLD)
        if len(xs):
            boxes.append((x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1))
            box_labels.append(cls)
            box_image.append(i)
    _occlude(rgb, scene_of, scenes, rng, size, strength)
    light = attributes[:, spec.attribute_names.index("light")]
    images = _finish(rgb, spec.attribute("light").values, light, rng, cfg.nuisance)
    return SceneSplit(images, labels, attributes, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                      np.asarray(box_labels, dtype=np.int64), np.asarray(box_image, dtype=np.int64))


def scene_cache_key(world: World, split: str, size: int, per_class: int, max_objects: int) -> str:
    """Hash of exactly what determines a split's scenes."""
    c = world.config
    return stable_hash({"domain": c.domain, "seed": c.seed, "species_per_genus": c.species_per_genus,
                        "num_classes": c.num_classes, "context_prob": c.context_prob, "nuisance": c.nuisance,
                        "split": split, "size": size, "per_class": per_class, "max_objects": max_objects,
                        "render": RENDER_VERSION, "scenes": SCENE_VERSION})


def scene_split(world: World, split: str, size: int = 64, per_class: int | None = None,
                max_objects: int = 3) -> SceneSplit:
    """A split's scenes (``train`` or ``test``), rendered once and cached as ``.npz`` beside the
    world's splits; ``per_class`` scenes per main class (default: the world's images per class)."""
    if split not in ("train", "test"):
        raise ValueError(f"scene_split: split={split!r} is unknown; detection scenes have 'train' and 'test'")
    if per_class is None:
        per_class = world.config.train_per_class if split == "train" else world.config.test_per_class
    for name, value, lo in (("size", size, 32), ("per_class", per_class, 1), ("max_objects", max_objects, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"scene_split: {name}={value!r} must be an int >= {lo}")
    key = scene_cache_key(world, split, size, per_class, max_objects)
    path = cache_dir("world") / f"{world.config.domain}-scenes-{split}-{key}.npz"
    fields = ("images", "labels", "attributes", "boxes", "box_labels", "box_image")
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                cached = SceneSplit(*(z[f] for f in fields))
            n = world.config.num_classes * per_class
            if cached.images.shape != (n, size, size, 3) or cached.images.dtype != np.uint8 or len(cached.labels) != n:
                raise ValueError("contents do not match the config")
            return cached
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            warnings.warn(f"scene cache {path} is unreadable ({err}); rendering it again", stacklevel=2)
    scenes = render_scenes(world, split, size, per_class, max_objects)
    atomic_savez(path, **{f: getattr(scenes, f) for f in fields})
    return scenes
