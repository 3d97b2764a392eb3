"""An offline "LLM" for the embedded world: descriptions and questions from ground truth.

The world (:mod:`fgkd.data.world`) knows every class's attribute values, so this backend writes
what a good LLM would: descriptions naming a class's most distinctive attributes first and its
preferred context softly ("often seen in a forest"), and yes/no questions with true answers.

Descriptions. Two writing styles stand in for "different LLMs" (LEAD Table 1): ``"a"`` is
encyclopedic (name, parts in long sentences, context last, an emphasis sentence); ``"b"`` is a
terse field guide (context first, one short sentence per part, other wording). Any length up to 70
words: the most facts that fit come first, then generic filler; a short budget switches to a
compact list so that a 10-word description still names the 2-3 most distinctive attributes.
Part attributes are ordered by (share of the class's siblings -- same genus -- that differ in
it, surprisal -log f_a(v)), f_a(v) the fraction of the world's classes with value v: first what
tells the class from its look-alikes (what its name's modifier says, "Crested ..."), then what is
rare in the world.

Questions. Candidates, in the order an LLM would write them: one per (attribute, value) ("Does the
bird have red wings?", "Is the bird in a forest?"), one per value group of a colour or pattern
attribute ("Does the bird have dark wings?", "... a patterned body?"), then conjunctions of two
parts' values that some class has ("Does the bird have red wings and a crested head?"). The first
``n_generate`` (or a seeded sample of the simple ones when they alone exceed it) are ranked
greedily by discrimination and distinctness: the next question maximises
H(p_q) * (1 - max_{s selected} |rho(q, s)|), with p_q the fraction of classes answering yes, H the
binary entropy and rho the Pearson correlation of the answer vectors over classes, so complements
of chosen questions and questions splitting the classes the same way fall to the end.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fgkd.io import stable_hash
from fgkd.llm.base import (
    LLM,
    MAX_WORDS_LIMIT,
    validate_class_names,
    validate_max_words,
    validate_question_counts,
)
from fgkd.llm.perturb import count_words, truncate_words
from fgkd.llm.questions import AspectQuestion

STYLES = ("a", "b")

# Generic but plausible sentences, used when the attributes run out. They name no body part the
# world could vary, so they never contradict a class's attributes.
_FILLER = {
    "a": {
        "bird": [
            "It is a distinctive species that experienced birdwatchers learn to recognise quickly.",
            "Adults of both sexes look much alike.",
            "Its plumage looks neat and well kept in good light.",
            "It is usually seen alone or in small loose groups.",
            "Observers identify it by the combination of these features.",
            "Its posture is alert and upright when perched.",
            "In flight it looks balanced and agile.",
            "It is easy to recognise.",
            "It is common in its range.",
        ],
        "car": [
            "Its proportions give it a confident, well balanced stance.",
            "The design is clean, with carefully shaped surfaces.",
            "Enthusiasts recognise it by the combination of these features.",
            "It looks equally at home in daily traffic and on long trips.",
            "The overall look is modern and cohesive.",
            "Its lines flow smoothly from front to rear.",
            "It is easy to recognise.",
            "It looks well built.",
        ],
        "aircraft": [
            "Its proportions are typical of its class of aircraft.",
            "Spotters recognise it by the combination of these features.",
            "The airframe looks clean and purposeful.",
            "It is a familiar sight to aviation enthusiasts.",
            "Its overall profile is smooth and well balanced.",
            "It looks steady and composed in flight.",
            "It is easy to recognise.",
            "It looks well built.",
        ],
        "object": [
            "It is easy to recognise by the combination of these features.",
            "Its overall appearance is clean and well proportioned.",
            "The overall look is distinctive and consistent.",
            "Observers identify it quickly once they know these features.",
        ],
    },
    "b": {
        "bird": [
            "Sexes similar.",
            "Often alone.",
            "Alert and active.",
            "Easy to pick out once learned.",
            "A neat, tidy look overall.",
            "Quick, agile movements.",
            "Perches upright.",
        ],
        "car": [
            "Confident stance.",
            "Clean, modern lines.",
            "Easy to spot in traffic.",
            "A cohesive design overall.",
            "Smooth surfaces front to rear.",
        ],
        "aircraft": [
            "Clean airframe.",
            "A familiar sight to spotters.",
            "Smooth, balanced profile.",
            "Steady in flight.",
            "Easy to pick out once learned.",
        ],
        "object": [
            "Easy to recognise.",
            "A tidy look overall.",
            "Distinctive once learned.",
        ],
    },
}
# Style b writes one short sentence per extra part, in a wording drawn per class from these.
_B_PART_SENTENCES = ("It has {p}.", "Note {its}.", "Look for {p}.", "It shows {p}.")
# Value groups asked about as one question ("dark wings"); a group is used for an attribute when
# it holds at least two of its values and not all of them.
_VALUE_GROUPS = {
    "color": (
        ("dark", {"black", "brown", "grey"}),
        ("brightly coloured", {"red", "orange", "yellow", "gold", "green", "blue"}),
        ("warm-coloured", {"red", "orange", "yellow", "gold", "brown"}),
        ("cool-coloured", {"blue", "green"}),
        ("pale", {"white", "silver", "grey"}),
        ("metallic", {"silver", "gold"}),
    ),
    "pattern": (("patterned", {"striped", "spotted", "barred", "white-tipped", "checkered", "banded"}),),
}


@dataclass(frozen=True)
class TemplateConfig:
    """Options of the ``template`` backend besides the world."""

    style: str = "a"  # writing style, "a" (encyclopedic) or "b" (field guide): "different LLMs"
    seed: int = 0  # varies filler order, wording choices and the question candidate sample

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"TemplateConfig.style must be one of {STYLES}, got {self.style!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"TemplateConfig.seed must be an int, got {self.seed!r}")


@dataclass(frozen=True)
class _Fact:
    attribute: str
    value: str
    phrase: str  # "red wings", "a striped body", "in a forest"
    context: bool
    sibling_difference: float  # share of same-genus classes with another value
    surprisal: float  # -log f_a(v) over the world's classes


class TemplateLLM(LLM):
    """Descriptions and aspect questions written from the world's ground truth (offline).

    Args:
        world: a :class:`fgkd.data.world.World`; class names are looked up among its target and
            pre-training classes.
        style: ``"a"`` or ``"b"`` (see module docstring).
        seed: varies wording, filler and the sampled question candidates; the facts, their order
            and the question ranking rule do not depend on it. Questions do not depend on style.
    """

    name = "template"

    def __init__(self, world: Any = None, style: str = "a", seed: int = 0) -> None:
        if world is None:
            raise ValueError(
                "the 'template' LLM backend writes from the embedded world's ground truth: pass "
                "world=World(WorldConfig(domain=...)) (fgkd.data.world)"
            )
        self.config = TemplateConfig(style=style, seed=seed)
        self.world = world
        self.noun = _domain_noun(world)
        self._specs = {spec.name: spec for spec in world.domain.attributes}
        population = list(world.classes) + list(getattr(world, "pretrain_classes", None) or [])
        self._classes = {c.name: c for c in population}
        self._genus: dict[Any, list[Any]] = {}
        for c in population:
            self._genus.setdefault(getattr(c, "superclass", None), []).append(c)
        # f_a(v): how common each value is among the world's classes (distinctiveness reference).
        self._freq = {
            a: Counter(c.values[a] for c in population if a in c.values) for a in self._specs
        }
        self._population_size = len(population)

    def __repr__(self) -> str:
        return f"TemplateLLM(domain={self.noun!r}, style={self.config.style!r}, seed={self.config.seed})"

    # -- lookup ----------------------------------------------------------------------------------

    def _class(self, name: str) -> Any:
        try:
            return self._classes[name]
        except KeyError:
            raise KeyError(
                f"class {name!r} is not in this {self.noun} world (it has {len(self._classes)} "
                f"classes, e.g. {list(self._classes)[:3]!r}); the template backend can only "
                f"describe the world's own classes"
            ) from None

    def facts(self, class_name: str) -> tuple[list[_Fact], list[_Fact]]:
        """The part facts of a class, most distinctive first, and its context facts."""
        cls = self._class(class_name)
        siblings = [c for c in self._genus.get(getattr(cls, "superclass", None), []) if c.name != cls.name]
        parts, context = [], []
        for spec in self._specs.values():
            value = cls.values.get(spec.name)
            if value is None:
                continue
            count = self._freq[spec.name][value]
            fact = _Fact(
                attribute=spec.name,
                value=value,
                phrase=_phrase(spec, value),
                context=_is_context(spec),
                sibling_difference=(
                    sum(s.values.get(spec.name) != value for s in siblings) / len(siblings) if siblings else 0.0
                ),
                surprisal=-math.log(count / self._population_size),
            )
            (context if fact.context else parts).append(fact)
        # Stable sort: equally distinctive attributes keep the domain's attribute order.
        parts.sort(key=lambda f: (-f.sibling_difference, -f.surprisal))
        return parts, context

    # -- descriptions ----------------------------------------------------------------------------

    def describe(self, class_names: Sequence[str], max_words: int = MAX_WORDS_LIMIT) -> dict[str, str]:
        names = validate_class_names(class_names)
        validate_max_words(max_words)
        return {name: self._describe_one(name, max_words) for name in names}

    def _rng(self, *key: Any) -> np.random.Generator:
        return np.random.default_rng(int(stable_hash([self.config.seed, *key]), 16))

    def _describe_one(self, name: str, max_words: int) -> str:
        parts, context = self.facts(name)
        rng = self._rng("describe", self.config.style, name)
        render = _render_a if self.config.style == "a" else _render_b
        wording = rng.permutation(len(_B_PART_SENTENCES)).tolist()
        chosen = None  # (score, text, compact)
        # The most facts that fit win (the compact list drops the context); at equal count, full
        # sentences beat the compact list, then more part facts beat the context.
        for k in range(1, len(parts) + 1):
            for compact in (False, True):
                candidate = render(name, self.noun, parts[:k], context, compact, wording)
                if count_words(candidate) > max_words:
                    continue
                score = (k + (0 if compact else len(context)), not compact, k)
                if chosen is None or score > chosen[0]:
                    chosen = (score, candidate, compact)
        if chosen is None:  # even the name and one attribute are too long: cut
            return truncate_words(render(name, self.noun, parts[:1], [], True, wording), max_words)
        _, text, compact = chosen
        if parts and not compact:
            text = _add_emphasis(text, parts[0], self.config.style, max_words)
        fillers = _FILLER[self.config.style].get(self.noun, _FILLER[self.config.style]["object"])
        for i in rng.permutation(len(fillers)):
            sentence = fillers[i]
            if count_words(text) + count_words(sentence) <= max_words:
                text = f"{text} {sentence}"
        return text

    # -- questions -------------------------------------------------------------------------------

    def candidate_questions(self, class_names: Sequence[str]) -> list[AspectQuestion]:
        """Every candidate question, answers aligned with ``class_names``, in writing order.

        Single values (domain order), then value groups, then two-part conjunctions that at least
        one of the classes has (seeded order).
        """
        classes = [self._class(n) for n in class_names]
        noun, a_noun = self.noun, _article(self.noun)
        out: list[AspectQuestion] = []

        def add(text, affirmative, negative, attribute, value, rule):
            q = AspectQuestion(text, affirmative, negative, attribute, value, rule=rule)
            answers = tuple(q.answer_for(c.values) for c in classes)
            out.append(AspectQuestion(text, affirmative, negative, attribute, value, answers, rule,
                                      contrasts=tuple(self._contrast(attr, allowed) for attr, allowed in rule)))

        for spec in self._specs.values():
            for value in spec.values:
                phrase = _phrase(spec, value)
                rule = ((spec.name, (value,)),)
                if not _is_context(spec):
                    add(f"Does the {noun} have {phrase}?", _statement(a_noun, phrase, context=False),
                        f"a photo of {a_noun} without {phrase}", spec.name, value, rule)
                else:
                    # "Is the bird in a forest?", but "Is the bird seen at dusk?" for the light.
                    verb = "" if spec.kind == "scene" else "seen "
                    add(f"Is the {noun} {verb}{phrase}?", _statement(a_noun, phrase, context=True),
                        f"a photo of {a_noun} not {phrase}", spec.name, value, rule)
        for spec in self._specs.values():
            seen_groups: set[frozenset[str]] = set()
            for word, members in _VALUE_GROUPS.get(spec.kind, ()):
                group = frozenset(v for v in spec.values if v in members)
                if len(group) < 2 or len(group) == len(spec.values) or group in seen_groups:
                    continue
                seen_groups.add(group)
                phrase = _group_phrase(spec, word)
                rule = ((spec.name, tuple(v for v in spec.values if v in group)),)
                add(f"Does the {noun} have {phrase}?", _statement(a_noun, phrase, context=False),
                    f"a photo of {a_noun} without {phrase}", spec.name, word, rule)
        parts = [spec for spec in self._specs.values() if not _is_context(spec)]
        pairs = sorted({
            (i, j, c.values[parts[i].name], c.values[parts[j].name])
            for c in classes
            for i in range(len(parts))
            for j in range(i + 1, len(parts))
            if parts[i].part != parts[j].part and parts[i].name in c.values and parts[j].name in c.values
        })
        for k in self._rng("conjunctions").permutation(len(pairs)):
            i, j, v1, v2 = pairs[k]
            phrase = f"{_phrase(parts[i], v1)} and {_phrase(parts[j], v2)}"
            add(f"Does the {noun} have {phrase}?", _statement(a_noun, phrase, context=False),
                f"a photo of {a_noun} without {phrase}", f"{parts[i].name}+{parts[j].name}",
                f"{v1}+{v2}", ((parts[i].name, (v1,)), (parts[j].name, (v2,))))
        return out

    def _contrast(self, attribute: str, allowed: Sequence[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """One clause of ``AspectQuestion.contrasts``: a caption-like statement per value of
        ``attribute`` ("a photo of a bird with red wings."), and the indices of ``allowed``."""
        spec = self._specs[attribute]
        a_noun, context = _article(self.noun), _is_context(spec)
        # With the caption's full stop: the statements read like the captions the teacher learned.
        statements = tuple(_statement(a_noun, _phrase(spec, v), context) + "." for v in spec.values)
        return statements, tuple(i for i, v in enumerate(spec.values) if v in allowed)

    def aspect_questions(
        self,
        class_names: Sequence[str],
        n_generate: int = 100,
        n_select: int = 50,
        num_images: int | None = None,  # unused: no prompt is written
        rank: bool = False,  # unused: the list is ranked already
    ) -> list[AspectQuestion]:
        """``n_select`` questions ranked by discrimination and distinctness (module docstring).

        The "generated" questions are the first ``n_generate`` candidates; when the simple ones
        (single values and groups) alone are more, a seeded sample of them, as an LLM writes
        some questions but not all.
        """
        names = validate_class_names(class_names)
        validate_question_counts(n_generate, n_select)
        pool = self.candidate_questions(names)
        simple = [q for q in pool if len(q.rule) == 1]  # single values and groups
        if len(simple) > n_generate:
            keep = np.sort(self._rng("generate", n_generate).permutation(len(simple))[:n_generate])
            pool = [simple[i] for i in keep]
        else:
            pool = pool[:n_generate]
        if len(pool) < n_select:
            raise ValueError(
                f"the {self.noun} world offers {len(pool)} distinct questions about these "
                f"{len(names)} classes (n_generate={n_generate}), fewer than n_select={n_select}; "
                f"lower n_select"
            )
        order = rank_questions(np.asarray([q.answers for q in pool], dtype=np.float64))
        return [pool[i] for i in order[:n_select]]


def rank_questions(answers: np.ndarray) -> list[int]:
    """Greedy ranking of questions by discrimination x distinctness.

    Args:
        answers: ``[Q, C]`` yes (1) / no (0) answers per question and class.

    Returns:
        The Q question indices, best first: each next index maximises
        ``H(p_q) * (1 - max_s |rho(q, s)|)`` over the selected s (ties: lower index).
    """
    answers = np.asarray(answers, dtype=np.float64)
    if answers.ndim != 2:
        raise ValueError(f"rank_questions: answers must be [Q, C], got shape {answers.shape}")
    p = answers.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(np.nan_to_num(p * np.log2(p)) + np.nan_to_num((1 - p) * np.log2(1 - p)))
    std = answers.std(axis=1)
    z = np.zeros_like(answers)
    varying = std > 0
    z[varying] = (answers[varying] - p[varying, None]) / std[varying, None]
    rho = np.abs(z @ z.T) / answers.shape[1]  # [Q, Q]; 0 for constant answer vectors
    redundancy = np.zeros(len(answers))
    chosen = np.zeros(len(answers), dtype=bool)
    order = []
    for _ in range(len(answers)):
        utility = np.where(chosen, -np.inf, entropy * (1.0 - redundancy))
        # Break exact ties (e.g. all-redundant leftovers) by entropy, then by index.
        best = max(np.flatnonzero(~chosen), key=lambda i: (round(utility[i], 12), entropy[i], -i))
        order.append(int(best))
        chosen[best] = True
        redundancy = np.maximum(redundancy, rho[:, best])
    return order


# -- writing ---------------------------------------------------------------------------------------


def _domain_noun(world: Any) -> str:
    domain = getattr(world, "domain", None)
    for owner, attr in ((domain, "noun"), (domain, "name"), (getattr(world, "config", None), "domain")):
        value = getattr(owner, attr, None) if owner is not None else None
        if isinstance(value, str) and value:
            return value
    return "object"


def _is_context(spec: Any) -> bool:
    return bool(getattr(spec, "context", False))


def _statement(a_noun: str, phrase: str, context: bool) -> str:
    """ "a photo of a bird with red wings" (a part), "a photo of a bird in a forest" (context):
    the affirmative statement of a question and, with a full stop, a closed choice's statement."""
    return f"a photo of {a_noun} {phrase}" if context else f"a photo of {a_noun} with {phrase}"


def _phrase(spec: Any, value: str) -> str:
    return " ".join(str(spec.phrase(value)).split())


def _group_phrase(spec: Any, word: str) -> str:
    """ "dark wings", "a patterned body": the world's phrase rule with a group word."""
    plural = getattr(spec, "plural", str(spec.part).endswith("s"))
    return f"{word} {spec.part}" if plural or spec.kind == "count" else f"{_article(word)} {spec.part}"


def _article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


def _bare(phrase: str) -> str:
    """ "a striped body" -> "striped body" (for "its ..." and compact lists)."""
    for det in ("a ", "an ", "the "):
        if phrase.lower().startswith(det):
            return phrase[len(det):]
    return phrase


def _join(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _render_a(name, noun, parts, context, compact, wording) -> str:
    """Encyclopedic: "The X is a bird with A, B and C. It also has D and E. It is often seen ..." """
    if compact:
        return f"{name}: " + ", ".join(_bare(f.phrase) for f in parts) + "."
    sentences = [f"The {name} is {_article(noun)} with {_join([f.phrase for f in parts[:3]])}."]
    if parts[3:]:
        sentences.append(f"It also has {_join([f.phrase for f in parts[3:]])}.")
    if context:
        sentences.append(f"It is often seen {' '.join(f.phrase for f in context)}.")
    return " ".join(sentences)


def _render_b(name, noun, parts, context, compact, wording) -> str:
    """Field guide: context first, then one short sentence per part, most distinctive first."""
    if compact:
        return f"{name}, {noun} with " + _join([_bare(f.phrase) for f in parts]) + "."
    where = " ".join(f.phrase for f in context)
    lead = f"{_article(noun).capitalize()} usually found {where}, the {name} shows" if where else f"The {name} shows"
    sentences = [f"{lead} {_join([f.phrase for f in parts[:2]])}."]
    for i, fact in enumerate(parts[2:]):
        template = _B_PART_SENTENCES[wording[i % len(wording)]]
        sentences.append(template.format(p=fact.phrase, its=f"its {_bare(fact.phrase)}"))
    return " ".join(sentences)


def _add_emphasis(text: str, top: _Fact, style: str, max_words: int) -> str:
    """More detail when words remain: restate the most distinctive attribute as the key mark."""
    bare = _bare(top.phrase)
    if style == "a":
        verb = "are" if bare.endswith("s") else "is"  # "red wings are", "a striped body is"
        sentence = f"Its {bare} {verb} its most striking feature."
    else:
        sentence = f"Best field mark: {bare}."
    return f"{text} {sentence}" if count_words(text) + count_words(sentence) <= max_words else text
