"""Scorer registry, the oracle scorer and the score cache (the VLM backend is in test_vlm.py)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from fgkd.llm.questions import AspectQuestion
from fgkd.paths import cache_dir
from fgkd.teachers.aspects import (
    OracleAspectScorer,
    OracleConfig,
    cache_paths,
    cached_scores,
    get_scorer,
    ground_truth,
    list_scorers,
)


# A world-shaped dataset (the documented contract: .attributes [N, A] value indices, one column per
# world.domain.attributes entry, and .world), small enough to reason about by hand.
@dataclass(frozen=True)
class Spec:
    name: str
    values: tuple[str, ...]


class FakeWorldDataset(torch.utils.data.Dataset):
    def __init__(self, attributes: np.ndarray):
        specs = [Spec("wing_color", ("red", "blue", "green")), Spec("habitat", ("forest", "sky"))]
        self.world = types.SimpleNamespace(domain=types.SimpleNamespace(attributes=specs))
        self.attributes = np.asarray(attributes, dtype=np.int64)
        self.targets = [0] * len(self.attributes)

    def __len__(self):
        return len(self.attributes)

    def __getitem__(self, index):
        raise AssertionError("the oracle must not read images")


ATTRS = np.array([[0, 0], [1, 1], [2, 0], [0, 1], [1, 0], [2, 1]])
QUESTIONS = [
    AspectQuestion("Does the bird have red wings?", attribute="wing_color", value="red"),
    AspectQuestion("Does the bird have blue wings?", attribute="wing_color", value="blue"),
    AspectQuestion("Is the bird in the sky?", attribute="habitat", value="sky"),
]
GT = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=float)


def test_registry_names_and_unknown_name():
    assert list_scorers() == ["clip", "oracle", "vlm"]
    with pytest.raises(ValueError, match=r"unknown aspect scorer 'gpt'.*\['clip', 'oracle', 'vlm'\]"):
        get_scorer("gpt")


def test_clip_resolves_lazily_to_the_clip_module(monkeypatch):
    received = {}

    class ClipAspectScorer:
        def __init__(self, **options):
            received.update(options)

    fake = types.ModuleType("fgkd.teachers.clip")
    fake.ClipAspectScorer = ClipAspectScorer
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", fake)
    scorer = get_scorer("clip", teacher="embedded-S", batch_size=8)
    assert isinstance(scorer, ClipAspectScorer)
    assert received == {"teacher": "embedded-S", "batch_size": 8}


def test_clip_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", types.ModuleType("fgkd.teachers.clip"))
    with pytest.raises(ImportError, match="no ClipAspectScorer"):
        get_scorer("clip")
    monkeypatch.setitem(sys.modules, "fgkd.teachers.clip", None)  # module absent
    with pytest.raises(ImportError, match="fgkd.teachers.clip"):
        get_scorer("clip")


def test_ground_truth_from_world_attributes():
    np.testing.assert_array_equal(ground_truth(FakeWorldDataset(ATTRS), QUESTIONS), GT)


def test_ground_truth_follows_rules_and_conjunctions():
    questions = [
        # a value group as the template backend writes it: "dark" = red or blue here
        AspectQuestion("Does the bird have dark wings?", attribute="wing_color", value="dark",
                       rule=(("wing_color", ("red", "blue")),)),
        AspectQuestion("Red wings in the sky?", attribute="wing_color+habitat", value="red+sky"),
    ]
    g = ground_truth(FakeWorldDataset(ATTRS), questions)
    np.testing.assert_array_equal(g[:, 0], [1, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(g[:, 1], [0, 0, 0, 1, 0, 0])


def test_oracle_on_the_real_world_with_template_questions():
    from fgkd.data import get_dataset
    from fgkd.llm import get_llm

    data = get_dataset("world:bird", split="test", num_classes=8, test_per_class=3, image_size=32,
                       pretrain_classes=32, pretrain_per_class=1)
    questions = get_llm("template", world=data.world).aspect_questions(data.classes, n_generate=40, n_select=20)
    q = get_scorer("oracle").score(data, questions)
    assert q.shape == (len(data), 20)
    labels = np.asarray(data.targets)
    context = {a.name for a in data.world.domain.attributes if a.context}
    checked = 0
    for i, question in enumerate(questions):
        # part attributes are fixed by the class: the oracle agrees with the per-class answers
        if not {attr for attr, _ in question.rule} & context:
            np.testing.assert_array_equal(q[:, i].round(), np.asarray(question.answers)[labels])
            checked += 1
    assert checked >= 10


def test_oracle_without_noise_returns_ground_truth():
    scorer = get_scorer("oracle", noise=0.0, eps=1e-3)
    q = scorer.score(FakeWorldDataset(ATTRS), QUESTIONS)
    assert q.shape == (6, 3) and np.all((q > 0) & (q < 1))
    np.testing.assert_allclose(q, np.clip(GT, 1e-3, 1 - 1e-3), atol=1e-12)
    np.testing.assert_array_equal(q.round(), GT)


def test_oracle_noise_is_seeded_per_question_and_scales():
    data = FakeWorldDataset(np.tile(ATTRS, (200, 1)))  # 1200 images
    gt = np.tile(GT, (200, 1))
    low = OracleAspectScorer(noise=1.0, seed=3).score(data, QUESTIONS)
    again = OracleAspectScorer(noise=1.0, seed=3).score(data, QUESTIONS)
    np.testing.assert_array_equal(low, again)
    other_seed = OracleAspectScorer(noise=1.0, seed=4).score(data, QUESTIONS)
    assert not np.allclose(low, other_seed)
    # a question's scores do not depend on which other questions are asked
    np.testing.assert_array_equal(OracleAspectScorer(noise=1.0, seed=3).score(data, QUESTIONS[2:]), low[:, 2:])
    # noise in logit space: the logit's spread around logit(1 - eps) is the noise sigma
    z = np.log(low) - np.log1p(-low)
    residual = z - np.where(gt == 1, 1, -1) * np.log((1 - 1e-3) / 1e-3)
    assert residual.std() == pytest.approx(1.0, abs=0.06)
    high = OracleAspectScorer(noise=8.0, seed=3).score(data, QUESTIONS)
    agree = lambda q: np.mean((q > 0.5) == (gt == 1))  # noqa: E731
    assert agree(low) == 1.0 and 0.6 < agree(high) < 0.95


def test_oracle_on_a_subset_and_its_errors():
    data = FakeWorldDataset(ATTRS)
    subset = torch.utils.data.Subset(data, [4, 1])
    q = OracleAspectScorer().score(subset, QUESTIONS)
    np.testing.assert_array_equal(q.round(), GT[[4, 1]])
    with pytest.raises(TypeError, match="world dataset"):
        OracleAspectScorer().score([object()], QUESTIONS)
    with pytest.raises(ValueError, match="rule, or attribute and value"):
        OracleAspectScorer().score(data, [AspectQuestion("Is it pretty?")])
    with pytest.raises(ValueError, match="not one of the world"):
        OracleAspectScorer().score(data, [AspectQuestion("Big?", attribute="size", value="big")])
    with pytest.raises(ValueError, match=r"\['sea'\] not values of 'habitat'"):
        OracleAspectScorer().score(data, [AspectQuestion("Sea?", attribute="habitat", value="sea")])


@pytest.mark.parametrize("field, value", [("noise", -1.0), ("eps", 0.0), ("eps", 0.5), ("seed", 1.5)])
def test_oracle_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        OracleConfig(**{field: value})


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
