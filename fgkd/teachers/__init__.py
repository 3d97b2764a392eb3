"""Frozen teachers: CLIP (LEAD's teacher, fgkd's MaKD aspect scorer) and the VLM aspect scorer.

    >>> teacher = get_teacher("embedded-M")            # trained by fgkd on the world, cached
    >>> teacher = get_teacher("ViT-B-16/openai")       # open_clip weights from the local cache
    >>> P = teacher.prototypes(descriptions)           # [C, d]
    >>> p = teacher.probs(teacher.encode_images(images), P)   # [N, C], T = 0.02
    >>> H = teacher.normalised_entropy(p)              # [N]

Embedded teachers stand in for OpenAI's CLIP at the world's scale: ``embedded-S`` ~ ViT-B/32
(large patches), ``embedded-M`` ~ ViT-B/16 (small patches), ``embedded-L`` ~ ViT-L/14 (wider,
deeper). See :mod:`fgkd.teachers.embedded`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names re-exported lazily (PEP 562): `import fgkd.teachers.vlm` must not pay for open_clip.
# The scorer registry (get_scorer, list_scorers) and the oracle are in fgkd.scorers.
_EXPORTS = {
    "LEAD_TEMPERATURE": "fgkd.teachers.clip",
    "ClipAspectScorer": "fgkd.teachers.clip",
    "ClipTeacher": "fgkd.teachers.clip",
    "calibration_stats": "fgkd.teachers.clip",
    "normalised_entropy": "fgkd.teachers.clip",
    "probs": "fgkd.teachers.clip",
    "EMBEDDED_TEACHERS": "fgkd.teachers.embedded",
    "PAPER_ANALOGUES": "fgkd.teachers.embedded",
    "EmbeddedTeacherConfig": "fgkd.teachers.embedded",
    "embedded_config": "fgkd.teachers.embedded",
    "load_embedded_teacher": "fgkd.teachers.embedded",
    "train_embedded_teacher": "fgkd.teachers.embedded",
    "TeacherOutputs": "fgkd.teachers.outputs",
    "compute_teacher_outputs": "fgkd.teachers.outputs",
    "teacher_outputs": "fgkd.teachers.outputs",
    "PretrainedWeightsMissing": "fgkd.teachers.pretrained",
    "load_pretrained_teacher": "fgkd.teachers.pretrained",
    "resolve_checkpoint": "fgkd.teachers.pretrained",
}

if TYPE_CHECKING:
    from fgkd.teachers.clip import ClipTeacher


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fgkd.teachers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def list_teachers() -> list[str]:
    """The embedded teachers and the pretrained OpenAI CLIPs LEAD uses (any open_clip ``ARCH/TAG`` works)."""
    from fgkd.teachers.embedded import EMBEDDED_TEACHERS, PAPER_ANALOGUES

    return [*EMBEDDED_TEACHERS, *PAPER_ANALOGUES.values()]


def get_teacher(name: str, **options: Any) -> "ClipTeacher":
    """A frozen CLIP teacher by name.

    Args:
        name: an embedded teacher (``embedded-S``, ``embedded-M``, ``embedded-L``; trained on first
            use, then cached) or an open_clip pretrained model ``ARCH/TAG`` (``ViT-B-16/openai``),
            loaded from the local cache only.
        **options: for embedded teachers, :func:`load_embedded_teacher`'s (``device``,
            ``progress``, config overrides such as ``epochs`` or ``image_size``); for pretrained
            ones, :func:`load_pretrained_teacher`'s (``pretrained_path``, ``cache_dir``, ``device``).
    """
    from fgkd.teachers.embedded import EMBEDDED_TEACHERS, PAPER_ANALOGUES, load_embedded_teacher

    if not isinstance(name, str) or not name:
        raise ValueError(f"get_teacher: name must be a non-empty string, got {name!r}")
    if name in EMBEDDED_TEACHERS:
        return load_embedded_teacher(name, **options)
    if "/" in name:
        from fgkd.teachers.pretrained import load_pretrained_teacher

        return load_pretrained_teacher(name, **options)
    raise ValueError(
        f"unknown teacher {name!r}: use one of {', '.join(EMBEDDED_TEACHERS)} (trained by fgkd) or an "
        f"open_clip pretrained name ARCH/TAG such as {', '.join(PAPER_ANALOGUES.values())}"
    )


__all__ = [  # noqa: F822 (lazy, see _EXPORTS)
    "EMBEDDED_TEACHERS",
    "LEAD_TEMPERATURE",
    "PAPER_ANALOGUES",
    "ClipAspectScorer",
    "ClipTeacher",
    "EmbeddedTeacherConfig",
    "PretrainedWeightsMissing",
    "TeacherOutputs",
    "calibration_stats",
    "compute_teacher_outputs",
    "embedded_config",
    "get_teacher",
    "list_teachers",
    "load_embedded_teacher",
    "load_pretrained_teacher",
    "normalised_entropy",
    "probs",
    "resolve_checkpoint",
    "teacher_outputs",
    "train_embedded_teacher",
]
