"""Captions: the text of an object from its attribute values (:func:`caption`), canonical or varied."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from fgkd.data.world.domains import DOMAINS, DomainSpec, _article


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
