"""MaKD's aspect questions: the question record, statements for CLIP, and reply parsing.

A MaKD aspect question is a yes/no question about one visual or contextual aspect ("Does the bird
have red wings?"). The MLLM's P(yes) per image and question is the target q_i of the aspect logit
y_hat_{C+i} (MaKD eq. 1 and 5). fgkd's CLIP scorer needs the question as two statements instead,
an affirmative and a negative one, and scores P(yes) = softmax over the two image-text similarities.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class AspectQuestion:
    """One yes/no aspect question.

    Attributes:
        text: the question, e.g. ``"Does the bird have red wings?"``.
        affirmative: statement for a "yes" image, e.g. ``"a photo of a bird with red wings"``;
            None when no rule could rephrase the question.
        negative: statement for a "no" image, e.g. ``"a photo of a bird without red wings"``.
        attribute: the world attribute the question asks about (``"wing_color"``); for a
            question on two attributes both names joined by ``"+"``. World only.
        value: the value (or value group, ``"dark"``) that answers "yes" (``"red"``); joined by
            ``"+"`` like ``attribute``. World only.
        answers: ground-truth answer per class (1 = yes, 0 = no), in the order of the
            ``class_names`` given to ``aspect_questions``; world only (None otherwise).
        rule: the ground truth as a conjunction of clauses ``(attribute, allowed values)``: "yes"
            iff every clause's attribute takes one of its allowed values. Lets an oracle answer
            per image (context attributes vary per image): :meth:`answer_for`. World only.
        contrasts: the question as closed choices, for a CLIP scorer: one ``(statements, yes)``
            per clause, where ``statements`` describe every answer the aspect can take ("a photo
            of a bird with red wings", "... with blue wings", ...) and ``yes`` indexes those that
            mean "yes". A contrastive model cannot read "without" (it scores "with red wings" and
            "without red wings" alike), but it can tell red wings from blue ones; None when the
            alternatives are unknown (questions from a real LLM).
    """

    text: str
    affirmative: str | None = None
    negative: str | None = None
    attribute: str | None = None
    value: str | None = None
    answers: tuple[int, ...] | None = None
    rule: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    contrasts: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError(f"AspectQuestion.text must be a non-empty string, got {self.text!r}")
        if (self.affirmative is None) != (self.negative is None):
            raise ValueError(
                f"AspectQuestion {self.text!r}: give both affirmative and negative statements or "
                f"neither (got affirmative={self.affirmative!r}, negative={self.negative!r})"
            )
        if (self.attribute is None) != (self.value is None):
            raise ValueError(
                f"AspectQuestion {self.text!r}: attribute and value go together "
                f"(got attribute={self.attribute!r}, value={self.value!r})"
            )
        if self.answers is not None:
            answers = tuple(int(a) for a in np.asarray(self.answers).ravel())
            if any(a not in (0, 1) for a in answers):
                raise ValueError(
                    f"AspectQuestion {self.text!r}: answers must be 0 (no) or 1 (yes) per class, "
                    f"got {self.answers!r}"
                )
            # Normalised to a tuple of ints so the dataclass stays hashable and comparable.
            object.__setattr__(self, "answers", answers)
        if self.rule is not None:
            rule = tuple((str(attr), tuple(str(v) for v in allowed)) for attr, allowed in self.rule)
            if not rule or any(not allowed for _, allowed in rule):
                raise ValueError(
                    f"AspectQuestion {self.text!r}: rule must be a non-empty tuple of "
                    f"(attribute, allowed values) clauses with at least one value each, got {self.rule!r}"
                )
            object.__setattr__(self, "rule", rule)
        if self.contrasts is not None:
            object.__setattr__(self, "contrasts", _normalise_contrasts(self.text, self.contrasts))

    def answer_for(self, values: Mapping[str, str]) -> int:
        """The true answer (1/0) for an object with attribute ``values`` (``{name: value}``)."""
        if self.rule is None:
            raise ValueError(f"AspectQuestion {self.text!r} has no ground-truth rule (not from the world)")
        missing = [attr for attr, _ in self.rule if attr not in values]
        if missing:
            raise KeyError(f"answer_for {self.text!r}: no value given for attribute(s) {missing}")
        return int(all(values[attr] in allowed for attr, allowed in self.rule))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``answers`` as a list); :meth:`from_dict` inverts it."""
        d = asdict(self)
        if d["answers"] is not None:
            d["answers"] = list(d["answers"])
        if d["rule"] is not None:
            d["rule"] = [[attr, list(allowed)] for attr, allowed in d["rule"]]
        if d["contrasts"] is not None:
            d["contrasts"] = [[list(statements), list(yes)] for statements, yes in d["contrasts"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AspectQuestion":
        allowed_keys = ("text", "affirmative", "negative", "attribute", "value", "answers", "rule", "contrasts")
        unknown = set(d) - set(allowed_keys)
        if unknown:
            raise ValueError(
                f"AspectQuestion.from_dict: unknown keys {sorted(unknown)}; allowed: {', '.join(allowed_keys)}"
            )
        answers, rule, contrasts = d.get("answers"), d.get("rule"), d.get("contrasts")
        return cls(
            text=d["text"],
            affirmative=d.get("affirmative"),
            negative=d.get("negative"),
            attribute=d.get("attribute"),
            value=d.get("value"),
            answers=None if answers is None else tuple(answers),
            rule=None if rule is None else tuple((attr, tuple(allowed)) for attr, allowed in rule),
            contrasts=None if contrasts is None else tuple((tuple(st), tuple(yes)) for st, yes in contrasts),
        )

    @classmethod
    def from_text(cls, text: str) -> "AspectQuestion":
        """A question without ground truth; statements derived by :func:`derive_statements`."""
        text = " ".join(text.split())
        statements = derive_statements(text)
        affirmative, negative = statements if statements is not None else (None, None)
        return cls(text=text, affirmative=affirmative, negative=negative)


def _normalise_contrasts(text: str, contrasts: Any) -> tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]:
    """``contrasts`` as tuples, checked: each clause has >= 2 distinct statements and a non-empty,
    proper subset of them as "yes" (else the clause answers nothing)."""
    out = []
    try:
        clauses = [(tuple(statements), tuple(int(i) for i in yes)) for statements, yes in contrasts]
    except (TypeError, ValueError):
        raise ValueError(
            f"AspectQuestion {text!r}: contrasts must be ((statements...), (yes indices...)) per clause, "
            f"got {contrasts!r}"
        ) from None
    for statements, yes in clauses:
        if len(statements) < 2 or len(set(statements)) != len(statements) or not all(
                isinstance(st, str) and st.strip() for st in statements):
            raise ValueError(f"AspectQuestion {text!r}: each contrast clause needs >= 2 distinct non-empty "
                             f"statements, got {statements!r}")
        if not yes or len(set(yes)) != len(yes) or len(yes) >= len(statements) or not all(
                0 <= i < len(statements) for i in yes):
            raise ValueError(f"AspectQuestion {text!r}: the yes indices {yes!r} must be a non-empty proper "
                             f"subset of range({len(statements)})")
        out.append((statements, yes))
    if not out:
        raise ValueError(f"AspectQuestion {text!r}: contrasts is empty; give None instead")
    return tuple(out)


def answer_matrix(questions: Sequence[AspectQuestion]) -> np.ndarray:
    """Ground-truth answers as a ``[C, Q]`` float32 array (class x question), for oracle targets."""
    if not questions:
        raise ValueError("answer_matrix: no questions given")
    missing = [q.text for q in questions if q.answers is None]
    if missing:
        raise ValueError(
            f"answer_matrix: {len(missing)} question(s) have no ground-truth answers (only the "
            f"template backend on the embedded world provides them), e.g. {missing[0]!r}"
        )
    lengths = {len(q.answers) for q in questions}  # type: ignore[arg-type]
    if len(lengths) != 1:
        raise ValueError(f"answer_matrix: questions answer different numbers of classes {lengths}")
    return np.asarray([q.answers for q in questions], dtype=np.float32).T


def answers_from_indices(
    questions: Sequence[AspectQuestion], attributes: Sequence[Any], indices: np.ndarray
) -> np.ndarray:
    """Per-image ground truth ``[N, Q]`` (float32 0/1) from value indices, e.g. a world split's.

    Args:
        questions: questions with a ``rule`` (template backend).
        attributes: the attribute specs of the columns of ``indices`` (each with ``.name`` and
            ``.values``), e.g. ``world.domain.attributes`` for ``WorldSplit.attributes``.
        indices: int ``[N, A]`` value index per image and attribute.
    """
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != len(attributes):
        raise ValueError(
            f"answers_from_indices: indices must be [N, {len(attributes)}] (one column per "
            f"attribute), got shape {indices.shape}"
        )
    column = {a.name: j for j, a in enumerate(attributes)}
    out = np.ones((len(indices), len(questions)), dtype=np.float32)
    for q, question in enumerate(questions):
        if question.rule is None:
            raise ValueError(f"answers_from_indices: {question.text!r} has no ground-truth rule")
        for attr, allowed in question.rule:
            if attr not in column:
                raise KeyError(f"answers_from_indices: attribute {attr!r} is not among the columns")
            spec = attributes[column[attr]]
            ok = np.isin(indices[:, column[attr]], [spec.values.index(v) for v in allowed])
            out[:, q] *= ok
    return out


# --------------------------------------------------------------------------------------------
# Statements from question text (backends without ground truth: openai, file)
# --------------------------------------------------------------------------------------------

_DET = r"(?:the|this|that|a|an|its)"
_PREPOSITIONS = (
    "in", "on", "at", "near", "by", "under", "over", "above", "below", "inside", "outside",
    "beside", "behind", "among", "around", "against", "along", "across", "within", "perched",
    "flying", "parked", "standing", "sitting", "swimming", "surrounded",
)
_HAVE = re.compile(
    rf"^(?:does|do)\s+{_DET}\s+(?P<subj>.+?)\s+(?:have|has|feature|show|display)\s+(?P<obj>.+)$",
    re.I,
)
_CAN = re.compile(rf"^(?P<modal>can|could)\s+{_DET}\s+(?P<subj>\S+)\s+(?P<rest>.+)$", re.I)
_DOES = re.compile(rf"^(?:does|do)\s+{_DET}\s+(?P<subj>\S+)\s+(?P<verb>[a-z]+)\s*(?P<rest>.*)$", re.I)
_THERE = re.compile(r"^(?:is|are)\s+there\s+(?P<obj>.+)$", re.I)
# Subject: one word, optionally a possessive ("bird's beak") or "X of the Y"; simple on purpose.
_IS = re.compile(
    rf"^(?P<verb>is|are)\s+{_DET}\s+(?P<subj>[\w-]+(?:'s\s+[\w-]+)?(?:\s+of\s+{_DET}\s+[\w-]+)?)"
    r"\s+(?P<rest>.+)$",
    re.I,
)


def _article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def derive_statements(question: str) -> tuple[str, str] | None:
    """Affirmative and negative CLIP statements for a yes/no question, or None if no rule fits.

    Rules (subject taken as the word after the determiner):

    - "Does the bird have red wings?"  -> "a photo of a bird with red wings" / "... without ..."
    - "Is the bird in a forest?"       -> "a photo of a bird in a forest" / "... not in a forest"
    - "Is the bird red?"               -> "a photo where the bird is red" / "... is not red"
    - "Is there water nearby?"         -> "a photo with water nearby" / "a photo without ..."
    - "Can the bird swim?"             -> "a photo of a bird that can swim" / "... cannot swim"
    - "Does the bird live near water?" -> "a photo of a bird that lives near water" /
                                          "a photo of a bird that does not live near water"
    """
    q = " ".join(question.split()).rstrip("?").strip()
    if m := _HAVE.match(q):
        subj, obj = m["subj"], m["obj"]
        return f"a photo of {_article(subj)} with {obj}", f"a photo of {_article(subj)} without {obj}"
    if m := _THERE.match(q):
        return f"a photo with {m['obj']}", f"a photo without {m['obj']}"
    if m := _CAN.match(q):
        subj, rest, modal = m["subj"], m["rest"], m["modal"].lower()
        neg = "cannot" if modal == "can" else "could not"
        return (
            f"a photo of {_article(subj)} that {modal} {rest}",
            f"a photo of {_article(subj)} that {neg} {rest}",
        )
    if m := _IS.match(q):
        plural = m["verb"].lower() == "are"
        subj, rest = m["subj"], m["rest"]
        if rest.split()[0].lower() in _PREPOSITIONS:
            noun = subj if plural else _article(subj)
            return f"a photo of {noun} {rest}", f"a photo of {noun} not {rest}"
        verb = "are" if plural else "is"
        return f"a photo where the {subj} {verb} {rest}", f"a photo where the {subj} {verb} not {rest}"
    if m := _DOES.match(q):
        subj, verb, rest = m["subj"], m["verb"].lower(), m["rest"]
        tail = f" {rest}" if rest else ""
        return (
            f"a photo of {_article(subj)} that {_third_person(verb)}{tail}",
            f"a photo of {_article(subj)} that does not {verb}{tail}",
        )
    return None


# --------------------------------------------------------------------------------------------
# Parsing LLM replies
# --------------------------------------------------------------------------------------------

# List markers LLMs use: "1.", "1)", "(1)", "Q1:", "Question 1:", "-", "*", "•", markdown bold.
_MARKER = re.compile(
    r"^\s*(?:[-*•·]+\s*)?(?:\*\*)?\s*(?:(?:q(?:uestion)?\s*)?\(?\d+[.):\]]?|[-*•·])\s*(?:\*\*)?\s*",
    re.I,
)


def _normalise_for_dedupe(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


_QUESTION_WORD = re.compile(
    r"\b(?:is|are|does|do|did|can|could|has|have|was|were|will|would|should)\b", re.I
)


def parse_question_list(reply: str) -> list[str]:
    """The yes/no questions in an LLM reply, in order, without list markers and duplicates.

    One question per line (numbered, bulleted, or bare); lines without a ``?`` (headers, prose)
    are skipped; text after the first ``?`` on a line (explanations) is dropped, and so is a label
    before the question ("**Wing colour:** Does the bird have red wings?"). Duplicates are detected
    case- and punctuation-insensitively and keep their first position.
    """
    questions: list[str] = []
    seen: set[str] = set()
    for line in reply.splitlines():
        if "?" not in line:
            continue
        text = _MARKER.sub("", line, count=1)
        text = text[: text.index("?") + 1]
        if ":" in text:
            # A label such as "Wing colour:" precedes the question; keep what follows it.
            tail = text.rsplit(":", 1)[1].strip(" *_`")
            if _QUESTION_WORD.match(tail):
                text = tail
        text = " ".join(text.strip(" *_`\"'“”").split()).replace(" ?", "?")
        if not _QUESTION_WORD.search(text):
            continue
        key = _normalise_for_dedupe(text)
        if key in seen:
            continue
        seen.add(key)
        questions.append(text)
    return questions


def dedupe_questions(questions: Iterable[AspectQuestion]) -> list[AspectQuestion]:
    """Questions without case/punctuation duplicates of their text, first occurrence kept."""
    out, seen = [], set()
    for q in questions:
        key = _normalise_for_dedupe(q.text)
        if key not in seen:
            seen.add(key)
            out.append(q)
    return out
