"""The class taxonomy: a fixed stream of genera per ``(domain, seed, species_per_genus)``.

A genus has a base attribute vector and a name ("Torvi Warbler"); its species are the base plus
variants that change one or two attributes, named from the attributes' modifiers ("Crested Torvi
Warbler"). Even genera form the target pool and odd ones the pretraining pool. :func:`_carve`
picks a pool's classes, in label order, for a config; :class:`ClassSpec` is the public record of
one class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from fgkd.data.world.domains import DOMAINS, DomainSpec, _domain_code


@dataclass(frozen=True)
class ClassSpec:
    """One class: its index (= label), readable name, attribute values and superclass (genus)."""

    index: int  # label in its pool (target classes: 0..C-1; pretraining classes: 0..P-1)
    name: str  # e.g. "Crested Torvi Warbler"
    values: dict[str, str] = field(hash=False)  # part attribute -> value; context attribute -> preferred value
    superclass: str  # genus name shared by siblings, e.g. "Torvi Warbler"
    vector: tuple[int, ...] = ()  # value indices of the part attributes (domain order)
    genus: int = -1  # genus position in the class universe


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


@lru_cache(maxsize=32)
def _universe(domain: str, seed: int, species_per_genus: int) -> _Universe:
    return _Universe(DOMAINS[domain], seed, species_per_genus)


def _genus_sizes(n_classes: int, species_per_genus: int) -> list[int]:
    """Spread n classes over ceil(n / S) genera as evenly as possible (each keeps >= 2 siblings)."""
    n_genera = math.ceil(n_classes / species_per_genus)
    base, extra = divmod(n_classes, n_genera)
    return [base + (g < extra) for g in range(n_genera)]


class _PoolRequest(Protocol):
    """What carving reads of a :class:`~fgkd.data.world.config.WorldConfig` (which validates
    itself by carving, so this module sits below it and does not import it)."""

    @property
    def domain(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def species_per_genus(self) -> int: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def pretrain_classes(self) -> int: ...


def _carve(config: _PoolRequest, pool: str) -> list[tuple[_Genus, int]]:
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


def _check_coverage(config: _PoolRequest, target: list[tuple[_Genus, int]]) -> None:
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
