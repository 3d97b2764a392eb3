"""The score caches: a scorer's P(yes) ``[N, Q]`` and zero-shot class scores ``[N, C]`` on disk.

Both live under ``cache_dir("aspects")`` as ``<dataset_id>-<split>-<what>-<hash>.npz`` with the full
key (dataset id, split and size, the scorer's provenance, the columns) in a ``.json`` beside it::

    q = cached_scores(scorer, dataset, questions, dataset_id="world:bird", split="train")
    s = cached_zero_shot_scores(scorer, dataset, class_names, dataset_id=..., split=..., noun="bird")

Users' caches hold scores under these keys and names: the folder kind ``"aspects"``, the ``what``
values ``"aspects"`` and ``"zeroshot"``, the file stem and the key record's fields must stay exactly
as they are (moved verbatim from ``fgkd.teachers.aspects``; no module path or class name is part of
a key). Change the stored layout or the meaning of the scores only together with ``CACHE_FORMAT``.

Under torchrun each process scores its contiguous share of the images (:func:`sharded`); the
shares are gathered on every rank and rank 0 writes the files. Scores are computed with :data:`fgkd.determinism.SHARED_THREADS` CPU thread(s) and deterministic
algorithms, whichever run asks first, so a cache holds the same bytes whatever the caller's threads
or the environment's; the ``.json`` records what was in force (``determinism``). The mode is
``warn_only`` here: the ``vlm`` scorer runs transformers' model code, whose ops fgkd does not
choose, and an op without a deterministic kernel (on CUDA) should warn, not stop hours of scoring.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from fgkd.io import atomic_savez, atomic_write_json, stable_hash
from fgkd.paths import cache_dir

if TYPE_CHECKING:
    from fgkd.scorers import AspectScorer

CACHE_KIND = "aspects"  # the cache folder's name: part of every cached file's path, keep it
CACHE_FORMAT = 1  # bump when the stored layout or the meaning of cached scores changes


def question_record(question: Any) -> dict[str, Any]:
    """A question as the JSON record that keys the cache's columns (and seeds the oracle's noise)."""
    if isinstance(question, str):
        return {"text": question}
    if hasattr(question, "to_dict"):
        return question.to_dict()
    if dataclasses.is_dataclass(question):
        return dataclasses.asdict(question)
    return {"text": question.text}


def as_scores(scores: Any, shape: tuple[int, int]) -> np.ndarray:
    """A scorer's output as a float64 ``[N, Q]`` numpy array (torch tensors are moved to CPU)."""
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != shape:
        raise ValueError(f"scorer returned shape {scores.shape}, expected {shape}")
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError("scorer returned values outside [0, 1] or non-finite; not probabilities")
    return scores


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "dataset"


def cache_paths(
    scorer: AspectScorer, num_images: int, items: Sequence[dict[str, Any]], *, dataset_id: str, split: str, what: str
) -> tuple[Path, Path, dict[str, Any]]:
    """``(scores .npz, provenance .json, key record)`` of one cached score matrix.

    ``items`` describe the columns (question records, or class names); ``what`` names the matrix.
    """
    # The record and the stem are the cache key and file name of users' cached scores: keep both.
    record = {
        "format": CACHE_FORMAT,
        "what": what,
        "dataset_id": dataset_id,
        "split": split,
        "num_images": int(num_images),
        "scorer": scorer.provenance,
        "columns": list(items),
    }
    stem = f"{_safe(dataset_id)}-{_safe(split)}-{what}-{stable_hash(record)}"
    folder = cache_dir(CACHE_KIND)
    return folder / f"{stem}.npz", folder / f"{stem}.json", record


def read_cached(paths: tuple[Path, Path, dict[str, Any]], shape: tuple[int, int]) -> np.ndarray | None:
    """The cached matrix of ``paths`` (:func:`cache_paths`), or None when absent or of another key."""
    npz, meta, record = paths
    if npz.exists() and meta.exists():
        stored = json.loads(meta.read_text())
        # The full key is compared, not just the hash in the name, so a collision or a hand-edited
        # file leads to a recompute rather than to wrong targets.
        if stored.get("key") == json.loads(json.dumps(record, sort_keys=True, default=str)):
            with np.load(npz) as data:
                scores = data["scores"]
            if scores.shape == shape:
                return scores
    return None


def write_cached(paths: tuple[Path, Path, dict[str, Any]], scores: np.ndarray, determinism: dict[str, Any],
                 **extra: Any) -> None:
    """Store a computed matrix under ``paths``: the arrays, then the key record beside them."""
    npz, meta, record = paths
    atomic_savez(npz, scores=scores)
    # Written after the arrays, so a provenance file always has its scores beside it.
    atomic_write_json(meta, {"key": record, "shape": list(scores.shape), "file": npz.name, "determinism": determinism,
                             **extra})


def _cached(
    compute: Callable[[], np.ndarray], paths: tuple[Path, Path, dict[str, Any]], shape: tuple[int, int],
    scorer: Any = None,
) -> np.ndarray:
    scores = read_cached(paths, shape)
    if scores is not None:
        return scores
    from fgkd.determinism import SHARED_THREADS, deterministic, device_of  # torch: only when computing
    from fgkd.train import ddp

    with deterministic(SHARED_THREADS, device_of(scorer), warn_only=True) as determinism:
        scores = compute()
    if ddp.current().is_main:  # under torchrun every rank holds the gathered matrix; one writes it
        write_cached(paths, scores, determinism, world_size=ddp.current().world_size)
    ddp.barrier()
    return scores


def rank_rows(num_images: int) -> range:
    """The images this process scores: all of them, or under torchrun its contiguous share
    (rank r of W: rows ``[r * ceil(N / W), (r + 1) * ceil(N / W))``), so no image is scored twice."""
    from fgkd.train import ddp

    info = ddp.current()
    chunk = -(-num_images // info.world_size)
    return range(min(info.rank * chunk, num_images), min((info.rank + 1) * chunk, num_images))


def sharded(score: Callable[[Any], np.ndarray], dataset: Any) -> np.ndarray:
    """``score(dataset)``, split over the torchrun processes (:func:`rank_rows`) and gathered in
    order on every rank; one process scores everything itself."""
    from fgkd.train import ddp

    if not ddp.current().distributed:
        return score(dataset)
    from torch.utils.data import Subset

    rows = rank_rows(len(dataset))
    part = np.asarray(score(Subset(dataset, rows))) if len(rows) else None
    parts = [p for p in ddp.gather_objects(part) if p is not None]
    return np.concatenate(parts)


def _check_key(dataset_id: str, split: str) -> None:
    if not isinstance(dataset_id, str) or not dataset_id or not isinstance(split, str) or not split:
        raise ValueError(f"give a dataset_id and a split (they key the cache), got {dataset_id!r}, {split!r}")


def cached_scores(
    scorer: AspectScorer, dataset: Any, questions: Sequence[Any], *, dataset_id: str, split: str, **score_options: Any
) -> np.ndarray:
    """``scorer.score(dataset, questions)`` as ``[N, Q]`` float64, cached under ``cache_dir("aspects")``.

    The key is the dataset id, split and size, the scorer's provenance and the questions; the key
    (provenance included) is stored as JSON next to the arrays. ``score_options`` (batching,
    progress...) must not change the scores: they are not part of the key.
    """
    _check_key(dataset_id, split)
    if len(questions) == 0:
        raise ValueError("no aspect questions given")
    items = [question_record(q) for q in questions]
    paths = cache_paths(scorer, len(dataset), items, dataset_id=dataset_id, split=split, what="aspects")
    shape = (len(dataset), len(questions))
    def compute() -> np.ndarray:
        return as_scores(sharded(lambda images: scorer.score(images, questions, **score_options), dataset), shape)

    return _cached(compute, paths, shape, scorer)


def cached_zero_shot_scores(
    scorer: Any,
    dataset: Any,
    class_names: Sequence[str],
    *,
    dataset_id: str,
    split: str,
    noun: str = "object",
    reduction: str = "mean",
    **run_options: Any,
) -> np.ndarray:
    """``scorer.zero_shot_class_scores(dataset, class_names, noun, reduction)`` ``[N, C]``, cached like
    :func:`cached_scores` (MaKD's zero-shot "MLLM" row and its KD extension, section 5.1)."""
    if not hasattr(scorer, "zero_shot_class_scores"):
        raise ValueError(f"the {scorer.name!r} scorer has no zero-shot classification; use the 'vlm' scorer")
    _check_key(dataset_id, split)
    items = [{"noun": noun, "reduction": reduction}] + [{"class": str(c)} for c in class_names]
    paths = cache_paths(scorer, len(dataset), items, dataset_id=dataset_id, split=split, what="zeroshot")
    shape = (len(dataset), len(class_names))

    def compute() -> np.ndarray:
        scores = sharded(lambda images: np.asarray(scorer.zero_shot_class_scores(
            images, class_names, noun=noun, reduction=reduction, **run_options), dtype=np.float64), dataset)
        scores = np.asarray(scores, dtype=np.float64)  # log-likelihoods, not probabilities
        if scores.shape != shape:
            raise ValueError(f"zero-shot scores have shape {scores.shape}, expected {shape}")
        return scores

    return _cached(compute, paths, shape, scorer)
