"""Teacher outputs on a dataset, computed once and cached.

LEAD reads the frozen teacher on every training image every epoch; the teacher never changes, so
fgkd computes ``(f_t, p_t, H, P)`` once per (dataset, split, teacher, text config) and every notebook
reuses them. Files: ``cache_dir("teacher_outputs")/<key>.npz`` and ``<key>.json`` (provenance and
the npz's sha256). A truncated or garbled npz fails the checksum (or the load) and is recomputed.

The outputs are computed with :data:`fgkd.determinism.SHARED_THREADS` CPU thread(s) and
deterministic algorithms whichever run asks first, so the cache holds the same bytes whatever the
caller's threads or the environment's; the provenance records what was in force (``determinism``).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from fgkd.determinism import SHARED_THREADS, deterministic, device_of
from fgkd.io import atomic_savez, atomic_write_json, stable_hash
from fgkd.paths import cache_dir
from fgkd.teachers.clip import ClipTeacher, normalised_entropy

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TeacherOutputs:
    """What LEAD needs from the teacher for N images and C classes.

    Attributes:
        image_emb: ``[N, d]`` normalised image embeddings f_t.
        probs: ``[N, C]`` p_t = softmax(f_t . P^T / T).
        entropy: ``[N]`` normalised entropy H = -sum p_t log p_t / log C.
        prototypes: ``[C, d]`` normalised text embeddings P of the class descriptions.
        provenance: how they were made (teacher, dataset, split, text config, temperature).
    """

    image_emb: torch.Tensor
    probs: torch.Tensor
    entropy: torch.Tensor
    prototypes: torch.Tensor
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return int(self.image_emb.shape[0])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@torch.no_grad()
def compute_teacher_outputs(
    teacher: ClipTeacher, dataset: Any, descriptions: Sequence[str], *, temperature: float | None = None,
    batch_size: int | None = None,
) -> TeacherOutputs:
    """:class:`TeacherOutputs` for every item of ``dataset`` (uncached).

    ``dataset[i]`` is ``(image, target)`` with ``image`` a PIL image (or a preprocessed tensor);
    ``descriptions`` holds one description per class, in class-index order. Computed with
    :data:`~fgkd.determinism.SHARED_THREADS` thread(s), deterministically; ``provenance`` holds
    ``{"determinism": what was in force}``.
    """
    n = len(dataset)
    if n == 0:
        raise ValueError("teacher_outputs: the dataset is empty")
    classes = getattr(dataset, "classes", None)
    if classes is not None and len(classes) != len(descriptions):
        raise ValueError(
            f"teacher_outputs: the dataset has {len(classes)} classes but {len(descriptions)} descriptions "
            f"were given; pass one description per class, in class-index order"
        )
    with deterministic(SHARED_THREADS, device_of(teacher)) as determinism:
        prototypes = teacher.prototypes(list(descriptions))  # C x d
        emb = teacher.encode_images(dataset, batch_size=batch_size)  # N x d
        p = teacher.probs(emb, prototypes, temperature)  # N x C
        entropy = normalised_entropy(p)
    return TeacherOutputs(emb.cpu(), p.cpu(), entropy.cpu(), prototypes.cpu(), {"determinism": determinism})


def teacher_outputs(
    teacher: ClipTeacher,
    dataset: Any,
    descriptions: Sequence[str],
    *,
    dataset_id: str,
    split: str,
    text_config: dict[str, Any] | str,
    temperature: float | None = None,
    recompute: bool = False,
    batch_size: int | None = None,
) -> TeacherOutputs:
    """Cached :class:`TeacherOutputs` of ``teacher`` on ``dataset``.

    Args:
        teacher: the frozen teacher.
        dataset: items ``(image, target)``; ``len(dataset)`` rows come back, in item order.
        descriptions: one class description per class (class-index order); their text enters the
            cache key, so edited descriptions are never served stale outputs.
        dataset_id: names the dataset and its options (e.g. ``"world:bird/seed0/64px"``); with
            ``split`` it must identify the images: the images themselves are not hashed.
        split: ``"train"``, ``"test"``...
        text_config: how the descriptions were made (LLM backend, style, max words...).
        temperature: T of p_t (None: the teacher's, LEAD's 0.02).
        recompute: ignore and overwrite the cache.
    """
    if not isinstance(dataset_id, str) or not dataset_id:
        raise ValueError(f"teacher_outputs: dataset_id must be a non-empty string, got {dataset_id!r}")
    if not isinstance(split, str) or not split:
        raise ValueError(f"teacher_outputs: split must be a non-empty string, got {split!r}")
    temperature = teacher.temperature if temperature is None else float(temperature)
    record = {
        "format": FORMAT_VERSION,
        "dataset_id": dataset_id,
        "split": split,
        "num_items": len(dataset),
        "teacher": teacher.key,
        "text_config": text_config,
        "descriptions_sha256": hashlib.sha256(json.dumps(list(descriptions)).encode()).hexdigest(),
        "temperature": temperature,
    }
    key = stable_hash(record)
    folder = cache_dir("teacher_outputs")
    stem = f"{dataset_id}-{split}-{teacher.name}".replace("/", "_").replace(":", "_").replace(" ", "_")
    npz, meta = folder / f"{stem}-{key}.npz", folder / f"{stem}-{key}.json"

    if not recompute:
        cached = _load(npz, meta, record)
        if cached is not None:
            return cached
    out = compute_teacher_outputs(teacher, dataset, descriptions, temperature=temperature, batch_size=batch_size)
    provenance = {**record, "teacher_provenance": teacher.provenance, **out.provenance}
    atomic_savez(
        npz,
        image_emb=out.image_emb.numpy(),
        probs=out.probs.numpy(),
        entropy=out.entropy.numpy(),
        prototypes=out.prototypes.numpy(),
    )
    # The json is written last and carries the npz checksum: a crash in between leaves no valid pair.
    atomic_write_json(meta, {"provenance": provenance, "npz_sha256": _sha256(npz)})
    return TeacherOutputs(out.image_emb, out.probs, out.entropy, out.prototypes, provenance)


def _load(npz: Path, meta: Path, record: dict[str, Any]) -> TeacherOutputs | None:
    """The cached outputs, or None (with a warning if a file was there but unusable)."""
    if not npz.exists() or not meta.exists():
        return None
    try:
        info = json.loads(meta.read_text())
        if info["npz_sha256"] != _sha256(npz):
            raise ValueError("checksum mismatch")
        with np.load(npz) as z:
            arrays = {k: torch.from_numpy(z[k].copy()) for k in ("image_emb", "probs", "entropy", "prototypes")}
        if arrays["image_emb"].shape[0] != record["num_items"]:
            raise ValueError("wrong number of rows")
    except Exception as exc:  # any damage means: compute again
        warnings.warn(f"cached teacher outputs {npz.name} are unusable ({exc}); recomputing", stacklevel=3)
        return None
    return TeacherOutputs(**arrays, provenance=info["provenance"])
