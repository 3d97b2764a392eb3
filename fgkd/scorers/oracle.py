"""The oracle aspect scorer: the procedural world's ground truth plus controlled noise.

For ablations and tests only: it is NOT a model and does not look at the images; it reads the
world dataset's per-image attributes. ``get_scorer("oracle", noise=..., seed=..., eps=...)`` builds
it (:mod:`fgkd.scorers`)::

    g = ground_truth(dataset, questions)                        # [N, Q] in {0, 1}
    q = OracleAspectScorer(noise=1.0).score(dataset, questions)  # [N, Q] in (0, 1)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fgkd.io import stable_hash
from fgkd.scorers import logit, sigmoid
from fgkd.scorers.cache import question_record


@dataclass(frozen=True)
class OracleConfig:
    """Settings of the oracle scorer.

    Args:
        noise: standard deviation sigma of the Gaussian noise added in logit space (0 = exact).
        seed: seed of the noise.
        eps: ground truth g in {0, 1} is clipped to [eps, 1 - eps] before the logit, so q stays in
            (0, 1) and noise has a finite logit to perturb.
    """

    noise: float = 0.0
    seed: int = 0
    eps: float = 1e-3

    def __post_init__(self) -> None:
        if not (isinstance(self.noise, (int, float)) and math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"OracleConfig.noise must be a finite number >= 0, got {self.noise!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"OracleConfig.seed must be an int, got {self.seed!r}")
        if not (isinstance(self.eps, (int, float)) and 0 < self.eps < 0.5):
            raise ValueError(f"OracleConfig.eps must be in (0, 0.5), got {self.eps!r}")


def _world_attributes(dataset: Any) -> tuple[np.ndarray, list[Any]]:
    """``(attributes [N, A] value indices, attribute specs)`` of a world dataset or a Subset of one."""
    indices = None
    base = dataset
    while not hasattr(base, "attributes") and hasattr(base, "dataset") and hasattr(base, "indices"):
        sub = np.asarray(base.indices)
        indices = sub if indices is None else sub[indices]
        base = base.dataset
    world = getattr(base, "world", None)
    if not hasattr(base, "attributes") or world is None:
        raise TypeError(
            f"the oracle scorer reads ground truth from a world dataset (fgkd.data.get_dataset('world:bird', "
            f"...), or a Subset of one); got {type(dataset).__name__}, which has no .attributes/.world. "
            "Real datasets have no per-image aspect ground truth: use the 'vlm' or 'clip' scorer"
        )
    attributes = np.asarray(base.attributes)
    specs = list(world.domain.attributes)
    if attributes.ndim != 2 or attributes.shape[1] != len(specs):
        raise ValueError(
            f"world dataset attributes have shape {attributes.shape}, expected [N, {len(specs)}] "
            "(one column per world.domain.attributes entry)"
        )
    return (attributes if indices is None else attributes[indices]), specs


def _rule(index: int, question: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The question's ground truth as clauses (attribute, allowed values): its ``rule``, or else
    ``attribute == value`` (``"+"``-joined names and values make a conjunction)."""
    rule = getattr(question, "rule", None)
    if rule is not None:
        return tuple((str(attr), tuple(allowed)) for attr, allowed in rule)
    attribute, value = getattr(question, "attribute", None), getattr(question, "value", None)
    if attribute is None or value is None:
        raise ValueError(
            f"the oracle needs each question's world ground truth (rule, or attribute and value); "
            f"question {index} ({getattr(question, 'text', question)!r}) has none. Use questions from "
            "the template LLM backend on a world dataset"
        )
    attributes, values = str(attribute).split("+"), str(value).split("+")
    if len(attributes) != len(values):
        raise ValueError(f"question {index}: attribute {attribute!r} and value {value!r} do not pair up")
    return tuple((a, (v,)) for a, v in zip(attributes, values, strict=True))


def ground_truth(dataset: Any, questions: Sequence[Any]) -> np.ndarray:
    """g[n, i] = 1 if image n satisfies question i's rule (every clause's attribute takes one of
    its allowed values), else 0. Shape [N, Q], float64.

    The rule is the question's ``rule`` (template LLM backend) or ``attribute == value``; the
    image's values are the world dataset's per-image ``attributes`` (context attributes vary per
    image, so this is finer than the per-class ``answers``).
    """
    from fgkd.llm.questions import AspectQuestion, answers_from_indices

    attributes, specs = _world_attributes(dataset)
    by_name = {spec.name: spec for spec in specs}
    normalised = []
    for i, question in enumerate(questions):
        rule = _rule(i, question)
        for attr, allowed in rule:
            if attr not in by_name:
                raise ValueError(f"question {i}: attribute {attr!r} is not one of the world's {sorted(by_name)}")
            bad = [v for v in allowed if v not in by_name[attr].values]
            if bad:
                raise ValueError(f"question {i}: {bad} not values of {attr!r} ({list(by_name[attr].values)})")
        normalised.append(AspectQuestion(text=getattr(question, "text", str(question)), rule=rule))
    return answers_from_indices(normalised, specs, attributes).astype(np.float64)


class OracleAspectScorer:
    """Ground-truth P(yes) for the procedural world, with controlled noise.

    For ablations and tests only: it is NOT a model and does not look at the images; it reads the
    world's per-image attributes. With g in {0, 1} from :func:`ground_truth`::

        q[n, i] = sigmoid(logit(clip(g[n, i], eps, 1 - eps)) + noise * e[n, i]),  e ~ N(0, 1)

    The noise of question i is drawn from a generator seeded by (seed, hash of the question), so a
    question's scores do not depend on which other questions are asked. Deterministic.
    """

    name = "oracle"

    def __init__(self, noise: float = 0.0, seed: int = 0, eps: float = 1e-3):
        self.config = OracleConfig(noise=noise, seed=seed, eps=eps)

    @property
    def provenance(self) -> dict[str, Any]:
        # Keys the score cache (fgkd.scorers.cache) and the hash of every run scored by the oracle:
        # keep these strings as they are (they name no module or class, so the move from
        # fgkd.teachers.aspects left them unchanged).
        return {
            "backend": "oracle",
            "note": "world ground truth, not a model",
            "rule": "sigmoid(logit(clip(g, eps, 1 - eps)) + noise * N(0, 1))",
            **dataclasses.asdict(self.config),
        }

    def score(self, images: Any, questions: Sequence[Any]) -> np.ndarray:
        """``[N, Q]`` float64 in (0, 1); ``images`` must be a world dataset (or a Subset of one)."""
        if len(questions) == 0:
            raise ValueError("no aspect questions given")
        g = ground_truth(images, questions)
        cfg = self.config
        z = logit(g, eps=cfg.eps)
        if cfg.noise > 0:
            for i, question in enumerate(questions):
                key = int(stable_hash(question_record(question)), 16)
                z[:, i] += cfg.noise * np.random.default_rng([cfg.seed, key]).standard_normal(len(g))
        return sigmoid(z)
