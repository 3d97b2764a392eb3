import csv
import json

import pytest

from fgkd.llm import AspectQuestion, get_llm
from fgkd.llm.file_backend import write_descriptions, write_questions

CLASSES = ["Pelagic Cormorant", "Least Flycatcher"]
DESCRIPTIONS = {
    "Pelagic Cormorant": "The Pelagic Cormorant is a sleek seabird with a glossy black body.",
    "Least Flycatcher": "The Least Flycatcher is a small bird with an olive back.",
}
QUESTIONS = [
    AspectQuestion("Does the bird have red wings?", "a photo of a bird with red wings",
                   "a photo of a bird without red wings", "wing_color", "red", (1, 0)),
    AspectQuestion("Is the bird in a forest?", "a photo of a bird in a forest",
                   "a photo of a bird not in a forest", "habitat", "forest", (0, 1)),
    AspectQuestion("Is there water nearby?", "a photo with water nearby", "a photo without water nearby"),
]


def test_json_round_trip(tmp_path):
    write_descriptions(tmp_path / "d.json", DESCRIPTIONS)
    write_questions(tmp_path / "q.json", QUESTIONS, class_names=CLASSES)
    llm = get_llm("file", descriptions=tmp_path / "d.json", questions=tmp_path / "q.json")
    assert llm.describe(CLASSES) == DESCRIPTIONS
    assert llm.aspect_questions(CLASSES, n_generate=3, n_select=3) == QUESTIONS
    # A prefix, and answers follow the order of the class names asked for.
    reordered = llm.aspect_questions(CLASSES[::-1], n_generate=100, n_select=2)
    assert [q.answers for q in reordered] == [(0, 1), (1, 0)]


def test_describe_cuts_to_max_words(tmp_path):
    write_descriptions(tmp_path / "d.json", DESCRIPTIONS)
    out = get_llm("file", descriptions=tmp_path / "d.json").describe(CLASSES, max_words=4)
    assert out["Least Flycatcher"] == "The Least Flycatcher is"


def test_missing_class_names_class_and_file(tmp_path):
    write_descriptions(tmp_path / "d.json", DESCRIPTIONS)
    llm = get_llm("file", descriptions=tmp_path / "d.json")
    with pytest.raises(KeyError, match=r"'White Pelican'.*d\.json"):
        llm.describe(CLASSES + ["White Pelican"])


def test_csv_files_and_plain_string_questions(tmp_path):
    with open(tmp_path / "d.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["class", "description"])
        w.writerows(DESCRIPTIONS.items())
    with open(tmp_path / "q.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question"])
        w.writerows([["Does the bird have red wings?"], ["Is the bird red?"]])
    (tmp_path / "q.json").write_text(json.dumps(["Does the bird have red wings?", "Is the bird red?"]))
    llm = get_llm("file", descriptions=tmp_path / "d.csv", questions=tmp_path / "q.csv")
    assert llm.describe(CLASSES) == DESCRIPTIONS
    from_csv = llm.aspect_questions(CLASSES, n_generate=2, n_select=2)
    from_json = get_llm("file", questions=tmp_path / "q.json").aspect_questions(CLASSES, 2, 2)
    assert from_csv == from_json
    assert from_csv[1].affirmative == "a photo where the bird is red"
    assert from_csv[0].answers is None


def test_too_few_questions_and_missing_answers(tmp_path):
    write_questions(tmp_path / "q.json", QUESTIONS, class_names=CLASSES)
    llm = get_llm("file", questions=tmp_path / "q.json")
    with pytest.raises(ValueError, match="holds 3 questions, fewer than n_select=5"):
        llm.aspect_questions(CLASSES, n_generate=10, n_select=5)
    with pytest.raises(KeyError, match="'White Pelican' has no answer"):
        llm.aspect_questions(CLASSES + ["White Pelican"], n_generate=3, n_select=3)


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        get_llm("file", descriptions=tmp_path / "nope.json")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match=".json or .csv"):
        get_llm("file", descriptions=tmp_path / "d.txt")
    with pytest.raises(ValueError, match="descriptions="):
        get_llm("file")


def test_round_trip_of_template_output(tmp_path):
    from fgkd.data.world import World, WorldConfig

    world = World(WorldConfig(domain="bird", num_classes=8, seed=0))
    template = get_llm("template", world=world, style="b")
    descriptions = template.describe(world.class_names, max_words=40)
    questions = template.aspect_questions(world.class_names, n_generate=60, n_select=20)
    write_descriptions(tmp_path / "d.json", descriptions)
    write_questions(tmp_path / "q.json", questions, class_names=world.class_names)
    pinned = get_llm("file", descriptions=tmp_path / "d.json", questions=tmp_path / "q.json")
    assert pinned.describe(world.class_names, max_words=40) == descriptions
    assert pinned.aspect_questions(world.class_names, n_generate=60, n_select=20) == questions


def test_reads_the_lead_authors_description_csv_as_they_ship_it(tmp_path):
    # HuiGuanLab/LEAD-pp text_description/output_bird.csv: header "class name,description", one
    # quoted description per class; the random-label files add a trailing comma to every line.
    path = tmp_path / "output_bird.csv"
    path.write_text('class name,description,\n'
                    'Black footed Albatross,"The Black-footed Albatross has dark plumage, a pale face.",\n'
                    'Laysan Albatross,"A white head and body, dark wings.",\n', encoding="utf-8")
    llm = get_llm("file", descriptions=str(path))
    out = llm.describe(["Black footed Albatross", "Laysan Albatross"])
    assert out["Black footed Albatross"] == "The Black-footed Albatross has dark plumage, a pale face."
    assert out["Laysan Albatross"] == "A white head and body, dark wings."


def test_reads_the_makd_authors_question_text_file(tmp_path):
    path = tmp_path / "oxfordpets.txt"
    path.write_text("Does the pet have long fur?\n\nIs the pet's face flat?\n", encoding="utf-8")
    questions = get_llm("file", questions=str(path)).aspect_questions(["Persian", "Pug"], n_select=2)
    assert [q.text for q in questions] == ["Does the pet have long fur?", "Is the pet's face flat?"]
    with pytest.raises(ValueError, match=r"must end in \.json or \.csv"):
        get_llm("file", descriptions=str(path))
