"""Text perturbations for LEAD's description ablations.

- Table 2 (text length): descriptions cut to the first ``n`` words -> :func:`truncate_words`.
- Table 4 (simulated LLM errors): a fraction of the words removed at random -> :func:`remove_words`.

A "word" is a whitespace-separated token (punctuation stays attached to its word), the same unit
the 70-word limit is counted in.
"""

from __future__ import annotations

import numpy as np


def count_words(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())


def truncate_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text``, joined by single spaces (whitespace is normalised).

    Text with ``n`` words or fewer comes back unchanged except for whitespace.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"truncate_words: n must be a non-negative int, got {n!r}")
    return " ".join(text.split()[: int(n)])


def remove_words(text: str, ratio: float, seed: int = 0) -> str:
    """Remove ``round(ratio * n_words)`` words of ``text`` chosen uniformly at random.

    The kept words stay in their original order. Python's ``round`` (half to even) fixes the count,
    so ``ratio=0.5`` of 5 words removes 2. Deterministic given ``seed``: the removed positions are
    ``np.random.default_rng(seed).choice(n_words, k, replace=False)``.

    Args:
        text: the description.
        ratio: fraction of words to remove, in ``[0, 1)`` (LEAD uses 0.2, 0.4, 0.6, 0.8); 1 would
            leave an empty description, which the CLIP text encoder cannot rank classes with.
        seed: seed of the removal; use a different seed per class so classes lose different words.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating)):
        raise ValueError(f"remove_words: ratio must be a number in [0, 1), got {ratio!r}")
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(
            f"remove_words: ratio must be in [0, 1) (fraction of words removed), got {ratio!r}"
        )
    words = text.split()
    k = round(float(ratio) * len(words))
    if k == 0:
        return " ".join(words)
    rng = np.random.default_rng(seed)
    removed = set(rng.choice(len(words), size=k, replace=False).tolist())
    return " ".join(w for i, w in enumerate(words) if i not in removed)
