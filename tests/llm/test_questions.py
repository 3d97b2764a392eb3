import numpy as np
import pytest

from fgkd.llm.questions import AspectQuestion, answer_matrix, derive_statements, parse_question_list


@pytest.mark.parametrize(
    "question, affirmative, negative",
    [
        ("Does the bird have red wings?", "a photo of a bird with red wings", "a photo of a bird without red wings"),
        ("Does the car's grille have chrome trim?", "a photo of a car's grille with chrome trim", "a photo of a car's grille without chrome trim"),
        ("Is the bird in a forest?", "a photo of a bird in a forest", "a photo of a bird not in a forest"),
        ("Is the bird red?", "a photo where the bird is red", "a photo where the bird is not red"),
        ("Is the bird's beak long?", "a photo where the bird's beak is long", "a photo where the bird's beak is not long"),
        ("Are the wings pointed?", "a photo where the wings are pointed", "a photo where the wings are not pointed"),
        ("Is there water nearby?", "a photo with water nearby", "a photo without water nearby"),
        ("Can the aircraft carry passengers?", "a photo of an aircraft that can carry passengers", "a photo of an aircraft that cannot carry passengers"),
        ("Does the bird fly?", "a photo of a bird that flies", "a photo of a bird that does not fly"),
        ("Does the bird catch fish?", "a photo of a bird that catches fish", "a photo of a bird that does not catch fish"),
    ],
)
def test_derive_statements(question, affirmative, negative):
    assert derive_statements(question) == (affirmative, negative)


def test_derive_statements_gives_up_on_open_questions():
    assert derive_statements("What colour are the wings?") is None
    q = AspectQuestion.from_text("What colour are the wings?")
    assert q.affirmative is None and q.negative is None


def test_parse_numbered_bulleted_and_labelled_lists():
    reply = """Here are some questions:

1. Does the bird have red wings?
2) Is the bird in a forest? (habitat)
3. **Beak:** Does the bird have a hooked beak?
- Does the bird have a long tail?
* **Is the body striped?**
• Q6: Does the bird have a crest?
Question 7: Can the bird swim?
(8) Does the bird have RED wings ?
9. does the bird have red wings?
This line is prose, not a question.
10. Why?
"""
    assert parse_question_list(reply) == [
        "Does the bird have red wings?",
        "Is the bird in a forest?",
        "Does the bird have a hooked beak?",
        "Does the bird have a long tail?",
        "Is the body striped?",
        "Does the bird have a crest?",
        "Can the bird swim?",
    ]


def test_aspect_question_validation_and_round_trip():
    q = AspectQuestion("Does the bird have red wings?", "a", "b", "wing_color", "red", np.array([1, 0, 1]))
    assert q.answers == (1, 0, 1)
    assert AspectQuestion.from_dict(q.to_dict()) == q
    hash(q)  # frozen and hashable
    with pytest.raises(ValueError, match="0 \\(no\\) or 1"):
        AspectQuestion("Q?", answers=(0, 2))
    with pytest.raises(ValueError, match="both affirmative and negative"):
        AspectQuestion("Q?", affirmative="a photo")
    with pytest.raises(ValueError, match="attribute and value"):
        AspectQuestion("Q?", attribute="wing_color")
    with pytest.raises(ValueError, match="non-empty"):
        AspectQuestion("  ")
    with pytest.raises(ValueError, match="unknown keys"):
        AspectQuestion.from_dict({"text": "Q?", "answer": [1]})


def test_contrasts_are_validated_and_round_trip():
    contrasts = ((("with red wings", "with blue wings", "with green wings"), (0,)),
                 (("in a forest", "in a desert"), (1,)))
    q = AspectQuestion("Red wings in a desert?", contrasts=[[list(s), list(y)] for s, y in contrasts])
    assert q.contrasts == contrasts  # lists normalised to tuples: hashable, comparable
    assert AspectQuestion.from_dict(q.to_dict()) == q
    hash(q)
    for bad, match in [(((("one",), (0,)),), ">= 2 distinct"),
                       (((("a", "a"), (0,)),), ">= 2 distinct"),
                       (((("a", "b"), ()),), "proper subset"),
                       (((("a", "b"), (0, 1)),), "proper subset"),
                       (((("a", "b"), (2,)),), "proper subset"),
                       ((), "empty"),
                       ((("a", "b"),), "per clause")]:
        with pytest.raises(ValueError, match=match):
            AspectQuestion("Q?", contrasts=bad)


def test_answer_matrix_is_class_by_question():
    qs = [AspectQuestion("A?", answers=(1, 0, 0)), AspectQuestion("B?", answers=(0, 1, 1))]
    m = answer_matrix(qs)
    assert m.shape == (3, 2) and m.dtype == np.float32
    np.testing.assert_array_equal(m[:, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="no ground-truth"):
        answer_matrix([AspectQuestion("C?")])
