"""The embedded fine-grained image world: procedurally drawn birds, cars and aircraft.

The default data of every notebook when no real dataset is at hand. Three domains stand in for
CUB-200-2011 (``bird``), Stanford Cars (``car``) and FGVC-Aircraft (``aircraft``). Each object is
drawn from parts (bird: body, head, wings, beak, tail, legs; car: body, roof, wheels, lights;
aircraft: fuselage, nose, wings, engines, tail), and each domain has ten *part attributes* (colours,
shapes, patterns, sizes, counts; 2 to 6 values each) plus two *context attributes* (scene and
light) that correlate with the class without determining it, like MaKD's abstract aspects ("there
is a river nearby").

Classes are fine-grained by construction. For every ``(domain, seed, species_per_genus)`` there is
one fixed stream of *genera*: a genus has a base attribute vector, and its species are the base
plus variants that change one or two attributes of it; the genus word is shared by the sibling
names ("Crested Torvi Warbler", "Bar-winged Torvi Warbler"). Even-numbered genera form the target
pool and odd-numbered ones the pretraining pool, so target classes and pretraining classes have
distinct attribute vectors whatever ``num_classes`` and ``pretrain_classes`` are. Pretraining genera
are picked to cover every attribute value early, so a CLIP teacher trained on the pretraining
captions has seen every value the target classes use.

Every image has its ground truth (class, part attribute values, context values) and nuisance: pose
(rotation), scale, position, horizontal flip, colour jitter bounded so a colour stays closer to its
own palette entry than to any other value of the same attribute, scene texture, occluders and pixel
noise. Rendering is vectorised numpy over a batch (analytic anti-aliased masks of ellipses, convex
polygons and boxes in each image's object frame); rendered splits are cached as uint8 ``.npz``.

Example::

    w = World(WorldConfig(domain="bird", num_classes=20, image_size=64, seed=0))
    train = w.split("train")        # WorldSplit(images uint8 [600, 64, 64, 3], labels, attributes, None)
    w.classes[1].name, w.classes[1].superclass   # e.g. ("Plain Skishi Shrike", "Skishi Shrike")
    w.classes[1].values["body_pattern"]          # "plain": what sets it apart from its siblings
    w.describe(1)                   # "a photo of a bird with a yellow plain body, a blue round head, ..."

Modules, each importing only those above it:

- :mod:`~fgkd.data.world.domains`: the schema (:class:`AttributeSpec`, :class:`DomainSpec`,
  :data:`DOMAINS`) and the colour palette.
- :mod:`~fgkd.data.world.taxonomy`: the genus stream, class names, :class:`ClassSpec`.
- :mod:`~fgkd.data.world.config`: :class:`WorldConfig` and its validation.
- :mod:`~fgkd.data.world.captions`: :func:`caption`.
- :mod:`~fgkd.data.world.render`: the rasteriser, :func:`render_images`.
- :mod:`~fgkd.data.world.world`: :class:`World`, its splits (:class:`WorldSplit`) and their cache.
- :mod:`~fgkd.data.world.dataset`: the torch view :class:`WorldDataset` and :func:`world_dataset`.
"""

from fgkd.data.world.captions import caption
from fgkd.data.world.config import WorldConfig
from fgkd.data.world.dataset import WorldDataset, world_dataset
from fgkd.data.world.domains import (
    DOMAINS,
    JITTER_GAIN,
    JITTER_OFFSET,
    KINDS,
    PALETTE,
    AttributeSpec,
    DomainSpec,
    max_color_jitter,
)
from fgkd.data.world.render import RENDER_VERSION, render_images
from fgkd.data.world.taxonomy import ClassSpec
from fgkd.data.world.world import SPLITS, World, WorldSplit

__all__ = [
    "DOMAINS",
    "JITTER_GAIN",
    "JITTER_OFFSET",
    "KINDS",
    "PALETTE",
    "RENDER_VERSION",
    "SPLITS",
    "AttributeSpec",
    "ClassSpec",
    "DomainSpec",
    "World",
    "WorldConfig",
    "WorldDataset",
    "WorldSplit",
    "caption",
    "max_color_jitter",
    "render_images",
    "world_dataset",
]
