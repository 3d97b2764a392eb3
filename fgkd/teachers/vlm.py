"""MaKD's multimodal-LLM teacher: P(yes) per (image, aspect question) from next-token logits.

MaKD (section 3.2) asks an MLLM each aspect question about each image, prompting a yes or no
answer, reads the logits z_y (yes) and z_n (no) of the answer token and uses

    q_i = softmax([z_{y_i}, z_{n_i}])_0 = sigmoid(z_{y_i} - z_{n_i})

as the distillation target of aspect i. fgkd reads these logits from ONE forward pass (no text
generation), resolves the yes/no token ids from the tokenizer (never hard-coded), and merges the
spelling variants of each answer ("yes", "Yes", " yes", " Yes", ...) by logsumexp:
z_y = logsumexp_{v in yes variants} z_v.

Efficiency: every question about an image shares the prompt up to (and including) the image tokens.
The scorer runs that shared prefix once per image (the vision tower runs once), keeps its KV cache,
expands the cache to a batch of questions and runs only the question tokens
(``batched=True``). The reference path (``batched=False``) runs one full forward per
(image, question); the tests check both agree.

Any Hugging Face image-text-to-text model loadable with ``AutoProcessor`` and
``AutoModelForImageTextToText`` works (LLaVA, LLaVA-NeXT, InternVL ``-hf`` checkpoints, Qwen2-VL ...).
MaKD used InternVL2-8B (a remote-code checkpoint; its transformers-native counterparts are the
``OpenGVLab/InternVL*-hf`` repositories). Loading is offline by default: a missing model raises one
error saying what to download.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from fgkd.io import stable_hash

ANSWER_WORDS = ("yes", "no")
DTYPES = ("auto", "float32", "bfloat16", "float16")
REDUCTIONS = ("mean", "sum")
# Keys of processor outputs that run along the token sequence (sliced when taking the prefix).
_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


@dataclass(frozen=True)
class VlmConfig:
    """Settings of the VLM aspect scorer.

    Args:
        model_id: Hugging Face repository id or local folder of an image-text-to-text model.
        device: ``"cuda"``, ``"cpu"``, ``"cuda:1"``...; None picks CUDA when available.
        dtype: weights dtype; ``"auto"`` is bfloat16 on CUDA and float32 on CPU.
        prompt_template: the user text of a yes/no question; ``{question}`` is the aspect question.
        class_prompt_template: the user text of zero-shot classification; ``{noun}`` is the object
            noun ("bird", "car"...); the answer scored is the class name.
        question_batch_size: questions (or class names) run together after one shared prefix.
        batched: shared-prefix KV-cache path (True) or one full forward per pair (False, reference).
        local_files_only: never download (fgkd's rule); set False to let transformers download.
        trust_remote_code: allow remote-code checkpoints (e.g. the original InternVL2-8B). Only for
            repositories you trust.
        revision: model revision (branch, tag or commit) to load.
    """

    model_id: str
    device: str | None = None
    dtype: str = "auto"
    prompt_template: str = "{question} Answer with yes or no."
    class_prompt_template: str = "What is the {noun} in the image? Answer with its name."
    question_batch_size: int = 16
    batched: bool = True
    local_files_only: bool = True
    trust_remote_code: bool = False
    revision: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise ValueError(f"model_id must be a non-empty model id or folder, got {self.model_id!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is not supported; use one of {DTYPES}")
        if "{question}" not in self.prompt_template:
            raise ValueError(
                f"prompt_template={self.prompt_template!r} must contain '{{question}}' where the aspect "
                "question goes"
            )
        if "{noun}" not in self.class_prompt_template:
            raise ValueError(
                f"class_prompt_template={self.class_prompt_template!r} must contain '{{noun}}'"
            )
        if not isinstance(self.question_batch_size, int) or self.question_batch_size < 1:
            raise ValueError(f"question_batch_size must be an int >= 1, got {self.question_batch_size!r}")


# --------------------------------------------------------------------------------------------
# Loading


class ModelNotAvailableError(FileNotFoundError):
    """A model asked for offline is not in the local Hugging Face cache."""


def hf_cache_dir() -> str:
    """Where ``huggingface_hub`` keeps downloaded models (``$HF_HUB_CACHE``, ``$HF_HOME/hub``...)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _missing_model_message(model_id: str, cause: BaseException) -> str:
    return (
        f"VLM {model_id!r} is not available offline: fgkd loads models with local_files_only=True and it "
        f"is not in the Hugging Face cache ({hf_cache_dir()}) nor a local folder.\n"
        f"Download it once with:  hf download {model_id}   (older huggingface_hub: "
        f"huggingface-cli download {model_id})\n"
        "or set HF_HOME / HF_HUB_CACHE to the cache that holds it, or pass model_id=<local folder>. "
        f"(transformers said: {str(cause).splitlines()[0] if str(cause) else type(cause).__name__})"
    )


def resolve_device_dtype(device: str | None, dtype: str):
    """``(torch.device, torch.dtype)`` from the config strings (auto: bf16 on CUDA, fp32 on CPU)."""
    dev = torch.device(device if device else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype == "auto":
        return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    return dev, getattr(torch, dtype)


def load_vlm(config: VlmConfig):
    """Load ``(model, processor)`` with the transformers Auto classes, eval mode, on the device.

    Raises:
        ModelNotAvailableError: the model is neither cached nor a local folder (offline loading).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device, dtype = resolve_device_dtype(config.device, config.dtype)
    common = dict(
        local_files_only=config.local_files_only,
        trust_remote_code=config.trust_remote_code,
        revision=config.revision,
    )
    try:
        processor = AutoProcessor.from_pretrained(config.model_id, **common)
        # Loading straight onto one accelerator avoids a full copy of the weights in host memory.
        placement = {} if device.type == "cpu" else {"device_map": str(device)}
        model = AutoModelForImageTextToText.from_pretrained(config.model_id, dtype=dtype, **placement, **common)
    except OSError as exc:  # transformers reports missing files / offline misses as OSError
        if config.local_files_only:
            raise ModelNotAvailableError(_missing_model_message(config.model_id, exc)) from None
        raise
    model.to(device).eval()
    return model, processor


# --------------------------------------------------------------------------------------------
# Token ids of the answers


def answer_token_ids(tokenizer, word: str) -> list[int]:
    """Ids of the single tokens that spell ``word`` in any case / leading-space variant.

    Variants tried: word, Word, WORD, each with and without a leading space. A variant counts when
    the tokenizer encodes it (without special tokens) as exactly one token, ignoring a leading
    whitespace-only token (SentencePiece's lone "▁"), and that token decodes back to the word.

    Raises:
        ValueError: no variant is a single token (next-token P(word) is then undefined).
    """
    word = word.strip()
    variants = {word.lower(), word.capitalize(), word.upper()}
    ids: set[int] = set()
    for variant in sorted(variants):
        for text in (variant, " " + variant):
            encoded = list(tokenizer.encode(text, add_special_tokens=False))
            while len(encoded) > 1 and not tokenizer.decode(encoded[:1]).strip():
                encoded = encoded[1:]
            if len(encoded) == 1 and tokenizer.decode(encoded).strip().lower() == word.lower():
                ids.add(int(encoded[0]))
    if not ids:
        raise ValueError(
            f"the tokenizer {type(tokenizer).__name__} has no single token for {word!r} in any case or "
            "leading-space variant, so its next-token probability is undefined; use a model whose "
            "tokenizer has one (all LLaVA / InternVL / Qwen-VL tokenizers do)"
        )
    return sorted(ids)


def yes_no_token_ids(tokenizer) -> tuple[list[int], list[int]]:
    """``(yes_ids, no_ids)`` for the tokenizer; the two sets must not overlap."""
    yes, no = (answer_token_ids(tokenizer, w) for w in ANSWER_WORDS)
    if set(yes) & set(no):
        raise ValueError(f"yes ids {yes} and no ids {no} overlap; the tokenizer cannot tell them apart")
    return yes, no


def yes_probability(logits, yes_ids: Sequence[int], no_ids: Sequence[int]):
    """q = softmax([z_y, z_n])_0 with z = logsumexp over each answer's variants. logits: [..., V]."""
    logits = logits.float()
    z_yes = torch.logsumexp(logits[..., list(yes_ids)], dim=-1)
    z_no = torch.logsumexp(logits[..., list(no_ids)], dim=-1)
    return torch.sigmoid(z_yes - z_no)  # == softmax([z_yes, z_no])[0]


# --------------------------------------------------------------------------------------------
# Prompts and shared-prefix encoding


def render_prompt(processor, user_text: str) -> str:
    """The model's full prompt for one image and ``user_text``, ending where the answer begins.

    Uses the processor's chat template (image part first, then the text, generation prompt added);
    a processor without one gets the LLaVA-1.5 layout ``"USER: <image>\\n{text} ASSISTANT:"``.
    """
    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image_token = getattr(processor, "image_token", None) or "<image>"
    return f"USER: {image_token}\n{user_text} ASSISTANT:"


def _common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        token = first[i]
        if any(s[i] != token for s in seqs[1:]):
            return i
    return n


@dataclass
class SharedPrefix:
    """One image's prompts split into a shared prefix (run once) and per-text suffix token ids.

    ``prefix`` holds the processor outputs (expanded image tokens, pixel values...) cut to the prefix,
    batch 1; ``suffixes[k]`` are the token ids of text k after the prefix (each at least one token).
    """

    prefix: dict
    suffixes: list[list[int]]


class PrefixSplitError(RuntimeError):
    """The processor's expansion of the image placeholder could not be located in the token ids."""


def encode_shared_prefix(processor, image, texts: Sequence[str], max_prefix_tokens: int | None = None) -> SharedPrefix:
    """Tokenise ``texts`` (full prompts for one image) once as a shared prefix plus suffixes.

    The texts are tokenised without image expansion to find their longest common token prefix p
    (so the split never changes how any text is tokenised); the processor then runs once on the
    first text with the image, and its expanded ids are cut where the unexpanded tail
    ``ids[p:]`` begins. The image placeholders must all lie in the prefix.
    """
    tokenizer = processor.tokenizer
    unexpanded = [list(ids) for ids in tokenizer(list(texts))["input_ids"]]
    p = min(_common_prefix_length(unexpanded), min(len(u) for u in unexpanded) - 1)
    if max_prefix_tokens is not None:
        p = min(p, max_prefix_tokens)
    if p < 1:
        raise PrefixSplitError("the prompts share no leading tokens")
    full = processor(text=[texts[0]], images=[image], return_tensors="pt")
    ids = full["input_ids"][0].tolist()
    tail = unexpanded[0][p:]
    cut = len(ids) - len(tail)
    image_id = getattr(processor, "image_token_id", None)
    if cut < 1 or ids[cut:] != tail:
        raise PrefixSplitError("the processor's token ids do not end with the text's unexpanded tail")
    if image_id is not None:
        if image_id in tail or image_id not in ids[:cut]:
            raise PrefixSplitError("the image tokens are not all inside the shared prefix")
        if image_id in unexpanded[0]:
            # Before the image the processor must tokenise exactly as the plain tokenizer did.
            head = unexpanded[0].index(image_id)
            if ids[:head] != unexpanded[0][:head]:
                raise PrefixSplitError("the processor tokenises the text before the image differently")
    prefix = {}
    for key, value in full.items():
        if key in _SEQUENCE_KEYS and hasattr(value, "shape") and value.ndim >= 2 and value.shape[1] == len(ids):
            value = value[:, :cut]
        prefix[key] = value
    return SharedPrefix(prefix=prefix, suffixes=[u[p:] for u in unexpanded])


# --------------------------------------------------------------------------------------------
# Forward passes


def _accepts(model, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def _to_device(inputs: dict, device, dtype) -> dict:
    out = {}
    for key, value in inputs.items():
        if hasattr(value, "to"):
            # Float inputs (pixel values) follow the model dtype; ids and masks keep theirs.
            value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
        out[key] = value
    return out


def _pad_right(suffixes: Sequence[Sequence[int]], pad_id: int):
    """``(ids [n, L], lengths [n])``, right padded. Causal attention never lets a real token see the
    padding after it, so right padding changes no real token's output and needs no attention mask."""
    lengths = torch.tensor([len(s) for s in suffixes])
    ids = torch.full((len(suffixes), int(lengths.max())), pad_id, dtype=torch.long)
    for row, suffix in enumerate(suffixes):
        ids[row, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
    return ids, lengths


class _Runner:
    """Holds the loaded model and processor; runs the shared-prefix and naive forwards."""

    def __init__(self, model, processor, batch_size: int):
        self.model = model
        self.processor = processor
        self.batch_size = batch_size
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.keep_logits = _accepts(model, "logits_to_keep")
        tok = processor.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def _forward(self, inputs: dict, keep: Any = None, **kwargs):
        if keep is not None and self.keep_logits:
            kwargs["logits_to_keep"] = keep
        return self.model(**inputs, return_dict=True, **kwargs)

    def shared_prefix_runs(self, shared: SharedPrefix, last_only: bool = False) -> Iterable[tuple[int, Any, Any, Any]]:
        """Run the prefix once, then the suffixes in batches from copies of its KV cache.

        Yields first ``(-1, None, None, prefix_last_logits [V])``, then per batch
        ``(start, suffix_ids [n, L], lengths [n], logits)`` with logits ``[n, L, V]``, or ``[n, V]`` at
        each suffix's last real token when ``last_only``.
        """
        prefix = _to_device(shared.prefix, self.device, self.dtype)
        out = self._forward(prefix, keep=1, use_cache=True)
        cache = out.past_key_values
        yield -1, None, None, out.logits[0, -1]
        for start in range(0, len(shared.suffixes), self.batch_size):
            chunk = shared.suffixes[start : start + self.batch_size]
            ids, lengths = _pad_right(chunk, self.pad_id)
            last = (lengths - 1).to(self.device)[:, None]  # [n, 1] position of each last real token
            # The forward appends to the cache in place, so every batch starts from its own copy.
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(chunk))
            logits = self._forward(
                {"input_ids": ids.to(self.device)},
                keep=last if last_only else None,  # per-row positions: only [n, 1, V] logits computed
                past_key_values=batch_cache,
                use_cache=True,
            ).logits
            if last_only:
                if logits.shape[1] != 1:  # the model ignored logits_to_keep
                    logits = torch.take_along_dim(logits, last[..., None], dim=1)
                logits = logits[:, 0]
            yield start, ids, lengths, logits

    def full_logits(self, image, text: str, keep: int):
        """Reference path: one full forward of (image, text); logits of the last ``keep`` positions."""
        inputs = self.processor(text=[text], images=[image], return_tensors="pt")
        inputs = _to_device(dict(inputs), self.device, self.dtype)
        logits = self._forward(inputs, keep=keep, use_cache=False).logits[0]
        return logits[-keep:], inputs["input_ids"][0]


# --------------------------------------------------------------------------------------------
# The scorer


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
        self.model, self.processor = load_vlm(self.config)
        self.yes_ids, self.no_ids = yes_no_token_ids(self.processor.tokenizer)
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
