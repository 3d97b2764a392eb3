"""The yes/no readout: answer token ids resolved from the tokenizer, and P(yes) from next-token logits."""

from __future__ import annotations

from typing import Sequence

import torch

ANSWER_WORDS = ("yes", "no")


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


def exact_token_id(tokenizer, word: str) -> int:
    """The id of the single token that is exactly ``word`` (no case or space variants): what the
    MaKD authors read ("Yes", "No"). Raises ``ValueError`` when the vocabulary has no such token."""
    encoded = list(tokenizer.encode(word, add_special_tokens=False))
    while len(encoded) > 1 and not tokenizer.decode(encoded[:1]).strip():
        encoded = encoded[1:]
    if len(encoded) != 1 or tokenizer.decode(encoded).strip() != word:
        raise ValueError(f"the tokenizer {type(tokenizer).__name__} has no single token {word!r} (it encodes to "
                         f"{encoded}); use prompt_mode='fgkd', which reads every spelling of the answer")
    return int(encoded[0])


def yes_no_token_ids(tokenizer, exact: bool = False) -> tuple[list[int], list[int]]:
    """``(yes_ids, no_ids)`` for the tokenizer; the two sets must not overlap. ``exact``: only the
    tokens "Yes" and "No" (the MaKD authors' readout)."""
    if exact:
        return [exact_token_id(tokenizer, "Yes")], [exact_token_id(tokenizer, "No")]
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
