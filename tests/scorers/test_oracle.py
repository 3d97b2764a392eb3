"""The oracle scorer: the world's ground truth plus controlled noise (fgkd.scorers.oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scorer_fakes import ATTRS, GT, QUESTIONS, FakeWorldDataset

from fgkd.llm.questions import AspectQuestion
from fgkd.scorers import get_scorer
from fgkd.scorers.oracle import OracleAspectScorer, OracleConfig, ground_truth


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
