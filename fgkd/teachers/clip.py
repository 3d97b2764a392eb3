"""The frozen CLIP teacher and what LEAD and MaKD read from it.

LEAD (supplementary, section 11, and its public code) scores an image against one text prototype
per class:

    P_c = normalise(g(description_c))                        class prototypes, [C, d]
    p_t = softmax(normalise(f(x)) . P^T / T),  T = 0.02      teacher distribution, [N, C]
    H   = -sum_c p_t,c log p_t,c / log C                     normalised entropy in [0, 1]

fgkd's MaKD variant uses CLIP as the "multimodal LLM": P(yes) for an aspect question is a softmax
over the image's similarity to an affirmative and a negative statement (:class:`ClipAspectScorer`).

:class:`ClipTeacher` wraps any open_clip model (pretrained ``ViT-B-16/openai`` or an embedded
teacher trained by fgkd); it is frozen: eval mode, ``requires_grad=False``, every call under
``torch.no_grad``. Build one with :func:`fgkd.teachers.get_teacher`.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

logger = logging.getLogger(__name__)

# LEAD-pp's teacher temperature: p_t = softmax(f_t . P^T / 0.02).
LEAD_TEMPERATURE = 0.02

CONFIG_DIR = Path(__file__).parent / "configs"


@functools.cache
def _shipped_configs() -> dict[str, dict[str, Any]]:
    paths = sorted(CONFIG_DIR.glob("*.json"))
    if not paths:
        raise FileNotFoundError(
            f"no embedded teacher configs in {CONFIG_DIR}: the package data is missing; reinstall "
            "fgkd so that fgkd/teachers/configs/*.json is included"
        )
    return {p.stem: json.loads(p.read_text()) for p in paths}


def embedded_arch_names() -> list[str]:
    """Names of the shipped embedded architectures (``fgkd/teachers/configs/*.json``)."""
    return sorted(_shipped_configs())


def embedded_model_config(name: str) -> dict[str, Any]:
    """The open_clip model config of a shipped embedded architecture: the JSON file as open_clip
    reads it (``open_clip.get_model_config`` after :func:`register_embedded_configs` returns the
    same dict).

    Read directly because importing open_clip takes ~6 s (its CoCa model pulls in transformers'
    generation code), and every notebook kernel hashes run configs, which name teachers, without
    otherwise needing open_clip when the runs are cached.
    """
    return copy.deepcopy(_shipped_configs()[name])


def register_embedded_configs() -> list[str]:
    """Add fgkd's embedded model configs (``fgkd/teachers/configs/*.json``) to open_clip's registry.

    Returns the registered names. Idempotent: a second call does not rescan.
    """
    import open_clip

    names = embedded_arch_names()
    if not set(names) <= set(open_clip.list_models()):
        open_clip.add_model_config(CONFIG_DIR)
    return names


def _open_clip_version() -> str:
    import open_clip

    return open_clip.__version__


@contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face Hub in offline mode for the block: a cache miss raises instead of downloading.

    huggingface_hub reads ``HF_HUB_OFFLINE`` once at import, so its constant is set as well as the
    environment (for transformers and anything imported inside the block); both are restored.
    """
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved_env = {k: os.environ.get(k) for k in keys}
    try:
        from huggingface_hub import constants as hub_constants
    except ImportError:  # open_clip works without the hub; then nothing can be fetched anyway
        hub_constants = None
    saved_const = getattr(hub_constants, "HF_HUB_OFFLINE", None)
    os.environ.update({k: "1" for k in keys})
    if hub_constants is not None:
        hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if hub_constants is not None:
            hub_constants.HF_HUB_OFFLINE = saved_const


# --------------------------------------------------------------------------------------------
# Pure functions on embeddings
# --------------------------------------------------------------------------------------------


def probs(image_emb: torch.Tensor, prototypes: torch.Tensor, temperature: float = LEAD_TEMPERATURE) -> torch.Tensor:
    """Teacher distribution over classes, ``softmax(normalise(f) . normalise(P)^T / T)``.

    Args:
        image_emb: ``[N, d]`` image embeddings f (normalised here; idempotent if already).
        prototypes: ``[C, d]`` class prototypes P (normalised text embeddings).
        temperature: T; LEAD uses 0.02.

    Returns:
        ``[N, C]`` rows summing to 1.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r} (LEAD uses {LEAD_TEMPERATURE})")
    if image_emb.ndim != 2 or prototypes.ndim != 2 or image_emb.shape[1] != prototypes.shape[1]:
        raise ValueError(
            f"probs: expected image_emb [N, d] and prototypes [C, d] with the same d, got "
            f"{tuple(image_emb.shape)} and {tuple(prototypes.shape)}"
        )
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(prototypes, dim=-1).T / temperature  # N x C
    return logits.softmax(dim=-1)


def normalised_entropy(p: torch.Tensor) -> torch.Tensor:
    """``H(p) = -sum_c p_c log p_c / log C`` per row: 0 for one-hot, 1 for uniform. ``[N, C] -> [N]``."""
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"normalised_entropy: expected [N, C] with C >= 2, got {tuple(p.shape)}")
    # xlogy gives 0 log 0 = 0 where a probability underflows to exactly zero.
    return -torch.special.xlogy(p, p).sum(dim=-1) / float(np.log(p.shape[1]))


def calibration_stats(p: torch.Tensor, labels: torch.Tensor | np.ndarray | Sequence[int]) -> dict[str, float]:
    """Zero-shot top-1 and mean normalised entropy on right vs wrong predictions.

    A teacher worth distilling from is uncertain where it is wrong: ``entropy_wrong > entropy_right``
    is what LEAD's entropy weights (w_kd = 1 - H^2) rely on. Means over an empty group are NaN.
    """
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"calibration_stats: {p.shape[0]} rows of probabilities but labels {tuple(labels.shape)}")
    right = p.argmax(dim=-1) == labels
    h = normalised_entropy(p)
    nan = float("nan")
    return {
        "top1": right.float().mean().item(),
        "entropy_right": h[right].mean().item() if right.any() else nan,
        "entropy_wrong": h[~right].mean().item() if (~right).any() else nan,
        "n": int(labels.numel()),
        "num_classes": int(p.shape[1]),
    }


# --------------------------------------------------------------------------------------------
# The teacher
# --------------------------------------------------------------------------------------------

ACCEPTED_IMAGES = (
    "a float tensor [N, 3, S, S] already passed through teacher.preprocess, uint8 pixels "
    "[N, H, W, 3] (numpy or torch), a PIL image, a list of PIL images / uint8 [H, W, 3] arrays "
    "/ preprocessed [3, S, S] tensors, or a dataset of (image, target) items"
)


def _is_dataset(obj: Any) -> bool:
    """A map-style dataset of ``(image, target)`` items (fgkd's dataset contract), not a batch."""
    if isinstance(obj, (np.ndarray, torch.Tensor, list, tuple, Image.Image, str, bytes)):
        return False
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__")


class ClipTeacher:
    """A frozen open_clip model with its tokenizer and preprocess transform.

    Args:
        model: an open_clip ``CLIP`` / ``CustomTextCLIP`` (any module with ``encode_image``,
            ``encode_text`` and ``logit_scale``); frozen and put in eval mode here.
        tokenizer: open_clip tokenizer, ``tokenizer(list[str]) -> LongTensor [M, L]``.
        preprocess: open_clip's validation transform, ``PIL.Image -> FloatTensor [3, S, S]``.
        name: the name it was built from (``"ViT-B-16/openai"``, ``"embedded-M"``).
        provenance: where the weights come from (recorded next to every cached output).
        device: where the model runs; inputs are moved there, outputs come back on it.
        batch_size: images / texts per forward pass.
        temperature: default T of :meth:`probs` (LEAD: 0.02).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable[..., torch.Tensor],
        preprocess: Callable[[Image.Image], torch.Tensor],
        *,
        name: str,
        provenance: dict[str, Any],
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        temperature: float = LEAD_TEMPERATURE,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.name = name
        self.batch_size = batch_size
        self.temperature = temperature
        size = getattr(model.visual, "image_size", None)
        self.image_size: int = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length: int = int(getattr(tokenizer, "context_length", 0) or getattr(model, "context_length", 0))
        out_dim = getattr(model.visual, "output_dim", None)
        self.embed_dim: int = int(out_dim) if out_dim else int(self.encode_texts(["a photo"]).shape[1])
        self.provenance = {
            "name": name,
            "embed_dim": self.embed_dim,
            "image_size": self.image_size,
            "context_length": self.context_length,
            "logit_scale": self.logit_scale,
            "temperature": temperature,
            "open_clip_version": _open_clip_version(),
            **provenance,
        }

    def __repr__(self) -> str:
        return f"ClipTeacher({self.name!r}, d={self.embed_dim}, image_size={self.image_size})"

    @property
    def logit_scale(self) -> float:
        """CLIP's learned inverse temperature exp(t) (100 for OpenAI's models)."""
        return float(self.model.logit_scale.detach().exp().item())

    @property
    def key(self) -> str:
        """A stable identifier of these weights, for cache keys of outputs computed from them."""
        from fgkd.io import stable_hash

        return f"{self.name.replace('/', '_')}-{stable_hash(self.provenance.get('weights', self.provenance))}"

    def to(self, device: str | torch.device) -> "ClipTeacher":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    # -- inputs -------------------------------------------------------------------------------

    def _model_input(self, images: Any) -> torch.Tensor:
        """One chunk of images as the model's input ``[n, 3, S, S]`` (see :data:`ACCEPTED_IMAGES`)."""
        if isinstance(images, torch.Tensor) and images.is_floating_point():
            x = images
        elif isinstance(images, (np.ndarray, torch.Tensor)):
            arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
            if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
                raise ValueError(
                    f"images: got an array of dtype {arr.dtype} and shape {arr.shape}; expected "
                    f"{ACCEPTED_IMAGES}"
                )
            x = torch.stack([self.preprocess(Image.fromarray(a)) for a in arr])
        elif isinstance(images, (list, tuple)):
            items = []
            for im in images:
                if isinstance(im, Image.Image):
                    items.append(self.preprocess(im.convert("RGB")))
                elif isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.ndim == 3:
                    items.append(self.preprocess(Image.fromarray(im)))
                elif isinstance(im, torch.Tensor) and im.is_floating_point() and im.ndim == 3:
                    items.append(im)
                else:
                    raise ValueError(f"images: cannot use a list item of type {type(im).__name__}; expected {ACCEPTED_IMAGES}")
            if not items:
                raise ValueError("images: empty list")
            x = torch.stack(items)
        else:
            raise ValueError(f"images: cannot use {type(images).__name__}; expected {ACCEPTED_IMAGES}")
        expected = (3, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"images: model input has shape {tuple(x.shape)} but {self.name} expects [N, *{expected}]; "
                f"pass raw images (uint8 / PIL) or transform them with teacher.preprocess"
            )
        return x.to(self.device, torch.float32)

    @staticmethod
    def _chunks(images: Any, size: int) -> Iterator[Any]:
        """Slices of at most ``size`` images; a single image is a batch of one."""
        if _is_dataset(images):
            for start in range(0, len(images), size):
                yield [images[i][0] for i in range(start, min(start + size, len(images)))]
            return
        if isinstance(images, Image.Image):
            images = [images]
        elif isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 3:
            images = images[None]
        for start in range(0, len(images), size):
            yield images[start : start + size]

    # -- encoders -------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_images(self, images: Any, batch_size: int | None = None) -> torch.Tensor:
        """Normalised image embeddings ``[N, d]`` (see :data:`ACCEPTED_IMAGES` for ``images``)."""
        out = [
            self.model.encode_image(self._model_input(chunk), normalize=True)
            for chunk in self._chunks(images, batch_size or self.batch_size)
        ]
        if not out:
            raise ValueError("encode_images: no images given")
        return torch.cat(out)

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many texts are longer than the context length (the tokenizer cuts them)."""
        import open_clip

        tok = self.tokenizer
        if not isinstance(tok, open_clip.SimpleTokenizer):
            return 0
        # +2: the start and end tokens.
        return sum(len(tok.encode(t)) + 2 > self.context_length for t in texts)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None) -> torch.Tensor:
        """Normalised text embeddings ``[M, d]``; texts over the context length are cut (with a warning)."""
        if isinstance(texts, str):
            raise ValueError(f"encode_texts takes a list of strings, got the single string {texts!r}; wrap it in a list")
        texts = list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("encode_texts: expected a non-empty list of strings")
        # Cut texts are a fact of the protocol (LEAD's 70 words often exceed 77 tokens), not a fault:
        # the reports state their share (fgkd.experiments.lead.truncated_share), so no warning here.
        cut = self.truncated_texts = self.count_truncated(texts)
        if cut:
            logger.info("%d of %d texts are longer than %s's context of %d tokens and were cut at the end",
                        cut, len(texts), self.name, self.context_length)
        bs = batch_size or self.batch_size
        out = [
            self.model.encode_text(self.tokenizer(texts[i : i + bs]).to(self.device), normalize=True)
            for i in range(0, len(texts), bs)
        ]
        return torch.cat(out)

    def prototypes(self, descriptions: Sequence[str]) -> torch.Tensor:
        """LEAD's class prototypes P: normalised text embeddings of one description per class, ``[C, d]``."""
        return self.encode_texts(descriptions)

    # -- LEAD's teacher distribution ------------------------------------------------------------

    def probs(self, image_emb: torch.Tensor, prototypes: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """``softmax(normalise(f) . P^T / T)``, ``[N, C]``; T defaults to :attr:`temperature` (0.02)."""
        return probs(image_emb, prototypes, self.temperature if temperature is None else temperature)

    @staticmethod
    def normalised_entropy(p: torch.Tensor) -> torch.Tensor:
        """``-sum p log p / log C`` per row, ``[N, C] -> [N]``."""
        return normalised_entropy(p)

    def zero_shot(
        self, images: Any, labels: Sequence[int] | np.ndarray | torch.Tensor, descriptions: Sequence[str],
        temperature: float | None = None,
    ) -> dict[str, float]:
        """Zero-shot classification of ``images`` against one description per class: :func:`calibration_stats`."""
        p = self.probs(self.encode_images(images), self.prototypes(descriptions), temperature)
        return calibration_stats(p, labels)

    def zero_shot_top1(
        self, images: Any, labels: Sequence[int] | np.ndarray | torch.Tensor, descriptions: Sequence[str]
    ) -> float:
        """Fraction of images whose most similar class description is their own class's."""
        return self.zero_shot(images, labels, descriptions)["top1"]


# --------------------------------------------------------------------------------------------
# MaKD's aspect targets from CLIP
# --------------------------------------------------------------------------------------------


DEFAULT_SCORER_TEACHER = "embedded-L"  # ClipAspectScorer's teacher when none is named


# Bumped when ClipAspectScorer's scoring rule changes: it keys the aspect-score cache (provenance)
# and the hash of every MaKD run scored by it, so no run keeps targets from an older rule.
# 1: affirmative vs negative statement; 2: closed choices (AspectQuestion.contrasts) when present.
CLIP_SCORER_VERSION = 2


class ClipAspectScorer:
    """P(yes) per image and aspect question from a CLIP teacher, fgkd's stand-in for MaKD's MLLM.

    A question with ``contrasts`` (closed choices: per clause c, statements t_c1..t_cK, one per
    answer the aspect can take, and the set Y_c of those meaning "yes") is scored as a zero-shot
    classification over its answers, a product over its clauses::

        q_i = prod_c sum_{k in Y_c} softmax_k(s * cos(f, g(t_ck)))

    Otherwise, with affirmative statement a_i and negative statement n_i::

        q_i = softmax(s * [cos(f, g(a_i)), cos(f, g(n_i))])[0]

    f is the image embedding, g the text encoder and s = exp(t) CLIP's learned logit scale. The
    closed-choice form exists because a contrastive text encoder does not read negation: on
    world:bird the embedded-M teacher's affirmative-vs-negative P(yes) had a mean per-question ROC
    AUC of 0.47 against the world's ground truth (worse than chance), the closed-choice form 0.72.

    Args:
        teacher: a :class:`ClipTeacher`, or a name for :func:`fgkd.teachers.get_teacher`.
        batch_size: images per forward pass (None: the teacher's).
        **teacher_options: passed to ``get_teacher`` when ``teacher`` is a name.
    """

    name = "clip"

    def __init__(self, teacher: ClipTeacher | str = DEFAULT_SCORER_TEACHER, *, batch_size: int | None = None, **teacher_options: Any) -> None:
        if isinstance(teacher, str):
            from fgkd.teachers import get_teacher

            teacher = get_teacher(teacher, **teacher_options)
        elif teacher_options:
            raise ValueError(
                f"ClipAspectScorer: options {sorted(teacher_options)} only apply when teacher is a name, "
                f"but a built teacher ({teacher!r}) was given"
            )
        if not isinstance(teacher, ClipTeacher):
            raise ValueError(f"ClipAspectScorer: teacher must be a ClipTeacher or a name, got {type(teacher).__name__}")
        self.teacher = teacher
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"ClipAspectScorer({self.teacher!r})"

    @property
    def provenance(self) -> dict[str, Any]:
        """What determines the scores (stable across runs: keys the aspect-score cache)."""
        return {
            "scorer": self.name,
            "version": CLIP_SCORER_VERSION,
            "rule": "P(yes) = prod over contrast clauses of the yes-statements' softmax(logit_scale * cos(img, "
                    "statements)) mass; questions without contrasts: softmax(logit_scale * [cos(img, affirmative), "
                    "cos(img, negative)])[0]",
            "teacher": self.teacher.name,
            "teacher_key": self.teacher.key,
            "logit_scale": round(self.teacher.logit_scale, 6),
        }

    @staticmethod
    def statements(questions: Sequence[Any]) -> tuple[list[str], list[str]]:
        """The affirmative and negative statement of each question without ``contrasts``
        (``AspectQuestion`` fields)."""
        if not questions:
            raise ValueError("ClipAspectScorer: no questions given")
        missing = [getattr(q, "text", repr(q)) for q in questions if getattr(q, "affirmative", None) is None
                   or getattr(q, "negative", None) is None]
        if missing:
            raise ValueError(
                f"ClipAspectScorer needs an affirmative and a negative statement per question; "
                f"{len(missing)} question(s) have none (no rule could rephrase them), e.g. {missing[0]!r}. "
                f"Give them statements (AspectQuestion(text, affirmative=..., negative=...)) or drop them"
            )
        return [q.affirmative for q in questions], [q.negative for q in questions]

    @torch.no_grad()
    def score(self, images: Any, questions: Sequence[Any], batch_size: int | None = None) -> torch.Tensor:
        """``[N, Q]`` float32 P(yes) in [0, 1] for N images and Q questions.

        ``images``: anything :meth:`ClipTeacher.encode_images` takes, a dataset included.
        """
        if not questions:
            raise ValueError("ClipAspectScorer: no questions given")
        paired = [q for q in questions if getattr(q, "contrasts", None) is None]
        affirmative, negative = self.statements(paired) if paired else ([], [])
        f = self.teacher.encode_images(images, batch_size=batch_size or self.batch_size)  # N x d
        # Each distinct statement is encoded once: the questions on one attribute share theirs.
        texts = sorted({t for q in questions for statements, _ in (getattr(q, "contrasts", None) or ())
                        for t in statements} | set(affirmative) | set(negative))
        sims = self.teacher.logit_scale * (f @ self.teacher.encode_texts(texts).T)  # N x T
        column = {t: j for j, t in enumerate(texts)}
        out = torch.empty(f.shape[0], len(questions), dtype=torch.float32)
        pairs = iter(zip(affirmative, negative))
        for i, q in enumerate(questions):
            contrasts = getattr(q, "contrasts", None)
            if contrasts is None:
                yes, no = next(pairs)
                out[:, i] = sims[:, [column[yes], column[no]]].softmax(dim=-1)[:, 0].float()
                continue
            p = torch.ones(f.shape[0])
            for statements, yes_idx in contrasts:
                probs = sims[:, [column[t] for t in statements]].softmax(dim=-1)
                p = p * probs[:, list(yes_idx)].sum(dim=-1).float()
            out[:, i] = p.clamp_(0.0, 1.0)  # a sum of softmax terms can round to just above 1
        return out
