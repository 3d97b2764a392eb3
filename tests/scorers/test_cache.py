"""The P(yes) score cache (fgkd.scorers.cache), exercised with the oracle scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scorer_fakes import ATTRS, GT, QUESTIONS, FakeWorldDataset

from fgkd.paths import cache_dir
from fgkd.scorers import cache_paths, cached_scores
from fgkd.scorers.oracle import OracleAspectScorer


class CountingOracle(OracleAspectScorer):
    calls = 0

    def score(self, images, questions):
        type(self).calls += 1
        return super().score(images, questions)


def test_cache_hit_does_not_recompute_and_stores_provenance():
    data = FakeWorldDataset(ATTRS)
    scorer = CountingOracle(noise=0.5)
    CountingOracle.calls = 0
    first = cached_scores(scorer, data, QUESTIONS, dataset_id="world:bird", split="train")
    second = cached_scores(scorer, data, QUESTIONS, dataset_id="world:bird", split="train")
    assert CountingOracle.calls == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, OracleAspectScorer(noise=0.5).score(data, QUESTIONS))

    npz, meta, _ = cache_paths(
        scorer, len(data), [q.to_dict() for q in QUESTIONS], dataset_id="world:bird", split="train", what="aspects"
    )
    assert npz.parent == cache_dir("aspects") and npz.exists() and meta.exists()
    stored = json.loads(meta.read_text())
    assert stored["key"]["scorer"] == scorer.provenance
    assert stored["key"]["columns"][0]["text"] == QUESTIONS[0].text
    assert stored["shape"] == [6, 3]
    assert not list(npz.parent.glob("*.tmp"))  # atomic writes leave no temporary files

    # another split, other questions or another scorer setting is another entry
    cached_scores(scorer, data, QUESTIONS, dataset_id="world:bird", split="test")
    cached_scores(scorer, data, QUESTIONS[:2], dataset_id="world:bird", split="train")
    cached_scores(CountingOracle(noise=0.7), data, QUESTIONS, dataset_id="world:bird", split="train")
    assert CountingOracle.calls == 4


def test_cache_rejects_a_tampered_key_and_bad_scores():
    data = FakeWorldDataset(ATTRS)
    scorer = CountingOracle()
    CountingOracle.calls = 0
    cached_scores(scorer, data, QUESTIONS, dataset_id="w", split="s")
    records = [q.to_dict() for q in QUESTIONS]
    _, meta, _ = cache_paths(scorer, len(data), records, dataset_id="w", split="s", what="aspects")
    stored = json.loads(meta.read_text())
    stored["key"]["split"] = "other"
    meta.write_text(json.dumps(stored))
    cached_scores(scorer, data, QUESTIONS, dataset_id="w", split="s")
    assert CountingOracle.calls == 2

    class Broken(OracleAspectScorer):
        def score(self, images, questions):
            return np.full((len(images), len(questions)), 1.5)

    with pytest.raises(ValueError, match="outside"):
        cached_scores(Broken(), data, QUESTIONS, dataset_id="broken", split="s")
    with pytest.raises(ValueError, match="dataset_id"):
        cached_scores(scorer, data, QUESTIONS, dataset_id="", split="s")


def test_cache_accepts_torch_scores_from_a_scorer():
    class TorchScorer(OracleAspectScorer):
        def score(self, images, questions):
            return torch.from_numpy(super().score(images, questions)).float()

    q = cached_scores(TorchScorer(), FakeWorldDataset(ATTRS), QUESTIONS, dataset_id="w", split="s")
    assert isinstance(q, np.ndarray) and q.dtype == np.float64
    np.testing.assert_array_equal(q.round(), GT)


def test_cache_file_names_and_keys_are_unchanged_by_the_move():
    # Users' caches hold scores under these names: pinned to what fgkd.teachers.aspects wrote.
    npz, meta, record = cache_paths(
        OracleAspectScorer(noise=0.5), 6, [q.to_dict() for q in QUESTIONS], dataset_id="world:bird", split="train",
        what="aspects",
    )
    assert npz.parent == cache_dir("aspects")
    stem = "world_bird-train-aspects-48f39939507a3fe1"
    assert (npz.name, meta.name) == (f"{stem}.npz", f"{stem}.json")
    assert sorted(record) == ["columns", "dataset_id", "format", "num_images", "scorer", "split", "what"]
