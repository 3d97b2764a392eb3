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
"""

from __future__ import annotations

import math
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from fgkd.data.subsets import per_class_count
from fgkd.io import atomic_savez, stable_hash
from fgkd.paths import cache_dir

# Bump when drawing changes, so stale cached renders are never reused.
RENDER_VERSION = 1
SPLITS = ("train", "test", "pretrain")
KINDS = ("color", "pattern", "shape", "size", "count", "scene", "light")

# ----------------------------------------------------------------------------------------------
# Attributes and domains


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


# ----------------------------------------------------------------------------------------------
# Config and the public records


@dataclass(frozen=True)
class WorldConfig:
    """Everything that determines a world and its rendered splits (same config, same bytes)."""

    domain: str = "bird"  # one of DOMAINS: "bird" (CUB analogue), "car" (Cars), "aircraft" (Aircraft)
    num_classes: int = 20  # C target classes (genera of species_per_genus siblings)
    image_size: int = 64  # H = W in pixels, 32 to 224
    train_per_class: int = 30  # training images per target class
    test_per_class: int = 20  # test images per target class
    # Many pretraining classes with few images each: a teacher trained on them has to learn the
    # attributes rather than memorise a few combinations, so it transfers to unseen target classes.
    pretrain_classes: int = 512  # classes of the disjoint pretraining pool (captioned images)
    pretrain_per_class: int = 6  # images per pretraining class
    seed: int = 0  # fixes the class universe, names, and every rendered pixel
    species_per_genus: int = 4  # siblings per genus (superclass); siblings differ in 1-2 attributes
    context_prob: float = 0.6  # P(an image shows its class's preferred scene / light), else another
    nuisance: float = 1.0  # pose, scale, shift, flip, jitter, clutter, occluders, noise; 0 = canonical
    # pose on a plain scene texture; above 1 (up to 2) only rotation and pixel noise grow further

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"WorldConfig.domain={self.domain!r} is unknown; use one of {', '.join(DOMAINS)}.")
        _check_int("image_size", self.image_size, 32, 224)
        _check_int("num_classes", self.num_classes, 2)
        _check_int("pretrain_classes", self.pretrain_classes, 2)
        for name in ("train_per_class", "test_per_class", "pretrain_per_class"):
            _check_int(name, getattr(self, name), 1)
        _check_int("species_per_genus", self.species_per_genus, 2, 8)
        _check_int("seed", self.seed, 0)
        for name, hi in (("context_prob", 1.0), ("nuisance", 2.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= hi:
                raise ValueError(f"WorldConfig.{name}={value!r} must be a number in [0, {hi}].")
        # The class universe is cached per (domain, seed, species_per_genus), so this check is
        # the same work World does next, not extra.
        _carve(self, "target")
        _carve(self, "pretrain")


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    ok = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
          and value >= lo and (hi is None or value <= hi))
    if not ok:
        allowed = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise ValueError(f"WorldConfig.{name}={value!r} must be {allowed}.")


@dataclass(frozen=True)
class ClassSpec:
    """One class: its index (= label), readable name, attribute values and superclass (genus)."""

    index: int  # label in its pool (target classes: 0..C-1; pretraining classes: 0..P-1)
    name: str  # e.g. "Crested Torvi Warbler"
    values: dict[str, str] = field(hash=False)  # part attribute -> value; context attribute -> preferred value
    superclass: str  # genus name shared by siblings, e.g. "Torvi Warbler"
    vector: tuple[int, ...] = ()  # value indices of the part attributes (domain order)
    genus: int = -1  # genus position in the class universe


@dataclass(frozen=True)
class WorldSplit:
    """Rendered images with their ground truth; rows are interleaved: item i has class i % C."""

    images: np.ndarray  # uint8 [N, H, W, 3]
    labels: np.ndarray  # int64 [N], class index in the split's class list
    attributes: np.ndarray  # int64 [N, A_all] value indices: part attributes, then context
    captions: list[str] | None  # one caption per image for the pretraining split, else None

    def __len__(self) -> int:
        return len(self.labels)


# ----------------------------------------------------------------------------------------------
# The class universe: a stream of genera per (domain, seed, species_per_genus)

_MAX_GENERA = 2048  # cap of the stream: at most 1024 target and 1024 pretraining genera
_GENUS_MIN_DISTANCE = 3  # Hamming distance between genus bases, so genera look distinct
_CANDIDATES = 48  # random base candidates per genus before falling back to the list of free bases
_ONE_CHANGE = 0.6  # share of species that differ from their genus base in one attribute (else two)
_SYLLABLE_ONSETS = "b c d f g h k l m n p r s t v z br cr dr gr kr pl tr st sk th".split()
_SYLLABLE_VOWELS = "a e i o u a e i o".split()
_SYLLABLE_CODAS = ["", "", "", "n", "r", "l", "s"]
_BIRD_FAMILIES = ("Warbler Finch Tanager Sparrow Thrush Wren Shrike Kingfisher Flycatcher Oriole "
                  "Vireo Grosbeak Bunting Tern Plover Heron").split()


@dataclass(frozen=True)
class _Genus:
    index: int  # position in the stream
    pool: str  # "target" | "pretrain"
    superclass: str
    species: tuple[tuple[int, ...], ...]  # part vectors; the base (nominate species) first
    names: tuple[str, ...]
    context: tuple[tuple[int, ...], ...]  # preferred context values per species


class _Universe:
    """Grows the genus stream lazily; a prefix never depends on how far it was grown.

    Attribute vectors are handled as mixed-radix codes into the whole (small) attribute space, so
    "is this vector taken" and "is it within distance 2 of a genus base" are array look-ups.
    """

    def __init__(self, domain: DomainSpec, seed: int, species_per_genus: int):
        self.domain = domain
        self.species_per_genus = species_per_genus
        self.sizes = np.array([len(a.values) for a in domain.part_attributes], dtype=np.int64)
        self.strides = np.concatenate([np.cumprod(self.sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
        space = int(np.prod(self.sizes))
        self.context_sizes = [len(a.values) for a in domain.context_attributes]
        self.rng = np.random.default_rng([seed, _domain_code(domain.name), species_per_genus, 0x5EED])
        self.genera: list[_Genus] = []
        self._pools: dict[str, list[_Genus]] = {"target": [], "pretrain": []}
        self.exhausted = False
        self._used = np.zeros(space, dtype=bool)  # class vectors taken
        self._blocked = np.zeros(space, dtype=bool)  # within distance 2 of a genus base
        self._covered = [np.zeros(n, dtype=bool) for n in self.sizes]  # values in pretraining genera
        self._superclasses: set[str] = set()
        self._makers = [_pseudo_word(self.rng, 3) for _ in range(12)]
        # All one- and two-attribute changes, as (attribute, step) pairs: value -> (value + step) % n.
        one = [(a, k) for a in range(len(self.sizes)) for k in range(1, self.sizes[a])]
        two = [(a, ka, b, kb) for i, (a, ka) in enumerate(one) for (b, kb) in one[i + 1:] if b != a]
        self._one = np.array(one, dtype=np.int64)
        self._two = np.array(two, dtype=np.int64)

    def pool(self, pool: str, n_genera: int) -> list[_Genus]:
        while not self.exhausted and len(self._pools[pool]) < n_genera:
            self._grow()
        return self._pools[pool][:n_genera]

    def capacity(self, pool: str) -> int:
        """How many genera the pool holds once the stream is exhausted."""
        return len(self.pool(pool, _MAX_GENERA))

    def _decode(self, code: int) -> np.ndarray:
        return (code // self.strides) % self.sizes

    def _neighbours(self, vec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Codes at distance 1 and 2 from ``vec`` and, per distance-2 code, its changed attributes."""
        code = int(vec @ self.strides)
        a, k = self._one[:, 0], self._one[:, 1]
        one = code + ((vec[a] + k) % self.sizes[a] - vec[a]) * self.strides[a]
        a, ka, b, kb = self._two.T
        two = (code + ((vec[a] + ka) % self.sizes[a] - vec[a]) * self.strides[a]
               + ((vec[b] + kb) % self.sizes[b] - vec[b]) * self.strides[b])
        return one, two, np.stack([a, b], 1)

    def _grow(self) -> None:
        index = len(self.genera)
        if index >= _MAX_GENERA:
            self.exhausted = True
            return
        pool = "target" if index % 2 == 0 else "pretrain"
        codes = self.rng.integers(0, len(self._used), size=_CANDIDATES)
        codes = codes[~self._blocked[codes] & ~self._used[codes]]
        if not len(codes):  # the space is getting full: draw from what is left
            free = np.flatnonzero(~self._blocked & ~self._used)
            codes = self.rng.permutation(free)[:_CANDIDATES * 4]
        if pool == "pretrain" and len(codes):
            # Greedy set cover: prefer bases that bring attribute values the pool lacks.
            vecs = (codes[:, None] // self.strides) % self.sizes
            gain = sum((~self._covered[a][vecs[:, a]]).astype(int) for a in range(len(self.sizes)))
            codes = codes[np.argsort(-gain, kind="stable")]
        for code in codes:
            base = self._decode(int(code))
            species = self._species(base)
            if species is not None:
                self._add(index, pool, base, species)
                return
        self.exhausted = True

    def _species(self, base: np.ndarray) -> list[tuple[np.ndarray, tuple[int, ...]]] | None:
        """The base plus species_per_genus - 1 free variants, each 1-2 attributes from the base."""
        one, two, pairs = self._neighbours(base)
        free_one, free_two = np.flatnonzero(~self._used[one]), np.flatnonzero(~self._used[two])
        if len(free_one) + len(free_two) < self.species_per_genus - 1:
            return None
        free_one, free_two = list(self.rng.permutation(free_one)), list(self.rng.permutation(free_two))
        chosen = [(base, ())]
        for _ in range(self.species_per_genus - 1):
            if free_one and (not free_two or self.rng.random() < _ONE_CHANGE):
                i = free_one.pop()
                chosen.append((self._decode(int(one[i])), (int(self._one[i, 0]),)))
            else:
                i = free_two.pop()
                chosen.append((self._decode(int(two[i])), tuple(int(x) for x in pairs[i])))
        return chosen

    def _add(self, index: int, pool: str, base: np.ndarray, species: list) -> None:
        while True:
            superclass = self._superclass_name()
            if superclass not in self._superclasses:
                break
        self._superclasses.add(superclass)
        genus_context = [int(self.rng.integers(n)) for n in self.context_sizes]
        contexts = []
        for _ in species:
            # Habitat runs in the genus but not without exceptions: 75 % of species keep it.
            contexts.append(tuple(g if self.rng.random() < 0.75 else int((g + self.rng.integers(1, n)) % n)
                                  for g, n in zip(genus_context, self.context_sizes)))
        vectors = tuple(tuple(int(x) for x in vec) for vec, _ in species)
        names = tuple(_species_name(self.domain, superclass, changes, vec)
                      for vec, (_, changes) in zip(vectors, species))
        for vec in vectors:
            self._used[int(np.array(vec) @ self.strides)] = True
            if pool == "pretrain":
                for a, v in enumerate(vec):
                    self._covered[a][v] = True
        one, two, _ = self._neighbours(base)
        self._blocked[one] = True
        self._blocked[two] = True
        self._blocked[int(base @ self.strides)] = True
        self.genera.append(_Genus(index, pool, superclass, vectors, names, tuple(contexts)))
        self._pools[pool].append(self.genera[-1])

    def _superclass_name(self) -> str:
        word = _pseudo_word(self.rng, 2)
        if self.domain.name == "bird":
            return f"{word} {_BIRD_FAMILIES[self.rng.integers(len(_BIRD_FAMILIES))]}"
        maker = self._makers[self.rng.integers(len(self._makers))]
        if self.domain.name == "car":
            return f"{maker} {word}"
        letters = "".join(chr(ord("A") + int(i)) for i in self.rng.integers(0, 26, size=2))
        return f"{maker} {letters}-{int(self.rng.integers(10, 100))}"


def _pseudo_word(rng: np.random.Generator, syllables: int) -> str:
    parts = []
    for s in range(syllables):
        parts.append(_SYLLABLE_ONSETS[rng.integers(len(_SYLLABLE_ONSETS))])
        parts.append(_SYLLABLE_VOWELS[rng.integers(len(_SYLLABLE_VOWELS))])
        if s < syllables - 1:
            parts.append(_SYLLABLE_CODAS[rng.integers(len(_SYLLABLE_CODAS))])
    return "".join(parts).capitalize()


def _species_name(domain: DomainSpec, superclass: str, changes: tuple[int, ...], vec: tuple[int, ...]) -> str:
    attrs = domain.part_attributes
    if not changes:  # the nominate species
        return f"Common {superclass}" if domain.name == "bird" else f"{superclass} Standard"
    mods = " ".join(attrs[a].modifiers[vec[a]] for a in changes)
    return f"{mods} {superclass}" if domain.name == "bird" else f"{superclass} {mods}"


def _domain_code(name: str) -> int:
    return zlib.crc32(name.encode())


@lru_cache(maxsize=32)
def _universe(domain: str, seed: int, species_per_genus: int) -> _Universe:
    return _Universe(DOMAINS[domain], seed, species_per_genus)


def _genus_sizes(n_classes: int, species_per_genus: int) -> list[int]:
    """Spread n classes over ceil(n / S) genera as evenly as possible (each keeps >= 2 siblings)."""
    n_genera = math.ceil(n_classes / species_per_genus)
    base, extra = divmod(n_classes, n_genera)
    return [base + (g < extra) for g in range(n_genera)]


def _carve(config: WorldConfig, pool: str) -> list[tuple[_Genus, int]]:
    """The (genus, species index) pairs of a pool's classes, in label order."""
    n = config.num_classes if pool == "target" else config.pretrain_classes
    field_name = "num_classes" if pool == "target" else "pretrain_classes"
    S = config.species_per_genus
    universe = _universe(config.domain, config.seed, S)
    sizes = _genus_sizes(n, S)
    genera = universe.pool(pool, len(sizes))
    if len(genera) == len(sizes):
        classes = [(g, k) for g, size in zip(genera, sizes) for k in range(size)]
        if pool == "target":
            _check_coverage(config, classes)
        return classes
    limit = universe.capacity(pool) * S
    raise ValueError(
        f"WorldConfig.{field_name}={n} is more than the {config.domain} attribute space holds for "
        f"seed={config.seed}, species_per_genus={S}: at most {limit} {pool} classes. "
        f"Use {field_name} <= {limit}.")


def _check_coverage(config: WorldConfig, target: list[tuple[_Genus, int]]) -> None:
    """Every part value of a target class must occur in the pretraining pool (zero-shot transfer)."""
    domain = DOMAINS[config.domain]
    needed = {(a, v) for g, k in target for a, v in enumerate(g.species[k])}
    S = config.species_per_genus
    universe = _universe(config.domain, config.seed, S)

    def covered(p: int) -> set[tuple[int, int]]:
        genera = universe.pool("pretrain", len(_genus_sizes(p, S)))
        return {(a, v) for g, size in zip(genera, _genus_sizes(p, S)) for k in range(size)
                for a, v in enumerate(g.species[k])}

    missing = needed - covered(config.pretrain_classes)
    if not missing:
        return
    p = config.pretrain_classes
    while needed - covered(p) and p < _MAX_GENERA // 2 * S:
        p += 1
    attrs = domain.part_attributes
    shown = ", ".join(sorted(f"{attrs[a].name}={attrs[a].values[v]}" for a, v in missing)[:4])
    raise ValueError(
        f"WorldConfig.pretrain_classes={config.pretrain_classes} is too few: target classes use "
        f"{shown} which no pretraining class has, so a teacher trained on the pretraining captions "
        f"could not know them. Use pretrain_classes >= {p}.")


# ----------------------------------------------------------------------------------------------
# Captions


_LENGTH_WORDS = {"short", "long", "small", "large"}


def caption(domain: str | DomainSpec, values: Mapping[str, str], rng: np.random.Generator | None = None) -> str:
    """A caption of an object from its attribute values (part values and any context values given).

    With ``rng`` the part order, adjective order and template vary; without it the text is the
    fixed canonical description, e.g. "a photo of a bird with a red crested head, ... in a forest".
    """
    spec = domain if isinstance(domain, DomainSpec) else DOMAINS[domain]
    parts: dict[str, dict[str, str]] = {}
    for a in spec.part_attributes:
        if a.name in values:
            parts.setdefault(a.part, {})[a.kind] = values[a.name]
    order = list(parts)
    swap_color_shape = False
    if rng is not None:
        order = [order[i] for i in rng.permutation(len(order))]
        swap_color_shape = bool(rng.random() < 0.5)
    adjective_kinds = ("size", "shape", "color", "pattern") if swap_color_shape else (
        "size", "color", "shape", "pattern")
    phrases = []
    for part in order:
        kinds = parts[part]
        words = [kinds[k] for k in adjective_kinds if k in kinds]
        words.sort(key=lambda word: word not in _LENGTH_WORDS)  # "a long black beak", not "a black long beak"
        if "count" in kinds:
            phrases.append(" ".join([kinds["count"], *words, part]))
        elif part.endswith("s"):
            phrases.append(" ".join([*words, part]))
        else:
            phrases.append(" ".join([_article(words[0] if words else part), *words, part]))
    body = ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + phrases[-1] if phrases else ""
    context = " ".join(a.phrase(values[a.name]) for a in spec.context_attributes if a.name in values)
    a_noun = f"{_article(spec.noun)} {spec.noun}"
    if rng is None:
        text = f"a photo of {a_noun} with {body}"
        return f"{text} {context}." if context else f"{text}."
    templates = [f"a photo of {a_noun} with {body}{{sep}}{{context}}.",
                 f"{a_noun} with {body}{{sep}}{{context}}.",
                 f"a picture of {a_noun} {{context}}: {body}.",
                 f"{{Context}}, {a_noun} with {body}.",
                 f"this {spec.noun} has {body}{{sep}}{{context}}."]
    if not context:
        templates = [t for t in templates if "Context" not in t]
    template = templates[int(rng.integers(len(templates)))]
    text = template.format(sep=", " if context else "", context=context, Context=context[:1].upper() + context[1:])
    return " ".join(text.replace(" :", ":").split())


# ----------------------------------------------------------------------------------------------
# The world


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


# ----------------------------------------------------------------------------------------------
# Torch datasets


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



# ----------------------------------------------------------------------------------------------
# Rendering: analytic anti-aliased shapes, a batch of images at a time
#
# The image spans [-1, 1] x [-1, 1] (x right, y down). Each image has an object frame (u, v), the
# inverse of its pose: the object is drawn facing +u, centred at the origin, about 1.8 units long.
# Shapes are signed distances in *pixels* (inside > 0), so one formula gives a one-pixel
# anti-aliased edge, and the same distance shifted by a pixel gives the darker rim around a part,
# at any image size. All arrays are float32 [N, H, W] (one plane per colour channel).

_BATCH_PIXELS = 1 << 16  # pixels per batch: keeps the working planes (256 KiB) in cache
_F = np.float32


def _col(x: Any) -> np.ndarray:
    """Per-image parameters [N] -> [N, 1, 1] for broadcasting against [N, H, W]."""
    return np.asarray(x, dtype=_F).reshape(-1, 1, 1)


def _alpha(d: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Coverage from a signed pixel distance: clamp(d + 0.5 + grow, 0, 1), a new array."""
    a = d + _F(0.5 + grow)
    return np.clip(a, 0.0, 1.0, out=a)


def _frame(u: np.ndarray, v: np.ndarray, cx: Any, cy: Any = 0.0, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to (cx, cy), rotated so the local +u axis points at ``angle`` radians."""
    du, dv = u - cx, v - cy
    if angle:
        c, s = _F(math.cos(angle)), _F(math.sin(angle))
        du, dv = du * c + dv * s, dv * c - du * s
    return du, dv


def _ellipse(du: np.ndarray, dv: np.ndarray, rx: Any, ry: Any, ie: Any) -> np.ndarray:
    """Ellipse of semi-axes (rx, ry); ``ie`` is pixels per unit. Near the rim the signed distance
    is (1 - q) * r / 2 with q = (du/rx)^2 + (dv/ry)^2 and r the smaller semi-axis."""
    q = du * (1.0 / np.asarray(rx, dtype=_F))
    np.square(q, out=q)
    t = dv * (1.0 / np.asarray(ry, dtype=_F))
    np.square(t, out=t)
    q = q + t  # not in place: du and dv may broadcast (e.g. [N, 1, W] and [N, H, 1])
    q -= 1.0
    q *= -np.minimum(rx, ry) * 0.5 * ie
    return q


def _circle(du: np.ndarray, dv: np.ndarray, r: Any, ie: Any) -> np.ndarray:
    """Circle of radius r: the exact signed distance, so it can be shrunk (hubs) or grown (rims)."""
    q = np.square(du)
    q += np.square(dv)
    np.sqrt(q, out=q)
    q -= r
    q *= -ie
    return q


def _rounded_box(du: np.ndarray, dv: np.ndarray, hx: Any, hy: Any, ie: Any) -> np.ndarray:
    """Superellipse |du/hx|^4 + |dv/hy|^4 <= 1: a box with rounded corners."""
    q = du * (1.0 / np.asarray(hx, dtype=_F))
    np.square(q, out=q)
    np.square(q, out=q)
    t = dv * (1.0 / np.asarray(hy, dtype=_F))
    np.square(t, out=t)
    np.square(t, out=t)
    q += t
    q -= 1.0
    q *= -np.minimum(hx, hy) * 0.25 * ie
    return q


def _box(du: np.ndarray, dv: np.ndarray, hx: Any, hy: Any, ie: Any) -> np.ndarray:
    d = hx - np.abs(du)
    np.minimum(d, hy - np.abs(dv), out=d)
    d *= ie
    return d


def _polygon(u: np.ndarray, v: np.ndarray, verts: np.ndarray, ie: Any) -> np.ndarray:
    """Convex polygon, ``verts`` [N, K, 2] or [K, 2] in either winding: min over edges of the
    distance to the edge's line, measured along its inward normal."""
    verts = np.asarray(verts, dtype=_F)
    if verts.ndim == 2:
        verts = verts[None]
    p0, p1 = verts, np.roll(verts, -1, axis=1)
    e = p1 - p0
    winding = np.sign((p0[..., 0] * p1[..., 1] - p1[..., 0] * p0[..., 1]).sum(1, keepdims=True))
    scale = winding / np.maximum(np.hypot(e[..., 0], e[..., 1]), 1e-6)
    ie = np.asarray(ie, dtype=_F).reshape(-1, 1)
    nx, ny = -e[..., 1] * scale * ie, e[..., 0] * scale * ie  # inward normals, pixel units [N, K]
    offset = nx * p0[..., 0] + ny * p0[..., 1]
    d = None
    for k in range(verts.shape[1]):
        dk = u * _col(nx[:, k])
        dk += v * _col(ny[:, k])
        dk -= _col(offset[:, k])
        d = dk if d is None else np.minimum(d, dk, out=d)
    return d


def _wave(t: np.ndarray, period: float) -> np.ndarray:
    """Distance (in periods, 0..0.5) from t to the nearest band centre at (k + 1/2) * period."""
    f = t * _F(1.0 / period)
    f -= np.floor(f)
    f -= 0.5
    return np.abs(f, out=f)


def _bands(t: np.ndarray, period: float, duty: float, ie: Any) -> np.ndarray:
    """Parallel bands across coordinate t, covering ``duty`` of each period."""
    d = _wave(t, period)
    d -= duty / 2
    d *= -period * ie
    return d


def _spots(a: np.ndarray, b: np.ndarray, period: float, radius: float, ie: Any) -> np.ndarray:
    """Round spots of ``radius`` on a square lattice of ``period``."""
    q = np.square(_wave(a, period))
    q += np.square(_wave(b, period))
    r = radius / period
    q -= r * r
    q *= -period / (2 * r) * ie
    return q


def _checker(a: np.ndarray, b: np.ndarray, period: float, ie: Any) -> np.ndarray:
    """A checkerboard of squares of side period / 2."""
    fa, fb = _wave(a, period) - 0.25, _wave(b, period) - 0.25
    d = np.minimum(np.abs(fa), np.abs(fb))
    d *= np.sign(fa * fb) * period * ie
    return d


def _shade(color: np.ndarray) -> np.ndarray:
    return np.asarray(color, dtype=_F) * _F(0.55)


def _contrast(color: np.ndarray) -> np.ndarray:
    """A pattern colour that reads on ``color`` [N, 3]: darker on light colours, lighter on dark."""
    luminance = color @ np.array([0.3, 0.59, 0.11], dtype=_F)
    return np.where((luminance > 0.42)[:, None], color * 0.35, color * 0.35 + 0.6).astype(_F)


def _blend(rgb: np.ndarray, alpha: np.ndarray, color: Any, buf: np.ndarray | None = None) -> None:
    """rgb [3, N, H, W] += alpha * (color - rgb); ``color`` is [3] or [N, 3]."""
    color = np.asarray(color, dtype=_F)
    buf = np.empty_like(rgb[0]) if buf is None else buf
    for c in range(3):
        plane = rgb[c]
        np.subtract(color[c] if color.ndim == 1 else _col(color[:, c]), plane, out=buf)
        buf *= alpha
        plane += buf


class _Canvas:
    """RGB planes [3, N, H, W] in [0, 1] and each image's object frame (u, v) and pixels per unit."""

    def __init__(self, rgb: np.ndarray, u: np.ndarray, v: np.ndarray, ie: np.ndarray):
        self.rgb, self.u, self.v, self.ie = rgb, u, v, ie
        self.n = rgb.shape[1]
        self._buf = np.empty_like(u)

    def paint(self, alpha: np.ndarray, color: Any) -> None:
        _blend(self.rgb, alpha, color, self._buf)

    def fill(self, d: np.ndarray, color: Any, rim: bool = True) -> np.ndarray:
        """Paint a shape from its signed distance, with a darker one-pixel rim; returns its alpha.

        One blend does both: the cover reaches a pixel further than the shape, and the colour
        fades to 55 % where the shape's own alpha falls, which reads as an outline or shading."""
        alpha = _alpha(d)
        if not rim:
            self.paint(alpha, color)
            return alpha
        cover = _alpha(d, 1.0)
        fade = alpha * _F(0.45)
        fade += _F(0.55)
        color = np.asarray(color, dtype=_F)
        buf = self._buf
        for c in range(3):
            plane = self.rgb[c]
            np.multiply(fade, color[c] if color.ndim == 1 else _col(color[:, c]), out=buf)
            buf -= plane
            buf *= cover
            plane += buf
        return alpha

    def detail(self, images: np.ndarray, distance: Callable[[np.ndarray], np.ndarray], color: Any,
               within: np.ndarray | None = None, rim: bool = False) -> None:
        """Paint a shape only some images have (patterns, crests), on those images only.

        ``distance(idx)`` gives the shape's signed pixel distance [m, H, W] for images ``idx``;
        ``within`` (alpha of a part, [N, H, W]) clips it to that part, e.g. stripes to the body.
        """
        idx = np.flatnonzero(images)
        if not len(idx):
            return
        d = distance(idx)
        color = np.asarray(color, dtype=_F)
        color = color[idx] if color.ndim == 2 else color
        sub = self.rgb[:, idx]
        for alpha, col in ([(_alpha(d, 1.0), _shade(color))] if rim else []) + [(_alpha(d), color)]:
            if within is not None:
                alpha *= within[idx]
            _blend(sub, alpha, col)
        self.rgb[:, idx] = sub


def _select(values: np.ndarray, table: Sequence[Any]) -> np.ndarray:
    """Per-image geometry by attribute value: ``table[value]`` for each image."""
    return np.asarray(table, dtype=_F)[values]


# --- domain drawings. `a` maps attribute name -> value indices [N]; `colors` name -> RGB [N, 3].

_LEG = (0.78, 0.52, 0.36)
_EYE = (0.03, 0.03, 0.03)
_WHITE = (0.97, 0.97, 0.97)
_TYRE = (0.07, 0.07, 0.08)
_TAIL_LIGHT = (0.85, 0.08, 0.08)
_COCKPIT = (0.1, 0.14, 0.22)


def _draw_bird(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    wing, body, head = colors["wing_color"], colors["body_color"], colors["head_color"]
    # Legs (behind the body): two bars at u = -0.02 -+ 0.08, one box on |u + 0.02| - 0.08.
    leg_len = _col(_select(a["leg_length"], [0.16, 0.44]) * rng.uniform(0.92, 1.08, n))
    lu = np.abs(u + 0.02)
    lu -= 0.08
    cv.fill(_box(lu, v - (0.22 + leg_len / 2), 0.036, leg_len / 2, ie), _LEG)
    # Tail (wing colour): two triangles sharing the root; a fork separates their tips.
    shape = a["tail_shape"]
    length = _select(shape, [0.52, 1.0, 0.94]) * rng.uniform(0.95, 1.05, n).astype(_F)
    tip_up, tip_lo = _select(shape, [0.14, 0.18, -0.12]), _select(shape, [0.14, 0.18, 0.4])
    root = np.broadcast_to(np.array([[-0.3, -0.05], [-0.3, 0.06], [-0.3, 0.17]], dtype=_F), (n, 3, 2))
    upper = np.stack([root[:, 0], root[:, 1], np.stack([-length, tip_up], 1)], 1)
    lower = np.stack([root[:, 1], root[:, 2], np.stack([-length, tip_lo], 1)], 1)
    cv.fill(np.maximum(_polygon(u, v, upper, ie), _polygon(u, v, lower, ie)), wing)
    # Body and its pattern.
    bu, bv = _frame(u, v, 0.0, 0.05, -0.22)
    body_alpha = cv.fill(_ellipse(bu, bv, 0.46, 0.28, ie), body)
    pattern, contrast = a["body_pattern"], _contrast(body)
    cv.detail(pattern == 1, lambda i: _bands(bu[i], 0.26, 0.45, ie[i]), contrast, body_alpha)
    cv.detail(pattern == 2, lambda i: _spots(bu[i], bv[i] + 0.04, 0.28, 0.095, ie[i]), contrast, body_alpha)
    # Wing with bars or white tips.
    wu, wv = _frame(u, v, -0.14, -0.03, -0.32)
    wing_alpha = cv.fill(_ellipse(wu, wv, 0.32, 0.14, ie), wing)
    pattern = a["wing_pattern"]
    cv.detail(pattern == 1, lambda i: _bands(wu[i], 0.2, 0.45, ie[i]), _contrast(wing), wing_alpha)
    cv.detail(pattern == 2, lambda i: (-0.14 - wu[i]) * ie[i], _WHITE, wing_alpha)
    # Crest (behind the head), head, beak, eye.
    crest = np.array([[0.28, -0.26], [0.52, -0.34], [0.3, -0.6], [0.06, -0.64]], dtype=_F)
    cv.detail(a["head_shape"] == 1, lambda i: _polygon(u[i], v[i], crest, ie[i]), head, rim=True)
    cv.fill(_circle(*_frame(u, v, 0.4, -0.2), 0.2, ie), head)
    beaks = np.array([[[0.54, -0.28], [0.56, -0.13], [0.8, -0.2]],
                      [[0.54, -0.26], [0.56, -0.15], [0.98, -0.19]],
                      [[0.52, -0.31], [0.56, -0.11], [0.78, -0.03]]], dtype=_F)
    cv.fill(_polygon(u, v, beaks[a["beak_shape"]], ie), colors["beak_color"])
    cv.paint(_alpha(_circle(*_frame(u, v, 0.45, -0.25), 0.05, ie)), _EYE)


def _draw_car(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    lf = _select(a["body_length"], [0.78, 1.0])  # body length factor
    # Cabin in the roof colour with windows inset; the body hides its lower edge.
    cabins = np.array([[[-0.5, 0.0], [0.44, 0.0], [0.2, -0.38], [-0.3, -0.38]],    # sedan
                       [[-0.8, 0.0], [0.44, 0.0], [0.16, -0.4], [-0.76, -0.4]],    # hatchback
                       [[-0.56, 0.0], [0.4, 0.0], [0.08, -0.31], [-0.24, -0.33]]],  # coupe
                      dtype=_F)[a["body_style"]]
    cabins[..., 0] *= lf[:, None]
    cabin = _polygon(u, v, cabins, ie)
    cv.fill(cabin, colors["roof_color"])
    cabin -= 0.075 * ie  # windows: the cabin shrunk by the roof and pillar width
    pillar = _col(cabins[:, 2, 0] * 0.35 + cabins[:, 3, 0] * 0.65)
    np.minimum(cabin, (np.abs(u - pillar) - 0.035) * ie, out=cabin)
    glass = np.array([0.62, 0.74, 0.84], dtype=_F) * rng.uniform(0.85, 1.05, (n, 1)).astype(_F)
    cv.paint(_alpha(cabin), glass)
    # Body and its pattern (a racing stripe or a checkerboard).
    body = colors["body_color"]
    bu, bv = _frame(u, v, 0.0, 0.13)
    body_alpha = cv.fill(_rounded_box(bu, bv, _col(0.82 * lf), 0.19, ie), body)
    pattern, contrast = a["body_pattern"], _contrast(body)
    cv.detail(pattern == 1, lambda i: _box(bu[i], bv[i] + 0.03, 1.0, 0.05, ie[i]), contrast, body_alpha)
    cv.detail(pattern == 2, lambda i: _checker(bu[i], bv[i] - 0.05, 0.22, ie[i]), contrast, body_alpha)
    # Head light (shape and colour are attributes) and the red tail light.
    shape = a["light_shape"]
    half_w, half_h = _select(shape, [0.12, 0.055, 0.2]), _select(shape, [0.12, 0.16, 0.045])  # round, tall, wide
    lu, lv = _frame(u, v, _col(0.8 * lf - half_w - 0.02), 0.09)
    light = np.where(_col(shape == 0), _circle(lu, lv, 0.12, ie), _box(lu, lv, _col(half_w), _col(half_h), ie))
    cv.fill(light, colors["light_color"])
    cv.paint(_alpha(_box(*_frame(u, v, _col(-0.8 * lf), 0.05), 0.03, 0.05, ie)), _TAIL_LIGHT)
    # Wheels: three slots; four-wheeled cars show two wheels (the middle slot repeats the rear one).
    r = _col(_select(a["wheel_size"], [0.15, 0.2]))
    six = a["wheel_count"] == 1
    tyre = None
    for x in (np.where(six, -0.62, -0.54) * lf, np.where(six, -0.24, -0.54) * lf, 0.54 * lf):
        t = _circle(*_frame(u, v, _col(x), 0.3), r, ie)
        tyre = t if tyre is None else np.maximum(tyre, t, out=tyre)
    cv.paint(_alpha(tyre), _TYRE)
    tyre -= 0.45 * r * ie  # hub: the wheel shrunk to 55 %
    cv.paint(_alpha(tyre), colors["wheel_color"])


def _draw_aircraft(cv: _Canvas, a: dict[str, np.ndarray], colors: dict[str, np.ndarray],
                   rng: np.random.Generator) -> None:
    u, v, ie, n = cv.u, cv.v, cv.ie, cv.n
    w = np.abs(v)  # plan view: the aircraft is symmetric about its axis, so one half draws both
    hx = _select(a["fuselage_length"], [0.46, 0.66])  # fuselage half length (short, long)
    # Wings: a quad in (u, |v|) gives both wings at once; root chord at the axis, then the tip.
    wings = np.array([[[0.12, -0.1], [-0.12, -0.1], [-0.12, 0.82], [0.06, 0.82]],    # straight
                      [[0.26, -0.1], [0.0, -0.1], [-0.5, 0.72], [-0.36, 0.74]],      # swept
                      [[0.4, -0.1], [-0.46, -0.1], [-0.46, 0.56], [-0.4, 0.56]]],    # delta
                     dtype=_F)[a["wing_shape"]]
    cv.fill(_polygon(u, w, wings, ie), colors["wing_color"])
    # Engines: pods ahead of the leading edge, at one or two spans per side.
    four = a["engine_count"] == 1
    pods = None
    for span in (np.where(four, 0.22, 0.34), np.where(four, 0.48, 0.34)):
        t = (span + 0.1) / (wings[:, 3, 1] + 0.1)
        lead = wings[:, 0, 0] * (1 - t) + wings[:, 3, 0] * t
        p = _ellipse(*_frame(u, w, _col(lead + 0.02), _col(span)), 0.15, 0.075, ie)
        pods = p if pods is None else np.maximum(pods, p, out=pods)
    cv.fill(pods, colors["engine_color"])
    # Tail plane at the rear of the fuselage.
    tails = np.array([[[0.18, -0.1], [0.0, -0.1], [0.0, 0.5], [0.16, 0.5]],       # straight
                      [[0.26, -0.1], [0.08, -0.1], [-0.24, 0.44], [-0.12, 0.46]],  # swept
                      [[0.46, -0.1], [-0.06, -0.1], [-0.06, 0.32], [0.0, 0.32]]],   # delta
                     dtype=_F)[a["tail_shape"]]
    tails[..., 0] -= hx[:, None]
    cv.fill(_polygon(u, w, tails, ie), colors["tail_color"])
    # Fuselage with its nose, livery, cockpit, and the fin seen edge-on.
    body = colors["fuselage_color"]
    pointed = a["nose_shape"] == 1
    half = np.full(n, 0.14, _F)
    nose = np.stack([np.stack([hx - 0.1, -half], 1), np.stack([hx - 0.1, half], 1),
                     np.stack([hx + 0.4, 0 * half], 1)], 1)  # a long spike; the round nose is a blunt cap
    nose_d = np.where(_col(pointed), _polygon(u, v, nose, ie), _ellipse(u - _col(hx), v, 0.1, 0.14, ie))
    fuselage = np.maximum(_rounded_box(u, v, _col(hx), 0.14, ie), nose_d)
    body_alpha = cv.fill(fuselage, body)
    livery, contrast = a["livery"], _contrast(body)
    cv.detail(livery == 1, lambda i: _box(u[i], v[i], 1.0, 0.055, ie[i]), contrast, body_alpha)
    cv.detail(livery == 2, lambda i: _bands(u[i], 0.34, 0.4, ie[i]), contrast, body_alpha)
    cv.paint(_alpha(_box(u - _col(hx - 0.1), v, 0.035, 0.075, ie)), _COCKPIT)
    cv.fill(_box(u - _col(0.12 - hx), v, 0.15, 0.035, ie), colors["tail_color"], rim=False)


_DRAW = {"bird": _draw_bird, "car": _draw_car, "aircraft": _draw_aircraft}
# Pose nuisance at strength 1: max rotation (degrees), scale range, max shift (image units).
_POSE = {"bird": (25.0, (0.62, 0.95), 0.2), "car": (10.0, (0.66, 0.96), 0.25), "aircraft": (30.0, (0.68, 0.92), 0.2)}


# --- scenes: each returns RGB planes [3, m, H, W] for m images, drawn in the image frame


@lru_cache(maxsize=64)
def _upsampler(size: int, cells: int) -> np.ndarray:
    """[size, cells] bilinear interpolation matrix from a coarse grid to pixels."""
    pos = (np.arange(size) + 0.5) / size * (cells - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, cells - 2)
    frac = pos - lo
    m = np.zeros((size, cells), dtype=_F)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _lowfreq(rng: np.random.Generator, m: int, size: int, cells: int) -> np.ndarray:
    """Smooth noise [m, size, size] in about [-1, 1] (a random coarse grid, bilinearly upsampled)."""
    up = _upsampler(size, cells)
    grid = rng.uniform(-1, 1, (m, cells, cells)).astype(_F)
    return up @ grid @ up.T


def _fill(m: int, size: int, color: Any) -> np.ndarray:
    rgb = np.empty((3, m, size, size), dtype=_F)
    for c in range(3):
        rgb[c] = color[c]
    return rgb


def _vertical(top: Any, bottom: Any, y: np.ndarray, m: int) -> np.ndarray:
    """A vertical gradient from ``top`` to ``bottom`` colour, as planes [3, m, H, W]."""
    t = (y + 1) / 2  # [1, H, 1]
    size = y.shape[1]
    rgb = np.empty((3, m, size, size), dtype=_F)
    for c in range(3):
        rgb[c] = top[c] * (1 - t) + bottom[c] * t
    return rgb


def _horizon(rng: np.random.Generator, m: int, x: np.ndarray, y: np.ndarray, lo: float, hi: float,
             ie: float) -> np.ndarray:
    """Coverage of the ground below a slightly tilted horizon line at height in [lo, hi]."""
    h = _col(rng.uniform(lo, hi, m))
    tilt = _col(rng.uniform(-0.08, 0.08, m))
    return _alpha((y - h - tilt * x) * ie)


def _scene(name: str, rng: np.random.Generator, m: int, size: int) -> np.ndarray:
    x = ((np.arange(size, dtype=_F) + 0.5) / size * 2 - 1)[None, None, :]
    y = x.reshape(1, size, 1)
    ie = size / 2.0
    if name in ("sky", "clouds"):
        rgb = _vertical((0.3, 0.5, 0.86), (0.66, 0.8, 0.96), y, m)
        cover = _lowfreq(rng, m, size, 4) + (0.1 if name == "sky" else 0.9)
        cover = np.clip(cover * (1.5 if name == "sky" else 2.5) - 0.6, 0, 1)
        _blend(rgb, cover, (0.95, 0.95, 0.97))
        if name == "clouds":
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 6), 0, 1) * 0.5, (0.7, 0.72, 0.78))
    elif name in ("water", "sea"):
        rgb = _fill(m, size, (0.1, 0.34, 0.55) if name == "water" else (0.06, 0.22, 0.42))
        waves = np.sin(y * _col(rng.uniform(25, 40, m)) + 3 * _lowfreq(rng, m, size, 5))
        _blend(rgb, np.clip(waves - 0.6, 0, 1) * 0.8, (0.5, 0.7, 0.85))
        if name == "water":
            _blend(rgb, 1 - _horizon(rng, m, x, y, -0.95, -0.55, ie), (0.75, 0.85, 0.95))
        else:
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 12) * 3 - 2.2, 0, 1), (0.9, 0.93, 0.95))
    elif name == "forest":
        rgb = _fill(m, size, (0.1, 0.26, 0.1))
        _blend(rgb, np.clip(_lowfreq(rng, m, size, 9) + 0.2, 0, 1) * 0.6, (0.3, 0.52, 0.2))
        trunks = _alpha(_bands(x + _col(rng.uniform(0, 1, m)), float(rng.uniform(0.5, 0.8)), 0.12, ie))
        _blend(rgb, trunks * 0.9, (0.27, 0.17, 0.09))
    elif name == "grassland":
        rgb = _vertical((0.55, 0.72, 0.92), (0.8, 0.87, 0.95), y, m)
        ground = _horizon(rng, m, x, y, -0.5, -0.1, ie)
        _blend(rgb, ground, (0.44, 0.58, 0.2))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 7), 0, 1) * 0.5, (0.7, 0.68, 0.3))
        blades = np.sin(x * 90 + 4 * _lowfreq(rng, m, size, 4))
        _blend(rgb, ground * np.clip(blades, 0, 1) * 0.25, (0.25, 0.4, 0.12))
    elif name in ("road", "city"):
        rgb = _vertical((0.58, 0.7, 0.88), (0.78, 0.84, 0.92), y, m)
        if name == "city":
            idx = np.floor((x + 1) * _col(rng.uniform(2.5, 4.5, m)) + _col(rng.uniform(0, 1, m)))
            shade = (np.sin(idx * 12.9898 + _col(rng.uniform(0, 6, m))) * 43758.5453) % 1.0
            building = _alpha((y + 0.2 + 0.6 * shade) * ie)
            _blend(rgb, building, (0.45, 0.45, 0.47))
            _blend(rgb, building * (0.25 + shade * 0.5), (0.25, 0.25, 0.28))
            windows = _alpha(_bands(x, 0.12, 0.4, ie)) * _alpha(_bands(y, 0.12, 0.4, ie)) * building
            _blend(rgb, windows * 0.6, (0.85, 0.82, 0.6))
        else:
            _blend(rgb, np.clip(_lowfreq(rng, m, size, 8) + 0.3, 0, 1) * _alpha((-0.05 - y) * ie), (0.25, 0.4, 0.2))
        ground = _horizon(rng, m, x, y, 0.0, 0.25, ie)
        _blend(rgb, ground, (0.34, 0.34, 0.36))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 10), 0, 1) * 0.3, (0.45, 0.44, 0.42))
        lane = (_alpha((0.022 - np.abs(y - _col(rng.uniform(0.65, 0.85, m)))) * ie)
                * _alpha(_bands(x + _col(rng.uniform(0, 1, m)), 0.4, 0.5, ie)))
        _blend(rgb, lane, (0.92, 0.9, 0.8))
    elif name == "desert":
        rgb = _vertical((0.6, 0.74, 0.9), (0.9, 0.88, 0.82), y, m)
        ground = _horizon(rng, m, x, y, -0.35, 0.05, ie)
        _blend(rgb, ground, (0.86, 0.72, 0.46))
        dunes = np.sin(x * 4 + y * 9 + _col(rng.uniform(0, 6, m)) + 2 * _lowfreq(rng, m, size, 4))
        _blend(rgb, ground * np.clip(dunes, 0, 1) * 0.35, (0.68, 0.52, 0.3))
    elif name == "snow":
        rgb = _vertical((0.66, 0.68, 0.74), (0.82, 0.84, 0.88), y, m)
        ground = _horizon(rng, m, x, y, -0.35, 0.05, ie)
        _blend(rgb, ground, (0.93, 0.94, 0.98))
        _blend(rgb, ground * np.clip(_lowfreq(rng, m, size, 6), 0, 1) * 0.5, (0.72, 0.78, 0.9))
    elif name == "runway":
        rgb = _fill(m, size, (0.34, 0.5, 0.24))
        _blend(rgb, np.clip(_lowfreq(rng, m, size, 8), 0, 1) * 0.4, (0.5, 0.55, 0.3))
        angle = rng.uniform(0, math.pi, m)
        across = (x - _col(rng.uniform(-0.3, 0.3, m))) * _col(np.cos(angle)) + y * _col(np.sin(angle))
        along = y * _col(np.cos(angle)) - x * _col(np.sin(angle))
        _blend(rgb, _alpha((0.55 - np.abs(across)) * ie), (0.38, 0.38, 0.4))
        centre = _alpha((0.03 - np.abs(across)) * ie) * _alpha(_bands(along, 0.3, 0.5, ie))
        _blend(rgb, centre, (0.94, 0.94, 0.9))
        _blend(rgb, _alpha((0.02 - np.abs(np.abs(across) - 0.48)) * ie), (0.94, 0.94, 0.9))
    else:
        raise ValueError(f"no scene drawing for {name!r}")
    rgb *= rng.uniform(0.9, 1.08, (3, m, 1, 1)).astype(_F)  # per-image scene tint and brightness
    return rgb


# Occluder colours by scene: foliage, bark, posts, rocks, snow, cloud wisps.
_OCCLUDER_COLORS = {
    "forest": ((0.16, 0.36, 0.12), (0.3, 0.2, 0.1)), "grassland": ((0.3, 0.45, 0.15), (0.5, 0.45, 0.2)),
    "water": ((0.4, 0.35, 0.18), (0.2, 0.35, 0.15)), "sky": ((0.92, 0.93, 0.95), (0.3, 0.22, 0.14)),
    "road": ((0.45, 0.45, 0.47), (0.2, 0.35, 0.15)), "city": ((0.3, 0.3, 0.32), (0.6, 0.58, 0.55)),
    "desert": ((0.6, 0.45, 0.28), (0.4, 0.5, 0.25)), "snow": ((0.9, 0.92, 0.96), (0.3, 0.22, 0.15)),
    "clouds": ((0.95, 0.95, 0.97), (0.82, 0.84, 0.88)), "runway": ((0.95, 0.95, 0.96), (0.5, 0.5, 0.52)),
    "sea": ((0.95, 0.95, 0.97), (0.82, 0.84, 0.88)),
}
# Global light: (desaturation, RGB gain, RGB offset). Mild, so part colours stay apart.
_LIGHTS = {"day": (0.0, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
           "overcast": (0.3, (0.9, 0.92, 0.95), (0.03, 0.03, 0.04)),
           "dusk": (0.05, (1.0, 0.88, 0.75), (0.04, 0.01, 0.0))}


def render_images(domain: str, attributes: np.ndarray, image_size: int = 64, seed: int | Sequence[int] = 0,
                  nuisance: float = 1.0) -> np.ndarray:
    """Draw one image per row of ``attributes`` (int [N, A_all] value indices in domain order).

    Returns uint8 ``[N, image_size, image_size, 3]``; deterministic given the arguments.
    """
    spec = DOMAINS[domain]
    attributes = np.asarray(attributes, dtype=np.int64)
    sizes = np.array([len(a.values) for a in spec.attributes])
    if attributes.ndim != 2 or attributes.shape[1] != len(sizes):
        raise ValueError(f"attributes must be [N, {len(sizes)}] for domain {domain!r}, got shape {attributes.shape}.")
    if ((attributes < 0) | (attributes >= sizes)).any():
        raise ValueError(f"attribute value indices out of range; per-attribute value counts are {sizes.tolist()}.")
    seed_material = [int(seed)] if np.ndim(seed) == 0 else [int(s) for s in seed]
    out = np.empty((len(attributes), image_size, image_size, 3), dtype=np.uint8)
    batch = max(1, _BATCH_PIXELS // (image_size * image_size))
    code = _domain_code(domain)
    for b, start in enumerate(range(0, len(attributes), batch)):
        rng = np.random.default_rng([*seed_material, code, b])
        out[start:start + batch] = _render_batch(spec, attributes[start:start + batch], image_size, rng, nuisance)
    return out


def _render_batch(spec: DomainSpec, attributes: np.ndarray, size: int, rng: np.random.Generator,
                  nuisance: float) -> np.ndarray:
    n = len(attributes)
    values = {a.name: attributes[:, i] for i, a in enumerate(spec.attributes)}
    strength = min(nuisance, 1.0)
    scenes = spec.attribute("scene").values
    # Background: one scene drawing per scene present in the batch.
    rgb = np.empty((3, n, size, size), dtype=_F)
    for s, name in enumerate(scenes):
        idx = np.flatnonzero(values["scene"] == s)
        if len(idx):
            rgb[:, idx] = _scene(name, rng, len(idx), size)
    # Pose: the object frame (u, v) of every pixel, (u, v) = R(-theta) ((x, y) - shift) / scale.
    max_rot, (s_lo, s_hi), max_shift = _POSE[spec.name]
    theta = np.deg2rad(rng.uniform(-1, 1, n) * max_rot * nuisance)
    scale = (s_lo + s_hi) / 2 + rng.uniform(-1, 1, n) * (s_hi - s_lo) / 2 * strength
    shift = rng.uniform(-1, 1, (2, n)) * max_shift * strength
    flip = np.where(rng.random(n) < (0.5 if nuisance > 0 else 0.0), -1.0, 1.0)
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    px = grid[None, None, :] - _col(shift[0])
    py = grid[None, :, None] - _col(shift[1])
    cos, sin, inv = _col(np.cos(theta)), _col(np.sin(theta)), _col(1.0 / scale)
    u = px * (cos * inv * _col(flip)) + py * (sin * inv * _col(flip))
    v = py * (cos * inv) - px * (sin * inv)
    ie = _col(size / 2.0 * scale)  # pixels per object unit
    # Part colours with bounded jitter (see max_color_jitter).
    colors = {}
    for a in spec.part_attributes:
        if a.kind == "color":
            base = np.array([PALETTE[c] for c in a.values], dtype=_F)[values[a.name]]
            gain = 1 + rng.uniform(-1, 1, (n, 1)) * JITTER_GAIN * strength
            offset = rng.uniform(-1, 1, (n, 3)) * JITTER_OFFSET * strength
            colors[a.name] = np.clip(base * gain + offset, 0, 1).astype(_F)
    _clutter(rgb, rng, size, strength)
    _DRAW[spec.name](_Canvas(rgb, u, v, ie), values, colors, rng)
    _occlude(rgb, values["scene"], scenes, rng, size, strength)
    return _finish(rgb, spec.attribute("light").values, values["light"], rng, nuisance)


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed standard-normal planes [8, size + 32, size + 32]; images add random windows of them.

    Drawing fresh Gaussian noise costs more than drawing an image; windows at random offsets of a
    fixed bank are as good as fresh noise for a network and deterministic."""
    return np.random.default_rng(0x401CE).standard_normal((8, size + 32, size + 32), dtype=_F)


def _finish(rgb: np.ndarray, lights: tuple[str, ...], light: np.ndarray, rng: np.random.Generator,
            nuisance: float) -> np.ndarray:
    """Light (desaturation, tint), exposure and pixel noise, then uint8 [N, H, W, 3]."""
    n, size = rgb.shape[1], rgb.shape[2]
    desat = np.array([_LIGHTS[lights[i]][0] for i in light], dtype=_F)
    gain = np.array([_LIGHTS[lights[i]][1] for i in light], dtype=_F)
    offset = np.array([_LIGHTS[lights[i]][2] for i in light], dtype=_F)
    gain *= (1 + rng.uniform(-0.06, 0.06, (n, 1)) * min(nuisance, 1.0)).astype(_F)
    sigma = (rng.uniform(0.008, 0.03, n) * nuisance * 255.0).astype(_F)
    bank = _noise_bank(size)
    windows = rng.integers(0, [len(bank), 33, 33], size=(3, n, 3))
    grey = None
    if (desat > 0).any():
        grey = rgb.sum(0)
        grey *= _F(1 / 3)
    out = np.empty(rgb.shape[1:] + (3,), dtype=np.uint8)
    for c in range(3):
        plane = rgb[c]
        if grey is not None:
            plane += _col(desat) * (grey - plane)
        plane *= _col(gain[:, c] * 255.0)
        plane += _col(offset[:, c] * 255.0 + 0.5)
        if nuisance > 0:
            for i, (k, dy, dx) in enumerate(windows[c]):
                plane[i] += sigma[i] * bank[k, dy:dy + size, dx:dx + size]
        np.clip(plane, 0, 255, out=plane)
        out[..., c] = plane
    return out


_CLUTTER_SLOTS = 2  # small coloured things in the background (berries, flowers, signs, litter)
_CLUTTER_COLORS = np.array(list(PALETTE.values()), dtype=_F)


def _clutter(rgb: np.ndarray, rng: np.random.Generator, size: int, strength: float) -> None:
    """Blobs of palette colours behind the object, so colour statistics of the whole image are a
    poor shortcut to the object's colours (a linear model on pixels must not read them off)."""
    n = rgb.shape[1]
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    ie = size / 2.0
    buf = np.empty((n, size, size), dtype=_F)
    for _ in range(_CLUTTER_SLOTS):
        present = rng.random(n) < 0.75 * strength
        cx, cy = rng.uniform(-1, 1, (2, n))
        rx, ry = rng.uniform(0.04, 0.12, (2, n))
        color = _CLUTTER_COLORS[rng.integers(len(_CLUTTER_COLORS), size=n)] * rng.uniform(0.8, 1.05, (n, 1)).astype(_F)
        if present.any():
            d = _ellipse(grid[None, None, :] - _col(cx), grid[None, :, None] - _col(cy), _col(rx), _col(ry), ie)
            _blend(rgb, _alpha(d) * _col(present), color, buf)


def _occlude(rgb: np.ndarray, scene: np.ndarray, scenes: tuple[str, ...], rng: np.random.Generator, size: int,
             strength: float) -> None:
    """Branches, posts and blobs in front of the object in a share of the images (image frame)."""
    n = rgb.shape[1]
    idx = np.flatnonzero(rng.random(n) < 0.3 * strength)
    if not len(idx):
        return
    m = len(idx)
    grid = (np.arange(size, dtype=_F) + 0.5) / size * 2 - 1
    du = grid[None, None, :] - _col(rng.uniform(-0.7, 0.7, m))
    dv = grid[None, :, None] - _col(rng.uniform(-0.7, 0.7, m))
    angle = rng.uniform(0, math.pi, m)
    c, s = _col(np.cos(angle)), _col(np.sin(angle))
    along, across = du * c + dv * s, dv * c - du * s
    is_branch = rng.random(m) < 0.5
    half_len = _col(np.where(is_branch, rng.uniform(0.5, 1.2, m), rng.uniform(0.1, 0.2, m)))
    half_wid = _col(np.where(is_branch, rng.uniform(0.025, 0.06, m), rng.uniform(0.07, 0.14, m)))
    ie = size / 2.0
    alpha = _alpha(np.where(_col(is_branch), _box(along, across, half_len, half_wid, ie),
                            _ellipse(along, across, half_len, half_wid, ie)))
    which = rng.integers(0, 2, m)
    palette = np.array([_OCCLUDER_COLORS[scenes[k]][int(j)] for k, j in zip(scene[idx], which)], dtype=_F)
    sub = rgb[:, idx]
    _blend(sub, alpha, palette)
    rgb[:, idx] = sub
