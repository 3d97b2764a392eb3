"""MaKD's aspect targets: P(yes) per image and aspect question, from a named scorer, cached.

MaKD (section 3.2) distils q_i = softmax([z_{y_i}, z_{n_i}])_0, a multimodal LLM's probability of
answering "yes" to aspect question i about the image, into the aspect logits y_hat_{C+i} with BCE.
Every scorer here returns that matrix::

    scorer = get_scorer("vlm", model_id="llava-hf/llava-1.5-7b-hf")   # or "clip", "oracle"
    q = scorer.score(images, questions)   # np.ndarray [N, Q], float in (0, 1)
    q = cached_scores(scorer, dataset, questions, dataset_id="world:bird", split="train")
    s = cached_zero_shot_scores(scorer, dataset, class_names, dataset_id=..., split=..., noun="bird")  # vlm: [N, C]

Backends:
    vlm     any transformers image-text-to-text model (``fgkd.teachers.vlm``): MaKD's method.
    clip    a CLIP teacher: zero-shot over the aspect's closed choices when the question lists them
            (template questions), else an affirmative vs a negative statement (``fgkd.teachers.clip``).
    oracle  ground truth of the procedural world plus controlled noise: for ablations and tests
            only, NOT a model.

``images`` is a list of PIL images or a dataset of ``(image, target)`` items; ``questions`` are
``fgkd.llm.AspectQuestion`` objects (anything with ``.text``) or plain strings. Each scorer has a
``name`` and a JSON ``provenance`` dict (model id, dtype, prompt...) that keys the cache.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from fgkd.io import atomic_savez, atomic_write_json, stable_hash
from fgkd.paths import cache_dir

CACHE_KIND = "aspects"
CACHE_FORMAT = 1  # bump when the stored layout or the meaning of cached scores changes


@runtime_checkable
class AspectScorer(Protocol):
    """What every backend provides."""

    name: str

    @property
    def provenance(self) -> dict[str, Any]: ...

    def score(self, images: Any, questions: Sequence[Any]) -> Any: ...


# --------------------------------------------------------------------------------------------
# Registry


def _vlm(**options: Any) -> AspectScorer:
    if "model_id" not in options:
        raise ValueError(
            "the 'vlm' scorer needs model_id=<Hugging Face id or local folder> of an image-text-to-text "
            "model, e.g. 'llava-hf/llava-1.5-7b-hf', 'OpenGVLab/InternVL3-8B-hf' or "
            "'Qwen/Qwen2-VL-7B-Instruct' (MaKD used InternVL2-8B)"
        )
    from fgkd.teachers.vlm import VlmAspectScorer

    return VlmAspectScorer(**options)


def _clip(**options: Any) -> AspectScorer:
    # Resolved on use: the CLIP teacher module is optional for the other backends.
    try:
        module = importlib.import_module("fgkd.teachers.clip")
        cls = module.ClipAspectScorer
    except ModuleNotFoundError as exc:
        if exc.name != "fgkd.teachers.clip":
            raise
        raise ImportError(
            "the 'clip' aspect scorer lives in fgkd.teachers.clip (ClipAspectScorer), which this "
            "installation does not have; use get_scorer('vlm', ...) or get_scorer('oracle')"
        ) from None
    except AttributeError:
        raise ImportError(
            "fgkd.teachers.clip has no ClipAspectScorer; the 'clip' aspect scorer needs it"
        ) from None
    return cls(**options)


def _oracle(**options: Any) -> AspectScorer:
    return OracleAspectScorer(**options)


_SCORERS: dict[str, Callable[..., AspectScorer]] = {"vlm": _vlm, "clip": _clip, "oracle": _oracle}


def list_scorers() -> list[str]:
    return sorted(_SCORERS)


def get_scorer(name: str, **options: Any) -> AspectScorer:
    """Build the aspect scorer ``name`` (``vlm``, ``clip`` or ``oracle``) with its options."""
    try:
        factory = _SCORERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown aspect scorer {name!r}; choose one of {list_scorers()}") from None
    return factory(**options)


# --------------------------------------------------------------------------------------------
# Oracle


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


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


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
        z = _logit(np.clip(g, cfg.eps, 1.0 - cfg.eps))
        if cfg.noise > 0:
            for i, question in enumerate(questions):
                key = int(stable_hash(_question_record(question)), 16)
                z[:, i] += cfg.noise * np.random.default_rng([cfg.seed, key]).standard_normal(len(g))
        return _sigmoid(z)


# --------------------------------------------------------------------------------------------
# Cache


def _question_record(question: Any) -> dict[str, Any]:
    if isinstance(question, str):
        return {"text": question}
    if hasattr(question, "to_dict"):
        return question.to_dict()
    if dataclasses.is_dataclass(question):
        return dataclasses.asdict(question)
    return {"text": question.text}


def as_scores(scores: Any, shape: tuple[int, int]) -> np.ndarray:
    """A scorer's output as a float64 ``[N, Q]`` numpy array (torch tensors are moved to CPU)."""
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != shape:
        raise ValueError(f"scorer returned shape {scores.shape}, expected {shape}")
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError("scorer returned values outside [0, 1] or non-finite; not probabilities")
    return scores


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "dataset"


def cache_paths(
    scorer: AspectScorer, num_images: int, items: Sequence[dict[str, Any]], *, dataset_id: str, split: str, what: str
) -> tuple[Path, Path, dict[str, Any]]:
    """``(scores .npz, provenance .json, key record)`` of one cached score matrix.

    ``items`` describe the columns (question records, or class names); ``what`` names the matrix.
    """
    record = {
        "format": CACHE_FORMAT,
        "what": what,
        "dataset_id": dataset_id,
        "split": split,
        "num_images": int(num_images),
        "scorer": scorer.provenance,
        "columns": list(items),
    }
    stem = f"{_safe(dataset_id)}-{_safe(split)}-{what}-{stable_hash(record)}"
    folder = cache_dir(CACHE_KIND)
    return folder / f"{stem}.npz", folder / f"{stem}.json", record


def _cached(
    compute: Callable[[], np.ndarray], paths: tuple[Path, Path, dict[str, Any]], shape: tuple[int, int]
) -> np.ndarray:
    npz, meta, record = paths
    if npz.exists() and meta.exists():
        stored = json.loads(meta.read_text())
        # The full key is compared, not just the hash in the name, so a collision or a hand-edited
        # file leads to a recompute rather than to wrong targets.
        if stored.get("key") == json.loads(json.dumps(record, sort_keys=True, default=str)):
            with np.load(npz) as data:
                scores = data["scores"]
            if scores.shape == shape:
                return scores
    scores = compute()
    atomic_savez(npz, scores=scores)
    # Written after the arrays, so a provenance file always has its scores beside it.
    atomic_write_json(meta, {"key": record, "shape": list(shape), "file": npz.name})
    return scores


def _check_key(dataset_id: str, split: str) -> None:
    if not isinstance(dataset_id, str) or not dataset_id or not isinstance(split, str) or not split:
        raise ValueError(f"give a dataset_id and a split (they key the cache), got {dataset_id!r}, {split!r}")


def cached_scores(
    scorer: AspectScorer, dataset: Any, questions: Sequence[Any], *, dataset_id: str, split: str, **score_options: Any
) -> np.ndarray:
    """``scorer.score(dataset, questions)`` as ``[N, Q]`` float64, cached under ``cache_dir("aspects")``.

    The key is the dataset id, split and size, the scorer's provenance and the questions; the key
    (provenance included) is stored as JSON next to the arrays. ``score_options`` (batching,
    progress...) must not change the scores: they are not part of the key.
    """
    _check_key(dataset_id, split)
    if len(questions) == 0:
        raise ValueError("no aspect questions given")
    items = [_question_record(q) for q in questions]
    paths = cache_paths(scorer, len(dataset), items, dataset_id=dataset_id, split=split, what="aspects")
    shape = (len(dataset), len(questions))
    return _cached(lambda: as_scores(scorer.score(dataset, questions, **score_options), shape), paths, shape)


def cached_zero_shot_scores(
    scorer: Any,
    dataset: Any,
    class_names: Sequence[str],
    *,
    dataset_id: str,
    split: str,
    noun: str = "object",
    reduction: str = "mean",
    **run_options: Any,
) -> np.ndarray:
    """``scorer.zero_shot_class_scores(dataset, class_names, noun, reduction)`` ``[N, C]``, cached like
    :func:`cached_scores` (MaKD's zero-shot "MLLM" row and its KD extension, section 5.1)."""
    if not hasattr(scorer, "zero_shot_class_scores"):
        raise ValueError(f"the {scorer.name!r} scorer has no zero-shot classification; use the 'vlm' scorer")
    _check_key(dataset_id, split)
    items = [{"noun": noun, "reduction": reduction}] + [{"class": str(c)} for c in class_names]
    paths = cache_paths(scorer, len(dataset), items, dataset_id=dataset_id, split=split, what="zeroshot")
    shape = (len(dataset), len(class_names))

    def compute() -> np.ndarray:
        scores = scorer.zero_shot_class_scores(dataset, class_names, noun=noun, reduction=reduction, **run_options)
        scores = np.asarray(scores, dtype=np.float64)  # log-likelihoods, not probabilities
        if scores.shape != shape:
            raise ValueError(f"zero-shot scores have shape {scores.shape}, expected {shape}")
        return scores

    return _cached(compute, paths, shape)
