"""Settings of the VLM aspect scorer: :class:`VlmConfig` and its validation."""

from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("auto", "float32", "bfloat16", "float16")
PROMPT_MODES = ("fgkd", "authors")
AUTHORS_PROMPT = "{question}"  # the MaKD authors send "<image>\n{question}" through the chat template


QUANTIZATIONS = (None, "4bit", "8bit")
# Options that change how the scores are computed, not what they are: they never key a cache or a run.
RUNTIME_OPTIONS = frozenset({"device", "question_batch_size", "batched", "attn_implementation", "device_map"})


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
        prompt_mode: ``"fgkd"``: ``prompt_template`` and P(yes) over every case / leading-space
            spelling of yes and no; ``"authors"``: the MaKD authors' form (their
            ``internvl_logits``): the bare question after the image, and only the token ids of
            "Yes" and "No" read at the answer's first token.
        attn_implementation: transformers' attention kernel (``"sdpa"``, ``"eager"``,
            ``"flash_attention_2"``); None: the model's default.
        quantization: ``"4bit"`` or ``"8bit"`` weights through bitsandbytes (installed separately,
            CUDA only); None: ``dtype`` weights.
        device_map: transformers' placement, e.g. ``"auto"`` to shard a 34B model over every visible
            GPU; None: the whole model on ``device``.
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
    prompt_mode: str = "fgkd"
    attn_implementation: str | None = None
    quantization: str | None = None
    device_map: str | None = None

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization={self.quantization!r} is not one of {QUANTIZATIONS} (bitsandbytes)")
        if self.prompt_mode not in PROMPT_MODES:
            raise ValueError(f"prompt_mode={self.prompt_mode!r} is not one of {PROMPT_MODES}")
        if self.prompt_mode == "authors":
            object.__setattr__(self, "prompt_template", AUTHORS_PROMPT)
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


def remote_code_message(model_id: str) -> str:
    return (f"VLM {model_id!r} ships as remote code (an InternVL2-style InternVLChatModel), which transformers' "
            "image-text-to-text classes cannot load. To run its code, set trust_remote_code: true in the scorer "
            "options (only for repositories you trust); or use the transformers-native checkpoint "
            "OpenGVLab/InternVL3-8B-hf, which needs no remote code")
