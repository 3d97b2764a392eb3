"""Prompts and the shared image prefix: the chat-template prompt, and the split of one image's prompts
into a prefix run once (image tokens included) plus per-prompt suffix token ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

# Keys of processor outputs that run along the token sequence (sliced when taking the prefix).
_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


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
