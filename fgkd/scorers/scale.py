"""P(yes) for a whole paper dataset on a Ray cluster (Ray Data ``map_batches`` over an actor pool).

The expensive step of MaKD at the paper scale is one MLLM answer per (image, question): CUB is
11,788 images x 50 questions with an 8B model. :func:`ray_cached_scores` spreads it over a pool of
actors, each holding one scorer (one model per GPU), and gives the same matrix as the in-process
:func:`fgkd.scorers.cached_scores`, in the same cache file, so the runs find it::

    from functools import partial
    from fgkd.data import get_dataset
    q = ray_cached_scores("vlm", {"model_id": "OpenGVLab/InternVL3-8B-hf"}, partial(get_dataset, "cub200",
                          split="train"), questions, dataset_id="cub200", split="train", num_actors=8)

Work goes in shards of ``shard_size`` images, each written atomically under ``<cache stem>.shards/``
as it finishes; a run stopped by a failure starts again from the shards it has. When every shard
is there the matrix and its key record are written exactly as the in-process path writes them.
Each actor scores with the same fixed threads and deterministic algorithms as the in-process path,
so the scores are the same bytes (the ``vlm`` scorer answers image by image).

Optional: ``pip install "fgkd[scale]"`` (Ray with Ray Data). Start a cluster with ``ray start``, or
let :func:`ray_cached_scores` start a local one.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from fgkd.io import atomic_savez


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ModuleNotFoundError:
        raise ImportError('the Ray scoring path needs Ray Data: pip install "fgkd[scale]" '
                          '(or pip install "ray[data]")') from None
    return ray


class _ScorerActor:
    """One scorer per actor, built once; scores shards of image indices and writes each shard."""

    def __init__(self, scorer_name: str, scorer_options: Mapping[str, Any], dataset_factory: Callable[[], Any],
                 questions: Sequence[Any], shard_dir: str) -> None:
        from fgkd.scorers import get_scorer

        self.scorer = get_scorer(scorer_name, **dict(scorer_options))
        self.dataset = dataset_factory()
        self.questions = list(questions)
        self.shard_dir = Path(shard_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from torch.utils.data import Subset

        from fgkd.determinism import SHARED_THREADS, deterministic, device_of
        from fgkd.scorers.cache import as_scores

        for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist()):
            images = Subset(self.dataset, range(start, stop))
            with deterministic(SHARED_THREADS, device_of(self.scorer), warn_only=True):
                scores = as_scores(self.scorer.score(images, self.questions), (stop - start, len(self.questions)))
            atomic_savez(self.shard_dir / shard_file(start, stop), scores=scores)
        return {"start": batch["start"], "stop": batch["stop"]}


def _provenance(scorer_name: str, scorer_options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(provenance, determinism)`` of the scorer where the actors run: what keys the cache, and
    the thread and algorithm settings the actors score under (recorded beside the matrix)."""
    from fgkd.determinism import SHARED_THREADS, deterministic, device_of
    from fgkd.scorers import get_scorer

    scorer = get_scorer(scorer_name, **dict(scorer_options))
    with deterministic(SHARED_THREADS, device_of(scorer), warn_only=True) as determinism:
        return scorer.provenance, determinism


def shard_ranges(num_images: int, shard_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(num_images)`` in order."""
    return [(s, min(s + shard_size, num_images)) for s in range(0, num_images, shard_size)]


def shard_file(start: int, stop: int) -> str:
    """A shard's file name in the shard folder: its image range."""
    return f"{start:09d}-{stop:09d}.npz"


def ray_cached_scores(scorer_name: str, scorer_options: Mapping[str, Any], dataset_factory: Callable[[], Any],
                      questions: Sequence[Any], *, dataset_id: str, split: str, shard_size: int = 256,
                      num_actors: int = 1, num_gpus_per_actor: float = 0.0, num_cpus_per_actor: float = 1.0,
                      progress: bool = False) -> np.ndarray:
    """The scorer's P(yes) ``[N, Q]`` float64 on the dataset, computed on Ray, cached as
    :func:`fgkd.scorers.cached_scores` caches it (same file, same key, same bytes).

    ``dataset_factory`` builds the dataset inside each actor (a ``functools.partial`` of
    ``fgkd.data.get_dataset``: datasets are rebuilt where they are read, not shipped).
    ``num_gpus_per_actor=1`` gives each actor its own GPU (one model per GPU).
    """
    ray = _require_ray()
    from fgkd.scorers.cache import _check_key, cache_paths, question_record, read_cached, write_cached

    _check_key(dataset_id, split)
    if len(questions) == 0:
        raise ValueError("no aspect questions given")
    if shard_size < 1 or num_actors < 1:
        raise ValueError(f"shard_size and num_actors must be >= 1, got {shard_size}, {num_actors}")
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = progress
    # the cache key needs the scorer's provenance: asked of a task placed like the actors
    provenance, determinism = ray.get(ray.remote(num_gpus=num_gpus_per_actor, num_cpus=num_cpus_per_actor)(
        _provenance).remote(scorer_name, dict(scorer_options)))
    num_images = len(dataset_factory())
    items = [question_record(q) for q in questions]
    paths = cache_paths(SimpleNamespace(provenance=provenance), num_images, items, dataset_id=dataset_id,
                        split=split, what="aspects")
    shape = (num_images, len(questions))
    cached = read_cached(paths, shape)
    if cached is not None:
        return cached
    shard_dir = paths[0].with_suffix(".shards")
    shard_dir.mkdir(parents=True, exist_ok=True)
    shards = shard_ranges(num_images, shard_size)
    todo = [(s, e) for s, e in shards if not (shard_dir / shard_file(s, e)).exists()]  # resume: skip what is there
    if todo:
        from ray.data import ActorPoolStrategy

        items_ds = ray.data.from_items([{"start": s, "stop": e} for s, e in todo], override_num_blocks=len(todo))
        items_ds.map_batches(_ScorerActor, batch_size=1, compute=ActorPoolStrategy(size=num_actors),
                             num_gpus=num_gpus_per_actor, num_cpus=num_cpus_per_actor,
                             fn_constructor_args=(scorer_name, dict(scorer_options), dataset_factory, list(questions),
                                                  str(shard_dir))).materialize()
    parts = []
    for s, e in shards:
        with np.load(shard_dir / shard_file(s, e)) as data:
            parts.append(data["scores"])
    scores = np.concatenate(parts)
    write_cached(paths, scores, determinism, computed_by=f"ray ({len(shards)} shards of {shard_size})")
    return scores
