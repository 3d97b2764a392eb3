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
    oracle  ground truth of the procedural world plus controlled noise (:mod:`fgkd.scorers.oracle`):
            for ablations and tests only, NOT a model.

The vlm and clip scorers are models and live with the teachers; they are imported on first use,
so ``import fgkd.scorers`` stays light (no torch, transformers or open_clip). The score caches are
in :mod:`fgkd.scorers.cache`.

``images`` is a list of PIL images or a dataset of ``(image, target)`` items; ``questions`` are
``fgkd.llm.AspectQuestion`` objects (anything with ``.text``) or plain strings. Each scorer has a
``name`` and a JSON ``provenance`` dict (model id, dtype, prompt...) that keys the cache.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np


def logit(p: Any, eps: float = 1e-6) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]`` first, so 0 and 1 give finite logits.

    Computed as ``log(p) - log1p(-p)`` (accurate near 1); float32 in, float32 out.
    """
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def sigmoid(x: Any) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|`` (:func:`scipy.special.expit`)."""
    from scipy.special import expit  # on use: importing scipy.special costs ~0.5 s

    return expit(x)


@runtime_checkable
class AspectScorer(Protocol):
    """What every backend provides."""

    name: str

    @property
    def provenance(self) -> dict[str, Any]: ...

    def score(self, images: Any, questions: Sequence[Any]) -> Any: ...


# Below logit, sigmoid and AspectScorer: the submodules import them from this package.
from fgkd.scorers.cache import (  # noqa: E402
    CACHE_FORMAT,
    CACHE_KIND,
    as_scores,
    cache_paths,
    cached_scores,
    cached_zero_shot_scores,
    question_record,
)
from fgkd.scorers.oracle import OracleAspectScorer, OracleConfig, ground_truth  # noqa: E402

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
    from fgkd.teachers.vlm.remote import InternVLChatScorer, is_remote_internvl

    if is_remote_internvl(options["model_id"], options.get("local_files_only", True), options.get("revision")):
        return InternVLChatScorer(**options)  # InternVL2's remote code: opt-in (trust_remote_code)
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


__all__ = [
    "CACHE_FORMAT",
    "CACHE_KIND",
    "AspectScorer",
    "OracleAspectScorer",
    "OracleConfig",
    "as_scores",
    "cache_paths",
    "cached_scores",
    "cached_zero_shot_scores",
    "get_scorer",
    "ground_truth",
    "list_scorers",
    "logit",
    "question_record",
    "sigmoid",
]
