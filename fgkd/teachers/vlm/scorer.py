"""The VLM aspect scorer: P(yes) per (image, aspect question), and zero-shot class log-likelihoods.

See :mod:`fgkd.teachers.vlm` (the package docstring) for the method.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from fgkd.io import stable_hash
from fgkd.teachers.vlm.config import VlmConfig
from fgkd.teachers.embedded_vlm import embedded_provenance
from fgkd.teachers.vlm.loading import load_vlm_once
from fgkd.teachers.vlm.prefix import (
    PrefixSplitError,
    SharedPrefix,
    _common_prefix_length,
    encode_shared_prefix,
    render_prompt,
)
from fgkd.teachers.vlm.readout import yes_no_token_ids, yes_probability
from fgkd.teachers.vlm.runner import _Runner

REDUCTIONS = ("mean", "sum")


def _question_text(question: Any) -> str:
    text = question if isinstance(question, str) else getattr(question, "text", None)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"an aspect question must be a non-empty string or have a .text string, got {question!r}")
    return text.strip()


def iter_pil_images(images) -> Iterable[Any]:
    """Yield PIL images from a list of PIL images or a dataset of ``(image, target)`` items."""
    from PIL import Image

    if isinstance(images, Image.Image):
        raise TypeError("pass a list of PIL images (or a dataset), not a single image")
    is_dataset = not isinstance(images, (list, tuple)) and hasattr(images, "__getitem__")
    for index in range(len(images)):
        item = images[index]
        image = item[0] if is_dataset and isinstance(item, (tuple, list)) else item
        if not isinstance(image, Image.Image):
            raise TypeError(
                f"item {index} is a {type(image).__name__}, not a PIL image: the VLM's processor does its "
                "own resizing and normalisation, so build the dataset with transform=None"
            )
        yield image.convert("RGB")


class VlmAspectScorer:
    """P(yes) of a multimodal LLM for every (image, aspect question); see the module docstring.

    ``score(images, questions) -> np.ndarray [N, Q]`` in (0, 1) and
    ``zero_shot_class_scores(images, class_names) -> np.ndarray [N, C]`` (MaKD's "MLLM" row).
    """

    backend = "vlm"

    def __init__(self, model_id: str, **options: Any):
        self.config = VlmConfig(model_id=model_id, **options)
        self.model, self.processor = load_vlm_once(self.config)  # once per process and loading setting
        self.yes_ids, self.no_ids = yes_no_token_ids(self.processor.tokenizer,
                                                     exact=self.config.prompt_mode == "authors")
        self._runner = _Runner(self.model, self.processor, self.config.question_batch_size)
        self._warned_fallback = False

    @property
    def name(self) -> str:
        return f"vlm:{self.config.model_id}"

    @property
    def provenance(self) -> dict:
        """What determines the scores (for cache keys and reports); not device or batching."""
        template = getattr(self.processor, "chat_template", None)
        return {
            "backend": self.backend,
            "model_id": self.config.model_id,
            "revision": self.config.revision or getattr(self.model.config, "_commit_hash", None),
            "model_class": type(self.model).__name__,
            "dtype": str(self._runner.dtype).replace("torch.", ""),
            "prompt_template": self.config.prompt_template,
            "prompt_example": render_prompt(self.processor, self.config.prompt_template),
            "class_prompt_template": self.config.class_prompt_template,
            "chat_template_hash": stable_hash(template) if template else None,
            "yes_token_ids": self.yes_ids,
            "no_token_ids": self.no_ids,
            "prompt_mode": self.config.prompt_mode,
            # an embedded MLLM's training config: retrained weights never reuse another's scores
            **embedded_provenance(self.config.model_id),
            # quantised weights give other scores; left out when unset so existing caches keep their keys
            **({"quantization": self.config.quantization} if self.config.quantization else {}),
            "readout": "sigmoid(logsumexp(z[yes ids]) - logsumexp(z[no ids])) at the answer's first token",
        }

    # -- yes / no ---------------------------------------------------------------------------

    def prompts(self, questions: Sequence[Any]) -> list[str]:
        """The full prompt (chat template applied) for each question."""
        template = self.config.prompt_template
        return [render_prompt(self.processor, template.format(question=_question_text(q))) for q in questions]

    def score(
        self, images, questions: Sequence[Any], batched: bool | None = None, progress: bool = False
    ) -> np.ndarray:
        """q[n, i] = P(yes | image n, question i), float64 in (0, 1), shape [N, Q]."""
        if len(questions) == 0:
            raise ValueError("no aspect questions given")
        texts = self.prompts(questions)
        batched = self.config.batched if batched is None else batched
        rows = []
        with torch.inference_mode():
            for image in _progress(iter_pil_images(images), progress, len(images), "aspect P(yes)"):
                logits = self._answer_logits(image, texts, batched)  # [Q, V]
                rows.append(yes_probability(logits, self.yes_ids, self.no_ids).double().cpu().numpy())
        return _stack(rows, len(texts))

    def _answer_logits(self, image, texts: list[str], batched: bool):
        """Next-token logits after each prompt, [Q, V] (float32)."""
        shared = self._split(image, texts) if batched else None
        if shared is None:
            return torch.stack([self._runner.full_logits(image, t, keep=1)[0][-1].float() for t in texts])
        runs = self._runner.shared_prefix_runs(shared, last_only=True)
        return torch.cat([logits.float() for start, _, _, logits in runs if start >= 0])

    def _split(self, image, texts: Sequence[str], max_prefix_tokens: int | None = None) -> SharedPrefix | None:
        try:
            return encode_shared_prefix(self.processor, image, texts, max_prefix_tokens)
        except PrefixSplitError as exc:
            if not self._warned_fallback:
                warnings.warn(
                    f"{self.name}: cannot share the image prefix ({exc}); using one full forward per "
                    "prompt (same results, slower)",
                    stacklevel=3,
                )
                self._warned_fallback = True
            return None

    # -- zero-shot classification -----------------------------------------------------------

    def class_prompt(self, noun: str) -> str:
        return render_prompt(self.processor, self.config.class_prompt_template.format(noun=noun))

    def zero_shot_class_scores(
        self,
        images,
        class_names: Sequence[str],
        noun: str = "object",
        reduction: str = "mean",
        batched: bool | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Log-likelihood of each class name as the answer to "What is the <noun> in the image?".

        score[n, c] = reduce_t log p(a_t | image n, prompt, a_<t) over the answer tokens a of class c
        (``reduction`` "mean" per token, the default, so long names are not penalised; or "sum").
        All class names continue one shared prefix (image + prompt) per image. Shape [N, C].
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction={reduction!r}; use one of {REDUCTIONS}")
        if len(class_names) == 0:
            raise ValueError("no class names given")
        prompt = self.class_prompt(noun)
        sep = "" if prompt[-1:].isspace() else " "
        texts = [prompt + sep + str(name).strip() for name in class_names]
        unexpanded = self.processor.tokenizer([prompt] + texts)["input_ids"]
        # Answer tokens of class c: those of texts[c] after its longest common prefix with the prompt.
        starts = [_common_prefix_length([unexpanded[0], u]) for u in unexpanded[1:]]
        counts = [len(u) - s for u, s in zip(unexpanded[1:], starts, strict=True)]
        if min(counts) < 1:
            empty = [class_names[i] for i, c in enumerate(counts) if c < 1]
            raise ValueError(f"class names {empty} add no tokens to the prompt")
        batched = self.config.batched if batched is None else batched
        rows = []
        with torch.inference_mode():
            for image in _progress(iter_pil_images(images), progress, len(images), "zero-shot"):
                shared = None
                if batched:
                    shared = self._split(image, texts, max_prefix_tokens=min(starts))
                if shared is None:
                    loglik = self._answer_loglik_naive(image, texts, counts)
                else:
                    loglik = self._answer_loglik_shared(shared, counts)
                sums = torch.stack([ll.sum() for ll in loglik])
                if reduction == "mean":
                    sums = sums / torch.tensor(counts, dtype=sums.dtype, device=sums.device)
                rows.append(sums.double().cpu().numpy())
        return _stack(rows, len(texts))

    def _answer_loglik_naive(self, image, texts, counts):
        out = []
        for text, k in zip(texts, counts, strict=True):
            logits, ids = self._runner.full_logits(image, text, keep=k + 1)
            logp = logits[:-1].float().log_softmax(-1)  # position t predicts token t+1
            out.append(logp.gather(-1, ids[-k:, None])[:, 0])
        return out

    def _answer_loglik_shared(self, shared: SharedPrefix, counts):
        out = []
        prefix_last = None
        for start, ids, lengths, logits in self._runner.shared_prefix_runs(shared):
            if start < 0:
                prefix_last = logits.float()
                continue
            n = len(lengths)
            # Predictor of suffix token j: prefix's last position for j = 0, suffix position j-1 after.
            predictors = torch.cat([prefix_last.expand(n, 1, -1), logits[:, :-1].float()], dim=1)
            logp = predictors.log_softmax(-1).gather(-1, ids.to(logits.device)[..., None])[..., 0]
            for row in range(n):
                length, k = int(lengths[row]), counts[start + row]
                out.append(logp[row, length - k : length])
        return out


def zero_shot_accuracy(scores: np.ndarray, targets: Sequence[int]) -> float:
    """Top-1 accuracy (%) of argmax_c scores[n, c] against the targets."""
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if scores.ndim != 2 or len(scores) != len(targets):
        raise ValueError(f"scores must be [N, C] with N = len(targets); got {scores.shape} and {targets.shape}")
    return float(100.0 * np.mean(scores.argmax(axis=1) == targets))


def _stack(rows: list[np.ndarray], width: int) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, width))


def _progress(iterable, enabled: bool, total: int, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc)
