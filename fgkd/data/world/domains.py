"""The domain schema: attributes, the three domains (bird, car, aircraft) and their colours.

:class:`AttributeSpec` is one attribute (a part property or a context property) and its readable
values; :class:`DomainSpec` is a domain's object noun and attributes, part attributes first;
:data:`DOMAINS` holds the three domains. :data:`PALETTE` gives every colour word its RGB, and
:func:`max_color_jitter` bounds how far the renderer's colour jitter can move one.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

KINDS = ("color", "pattern", "shape", "size", "count", "scene", "light")


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of a domain: a part property (``context=False``) or a scene property.

    ``values`` are readable words; images and classes store value *indices* into them.
    """

    name: str  # unique within the domain, e.g. "wing_color"
    part: str  # the part noun ("wings", "head"); for context attributes the aspect ("scene")
    kind: str  # one of KINDS: color | pattern | shape | size | count | scene | light
    values: tuple[str, ...]  # 2 to 6 readable values, e.g. ("red", "blue", ...)
    context: bool = False  # True: sampled per image around the class's preferred value
    modifiers: tuple[str, ...] = ()  # species-name words for a sibling differing here ("Crested")
    phrases: tuple[str, ...] = ()  # explicit phrase per value (context: "in a forest")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"AttributeSpec {self.name!r}: kind={self.kind!r}; allowed: {', '.join(KINDS)}.")
        if not 2 <= len(self.values) <= 6 or len(set(self.values)) != len(self.values):
            raise ValueError(f"AttributeSpec {self.name!r} needs 2 to 6 distinct values, got {self.values}.")
        for extra in ("modifiers", "phrases"):
            if getattr(self, extra) and len(getattr(self, extra)) != len(self.values):
                raise ValueError(f"AttributeSpec {self.name!r}: {extra} must have one entry per value.")

    @property
    def plural(self) -> bool:
        return self.part.endswith("s")

    def index(self, value: str | int) -> int:
        """The value index of ``value`` (a value word or an index)."""
        if isinstance(value, (int, np.integer)):
            if not 0 <= value < len(self.values):
                raise ValueError(f"{self.name}: index {value} out of range 0..{len(self.values) - 1}.")
            return int(value)
        try:
            return self.values.index(value)
        except ValueError:
            raise ValueError(f"{self.name} has no value {value!r}; values: {', '.join(self.values)}.") from None

    def phrase(self, value: str | int) -> str:
        """Readable text for one value: "red wings", "a striped body", "two engines", "in a forest"."""
        i = self.index(value)
        if self.phrases:
            return self.phrases[i]
        word = self.values[i]
        if self.kind == "count" or self.plural:
            return f"{word} {self.part}"
        return f"{_article(word)} {word} {self.part}"


@dataclass(frozen=True)
class DomainSpec:
    """A domain: its object noun and its attributes (part attributes first, then context)."""

    name: str  # "bird" | "car" | "aircraft"
    noun: str  # the object word used in captions
    analogue: str  # the real benchmark it stands in for
    attributes: tuple[AttributeSpec, ...]

    @property
    def part_attributes(self) -> tuple[AttributeSpec, ...]:
        return tuple(a for a in self.attributes if not a.context)

    @property
    def context_attributes(self) -> tuple[AttributeSpec, ...]:
        return tuple(a for a in self.attributes if a.context)

    @property
    def attribute_names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def attribute(self, name: str) -> AttributeSpec:
        for a in self.attributes:
            if a.name == name:
                return a
        raise ValueError(f"Domain {self.name!r} has no attribute {name!r}; "
                         f"attributes: {', '.join(self.attribute_names)}.")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _attr(name: str, part: str, kind: str, values: str, modifiers: str = "",
          phrases: Sequence[str] = ()) -> AttributeSpec:
    return AttributeSpec(name, part, kind, tuple(values.split()), kind in ("scene", "light"),
                         tuple(modifiers.split()), tuple(phrases))


_LIGHT = _attr("light", "light", "light", "day overcast dusk",
               phrases=("in daylight", "on an overcast day", "at dusk"))

DOMAINS: dict[str, DomainSpec] = {
    "bird": DomainSpec("bird", "bird", "CUB-200-2011", (
        _attr("body_color", "body", "color", "red yellow blue brown grey white",
              "Scarlet Golden Azure Rufous Ashy Snowy"),
        _attr("body_pattern", "body", "pattern", "plain striped spotted", "Plain Streaked Spotted"),
        _attr("head_color", "head", "color", "black red yellow blue white brown",
              "Black-headed Red-headed Yellow-headed Blue-headed White-headed Brown-headed"),
        _attr("head_shape", "head", "shape", "round crested", "Round-headed Crested"),
        _attr("wing_color", "wings", "color", "black brown grey blue green red",
              "Black-winged Brown-winged Grey-winged Blue-winged Green-winged Red-winged"),
        _attr("wing_pattern", "wings", "pattern", "plain barred white-tipped", "Plain-winged Bar-winged White-tipped"),
        _attr("beak_shape", "beak", "shape", "short long hooked", "Short-billed Long-billed Hook-billed"),
        _attr("beak_color", "beak", "color", "yellow orange black", "Yellow-billed Orange-billed Black-billed"),
        _attr("tail_shape", "tail", "shape", "short long forked", "Short-tailed Long-tailed Fork-tailed"),
        _attr("leg_length", "legs", "size", "short long", "Short-legged Long-legged"),
        _attr("scene", "scene", "scene", "forest water sky grassland",
              phrases=("in a forest", "on the water", "in the sky", "in a grassland")),
        _LIGHT,
    )),
    "car": DomainSpec("car", "car", "Stanford Cars", (
        _attr("body_color", "body", "color", "red blue white black yellow green", "Red Blue White Black Yellow Green"),
        _attr("body_pattern", "body", "pattern", "plain striped checkered", "Plain Stripe Rally"),
        _attr("body_style", "body", "shape", "sedan hatchback coupe", "Sedan Hatchback Coupe"),
        _attr("body_length", "body", "size", "short long", "Compact Long"),
        _attr("roof_color", "roof", "color", "black white grey red", "Black-roof White-roof Grey-roof Red-roof"),
        _attr("wheel_size", "wheels", "size", "small large", "Small-wheel Big-wheel"),
        _attr("wheel_color", "wheels", "color", "silver black gold", "Silver-rim Black-rim Gold-rim"),
        _attr("wheel_count", "wheels", "count", "four six", "Four-wheel Six-wheel"),
        _attr("light_shape", "lights", "shape", "round tall wide", "Round-lamp Tall-lamp Wide-lamp"),
        _attr("light_color", "lights", "color", "white yellow blue", "White-light Amber-light Blue-light"),
        _attr("scene", "scene", "scene", "road city desert snow",
              phrases=("on a country road", "in a city street", "in the desert", "in the snow")),
        _LIGHT,
    )),
    "aircraft": DomainSpec("aircraft", "aircraft", "FGVC-Aircraft", (
        _attr("fuselage_color", "fuselage", "color", "white grey blue red yellow", "White Grey Blue Red Yellow"),
        _attr("livery", "fuselage", "pattern", "plain striped banded", "Plain Striped Banded"),
        _attr("fuselage_length", "fuselage", "size", "short long", "Short Stretch"),
        _attr("nose_shape", "nose", "shape", "round pointed", "Roundnose Sharpnose"),
        _attr("wing_shape", "wings", "shape", "straight swept delta", "Straight-wing Swept-wing Delta"),
        _attr("wing_color", "wings", "color", "grey white blue black", "Grey-wing White-wing Blue-wing Black-wing"),
        _attr("engine_count", "engines", "count", "two four", "Twin Quad"),
        _attr("engine_color", "engines", "color", "grey black red", "Grey-engine Black-engine Red-engine"),
        _attr("tail_shape", "tail", "shape", "straight swept delta", "Straight-tail Swept-tail Delta-tail"),
        _attr("tail_color", "tail", "color", "red blue white black yellow green",
              "Red-tail Blue-tail White-tail Black-tail Yellow-tail Green-tail"),
        _attr("scene", "scene", "scene", "sky clouds runway sea",
              phrases=("in a clear sky", "above the clouds", "over a runway", "over the sea")),
        _LIGHT,
    )),
}

# Colour words of every colour attribute, as RGB in [0, 1].
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.10, 0.10), "orange": (0.96, 0.50, 0.06), "yellow": (0.96, 0.86, 0.14),
    "green": (0.16, 0.58, 0.18), "blue": (0.14, 0.32, 0.86), "brown": (0.46, 0.27, 0.10),
    "black": (0.08, 0.08, 0.09), "white": (0.96, 0.96, 0.96), "grey": (0.55, 0.55, 0.57),
    "silver": (0.80, 0.82, 0.86), "gold": (0.80, 0.60, 0.12),
}
# Colour jitter: brightness factor 1 +- JITTER_GAIN and per-channel offset +- JITTER_OFFSET (at
# nuisance 1). The worst-case shift |c| * gain + offset * sqrt(3) of two values of one attribute
# never adds up to their distance, so a jittered colour stays nearest its own value.
JITTER_GAIN = 0.06
JITTER_OFFSET = 0.02


def max_color_jitter(color: str) -> float:
    """Largest RGB distance colour jitter can move palette colour ``color`` (nuisance 1)."""
    return float(np.linalg.norm(PALETTE[color]) * JITTER_GAIN + JITTER_OFFSET * math.sqrt(3))


def _domain_code(name: str) -> int:
    return zlib.crc32(name.encode())
