"""The template backend on the embedded world (all domains)."""

import numpy as np
import pytest

from fgkd.data.world import DOMAINS, World, WorldConfig
from fgkd.llm import AspectQuestion, answer_matrix, get_llm
from fgkd.llm.questions import answers_from_indices
from fgkd.llm.template import rank_questions


@pytest.fixture(scope="module", params=list(DOMAINS))
def world(request):
    return World(WorldConfig(domain=request.param, num_classes=20, seed=0))


def bare(phrase):
    return phrase[2:] if phrase.startswith("a ") else phrase[3:] if phrase.startswith("an ") else phrase


@pytest.mark.parametrize("max_words", [70, 40, 20, 10])
def test_descriptions_respect_length_and_lead_with_distinctive_attributes(world, max_words):
    for style in ("a", "b"):
        llm = get_llm("template", world=world, style=style)
        out = llm.describe(world.class_names, max_words=max_words)
        assert list(out) == world.class_names
        for name, text in out.items():
            n = len(text.split())
            assert n <= max_words
            assert n >= min(max_words, 30) - 8  # fills the budget up to about one filler sentence
            parts, _ = llm.facts(name)
            assert bare(parts[0].phrase) in text, (style, max_words, text)
            if max_words >= 20:
                assert name in text


def test_attribute_order_puts_sibling_differences_first(world):
    llm = get_llm("template", world=world)
    for cls in world.classes:
        siblings = [c for c in world.classes if c.superclass == cls.superclass and c.name != cls.name]
        parts, context = llm.facts(cls.name)
        assert [f.attribute for f in context] == [a.name for a in world.domain.attributes if a.context]
        differing = {a for s in siblings for a, v in s.values.items() if v != cls.values[a]}
        differing -= {f.attribute for f in context}
        assert {f.attribute for f in parts[: len(differing)]} == differing


def test_long_descriptions_carry_all_attributes_and_soft_context(world):
    for style in ("a", "b"):
        llm = get_llm("template", world=world, style=style)
        out = llm.describe(world.class_names, max_words=70)
        for cls in world.classes:
            text = out[cls.name]
            parts, context = llm.facts(cls.name)
            for fact in parts:
                assert bare(fact.phrase) in text, (fact.phrase, text)
            where = " ".join(world.domain.attribute(f.attribute).phrase(f.value) for f in context)
            soft = f"often seen {where}" if style == "a" else f"usually found {where}"
            assert soft in text, text


def test_two_styles_differ_and_are_deterministic(world):
    a = get_llm("template", world=world, style="a").describe(world.class_names)
    b = get_llm("template", world=world, style="b").describe(world.class_names)
    assert all(a[n] != b[n] for n in world.class_names)
    assert all(a[n].split(".")[0] != b[n].split(".")[0] for n in world.class_names)
    assert get_llm("template", world=world, style="a").describe(world.class_names) == a
    other_seed = get_llm("template", world=world, style="a", seed=1).describe(world.class_names)
    assert other_seed != a  # the seed varies filler and wording...
    for name in world.class_names:  # ...but not the facts sentence
        assert other_seed[name].split(".")[0] == a[name].split(".")[0]


def test_question_answers_match_class_attributes(world):
    llm = get_llm("template", world=world)
    questions = llm.aspect_questions(world.class_names, n_generate=100, n_select=50)
    assert len(questions) == 50
    assert len({q.text for q in questions}) == 50
    for q in questions:
        expected = tuple(
            int(all(c.values[attr] in allowed for attr, allowed in q.rule)) for c in world.classes
        )
        assert q.answers == expected
        assert q.text.endswith("?") and q.affirmative != q.negative
        if "+" not in q.attribute and q.value in world.domain.attribute(q.attribute).values:
            spec = world.domain.attribute(q.attribute)
            assert q.rule == ((q.attribute, (q.value,)),)
            assert q.answers == tuple(int(c.values[q.attribute] == q.value) for c in world.classes)
            assert spec.phrase(q.value) in q.text and spec.phrase(q.value) in q.affirmative
    # Ranked by discrimination: the top question splits the classes, none in the top 10 is constant.
    assert all(0 < sum(q.answers) < len(world.classes) for q in questions[:10])
    assert answer_matrix(questions).shape == (len(world.classes), 50)


def test_contrasts_list_every_value_and_mark_the_rule_as_yes(world):
    questions = get_llm("template", world=world).aspect_questions(world.class_names, 100, 50)
    for q in questions:
        assert q.contrasts is not None and len(q.contrasts) == len(q.rule)
        for (attr, allowed), (statements, yes) in zip(q.rule, q.contrasts, strict=True):
            spec = world.domain.attribute(attr)
            assert len(statements) == len(spec.values)  # one closed choice per value of the aspect
            assert [spec.values[i] for i in yes] == [v for v in spec.values if v in allowed]
            for value, statement in zip(spec.values, statements, strict=True):
                assert spec.phrase(value) in statement and "without" not in statement
    assert AspectQuestion.from_dict(questions[0].to_dict()) == questions[0]


def test_per_image_answers_follow_the_rules(world):
    questions = get_llm("template", world=world).aspect_questions(world.class_names, 100, 30)
    attrs = world.domain.attributes
    # One "image" per class showing its preferred context: answers equal the class answers.
    indices = np.array([[a.values.index(c.values[a.name]) for a in attrs] for c in world.classes])
    np.testing.assert_array_equal(answers_from_indices(questions, attrs, indices), answer_matrix(questions))


def test_top_k_is_a_prefix(world):
    llm = get_llm("template", world=world)
    full = llm.aspect_questions(world.class_names, n_generate=100, n_select=50)
    for k in (10, 20, 30):
        assert llm.aspect_questions(world.class_names, n_generate=100, n_select=k) == full[:k]


def test_generation_step_and_errors(world):
    llm = get_llm("template", world=world)
    few = llm.aspect_questions(world.class_names, n_generate=12, n_select=12)
    assert all("+" not in q.attribute for q in few)  # simple questions are written first
    names = world.class_names[:5][::-1]
    by_name = {c.name: c for c in world.classes}
    for q in llm.aspect_questions(names, n_generate=20, n_select=5):
        assert q.answers == tuple(q.answer_for(by_name[n].values) for n in names)
    with pytest.raises(KeyError, match="'Nope' is not in this"):
        llm.describe(["Nope"])
    with pytest.raises(ValueError, match="fewer than n_select=10000"):
        llm.aspect_questions(world.class_names, n_generate=10000, n_select=10000)
    with pytest.raises(ValueError, match="style"):
        get_llm("template", world=world, style="c")


def test_rank_questions_prefers_informative_and_distinct():
    a = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    answers = np.stack([
        np.zeros(8),                          # constant: useless
        np.array([1, 0, 0, 0, 0, 0, 0, 0]),   # low entropy
        a,                                    # max entropy
        1 - a,                                # complement of the best: redundant
        np.array([1, 0, 1, 0, 1, 0, 1, 0]),   # max entropy, only partly correlated with a
    ])
    order = rank_questions(answers)
    assert order[:2] == [2, 4]
    assert order.index(3) > order.index(1)  # the complement falls behind a low-entropy question
    rng = np.random.default_rng(0)
    assert sorted(rank_questions(rng.integers(0, 2, (30, 12)))) == list(range(30))


def test_questions_do_not_depend_on_style(world):
    qa = get_llm("template", world=world, style="a").aspect_questions(world.class_names, 100, 20)
    qb = get_llm("template", world=world, style="b").aspect_questions(world.class_names, 100, 20)
    assert qa == qb
