"""The Ray Data scoring path: the same scores and cache file as in-process scoring, resumed from shards."""

import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teachers"))
from tiny_vlm import save_tiny_vlm  # noqa: E402

ray = pytest.importorskip("ray", reason="the Ray path is optional: pip install 'fgkd[scale]' (in .[dev])")

from fgkd.data import get_dataset  # noqa: E402
from fgkd.scorers import cached_scores, get_scorer  # noqa: E402
from fgkd.scorers.scale import ray_cached_scores, shard_ranges  # noqa: E402

QUESTIONS = ["Is the bird red?", "Are the wings blue?", "Is the bird in the sky?"]


def test_shard_ranges_cover_every_image_once():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(3, 5) == [(0, 3)]


@pytest.mark.slow
def test_ray_scores_equal_in_process_scores_and_resume_from_their_shards(tmp_path, monkeypatch):
    vlm = save_tiny_vlm(tmp_path / "vlm")
    options = {"model_id": str(vlm), "device": "cpu", "question_batch_size": 2}
    factory = partial(get_dataset, "world:bird", split="train", num_classes=2, train_per_class=5, image_size=32)
    reference = cached_scores(get_scorer("vlm", **options), factory(), QUESTIONS, dataset_id="world:bird", split="train")
    reference_files = sorted(p.name for p in (Path(os.environ["FGKD_CACHE_DIR"]) / "aspects").iterdir())

    monkeypatch.setenv("FGKD_CACHE_DIR", str(tmp_path / "ray_cache"))  # another cache: Ray computes it all
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        scores = ray_cached_scores("vlm", options, factory, QUESTIONS, dataset_id="world:bird", split="train",
                                   shard_size=4, num_actors=2)
        assert np.array_equal(scores, reference)  # the same bytes as in-process
        folder = tmp_path / "ray_cache" / "aspects"
        assert sorted(p.name for p in folder.iterdir() if p.suffix in (".npz", ".json")) == reference_files
        # in-process scoring now reads the matrix Ray wrote
        again = cached_scores(get_scorer("vlm", **options), factory(), QUESTIONS, dataset_id="world:bird", split="train")
        assert np.array_equal(again, reference)
        # a failure lost the matrix and one shard: only that shard is scored again
        [shards] = list(folder.glob("*.shards"))
        for p in folder.glob("*-aspects-*.*"):
            if p.suffix in (".npz", ".json"):
                p.unlink()
        kept = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
        lost = sorted(kept)[1]
        (shards / lost).unlink()
        resumed = ray_cached_scores("vlm", options, factory, QUESTIONS, dataset_id="world:bird", split="train",
                                    shard_size=4, num_actors=2)
        assert np.array_equal(resumed, reference)
        after = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
        assert set(after) == set(kept) and all(after[n] == kept[n] for n in kept if n != lost)
    finally:
        ray.shutdown()
