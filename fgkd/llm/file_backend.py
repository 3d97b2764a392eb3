"""Descriptions and questions read from committed files (JSON or CSV).

The way to pin an LLM's output in a repository: write it once with :func:`write_descriptions` /
:func:`write_questions` (or by hand), commit it, and read it with
``get_llm("file", descriptions="descriptions.json", questions="questions.json")``.

Formats:

- descriptions, JSON: ``{"Class name": "description", ...}``;
  CSV: a header with ``class`` (or ``class name``, the LEAD authors' ``text_description/output_*.csv``
  of HuiGuanLab/LEAD-pp, read as they ship it) and ``description`` columns.
- questions, JSON: a list, best first, of question strings or of objects with ``text`` and
  optionally ``affirmative``, ``negative``, ``attribute``, ``value`` and ``answers`` (a
  ``{class: 0|1}`` mapping, or a list aligned with a top-level ``classes`` list when the file is
  ``{"classes": [...], "questions": [...]}``); CSV: a header with a ``text`` (or ``question``)
  column and optionally ``affirmative`` and ``negative``; TXT: one question per line, best first
  (the MaKD authors' question files, e.g. ``oxfordpets.txt``).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Sequence

from fgkd.io import atomic_write_json
from fgkd.llm.base import (
    LLM,
    MAX_WORDS_LIMIT,
    clean_description,
    validate_class_names,
    validate_max_words,
    validate_question_counts,
)
from fgkd.llm.questions import AspectQuestion, derive_statements


class FileLLM(LLM):
    """Serves descriptions and questions from files; either file may be omitted.

    ``aspect_questions`` returns the first ``n_select`` questions of the file (the file's order is
    the ranking); ``n_generate`` is only checked to be >= ``n_select``, since the candidates were
    generated when the file was written.
    """

    name = "file"

    def __init__(
        self,
        descriptions: str | os.PathLike | None = None,
        questions: str | os.PathLike | None = None,
    ) -> None:
        if descriptions is None and questions is None:
            raise ValueError(
                "the 'file' LLM backend needs descriptions='path.json|csv' and/or "
                "questions='path.json|csv'"
            )
        self.descriptions_path = _existing(descriptions, "descriptions") if descriptions else None
        self.questions_path = _existing(questions, "questions") if questions else None

    def __repr__(self) -> str:
        return f"FileLLM(descriptions={self.descriptions_path}, questions={self.questions_path})"

    def describe(self, class_names: Sequence[str], max_words: int = MAX_WORDS_LIMIT) -> dict[str, str]:
        names = validate_class_names(class_names)
        validate_max_words(max_words)
        if self.descriptions_path is None:
            raise ValueError(
                "this 'file' LLM has no descriptions file; pass descriptions='path.json' to get_llm"
            )
        table = read_descriptions(self.descriptions_path)
        missing = [n for n in names if n not in table]
        if missing:
            raise KeyError(
                f"class {missing[0]!r} has no description in {self.descriptions_path}"
                + (f" (nor do {len(missing) - 1} other classes: {missing[1:4]!r}...)" if len(missing) > 1 else "")
                + "; add it to the file or regenerate the file for this dataset's classes"
            )
        return {n: clean_description(table[n], max_words) for n in names}

    def aspect_questions(
        self,
        class_names: Sequence[str],
        n_generate: int = 100,
        n_select: int = 50,
        num_images: int | None = None,  # unused: the questions are already written
        rank: bool = False,  # unused: the list is ranked already
    ) -> list[AspectQuestion]:
        names = validate_class_names(class_names)
        validate_question_counts(n_generate, n_select)
        if self.questions_path is None:
            raise ValueError("this 'file' LLM has no questions file; pass questions='path.json' to get_llm")
        questions = read_questions(self.questions_path, names)
        if len(questions) < n_select:
            raise ValueError(
                f"{self.questions_path} holds {len(questions)} questions, fewer than n_select={n_select}"
            )
        return questions[:n_select]


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    allowed = (".json", ".csv", ".txt") if what == "questions" else (".json", ".csv")
    if path.suffix.lower() not in allowed:
        raise ValueError(f"{what} file {path} must end in {' or '.join(allowed)}")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """``{class_name: description}`` from a JSON object or a CSV with class/description columns."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
        header = set(rows[0]) if rows else set()
        column = "class" if "class" in header else "class name"  # "class name": LEAD-pp's files
        if rows and not {column, "description"} <= header:
            raise ValueError(f"{path}: the CSV header must have a 'class' (or 'class name') and a "
                             "'description' column")
        return {r[column].strip(): r["description"].strip() for r in rows if (r.get(column) or "").strip()}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object {{class name: description}}")
    return data


def read_questions(path: str | os.PathLike, class_names: Sequence[str] | None = None) -> list[AspectQuestion]:
    """The questions of a file, in file order; ground-truth answers reordered to ``class_names``."""
    path = Path(path)
    file_classes: list[str] | None = None
    if path.suffix.lower() == ".txt":
        items: list[Any] = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif path.suffix.lower() == ".csv":
        rows = _read_csv(path)
        column = "text" if rows and "text" in rows[0] else "question"
        if rows and column not in rows[0]:
            raise ValueError(f"{path}: the CSV header must have a 'text' or 'question' column")
        items = [
            {k: r[k] for k in ("affirmative", "negative") if r.get(k)} | {"text": r[column]} for r in rows
        ]
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            file_classes = data.get("classes")
            data = data.get("questions")
        if not isinstance(data, list):
            raise ValueError(
                f"{path}: expected a JSON list of questions, or {{\"classes\": [...], \"questions\": [...]}}"
            )
        items = data
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(AspectQuestion.from_text(item))
            continue
        if not isinstance(item, dict) or "text" not in item:
            raise ValueError(f"{path}: question {i} must be a string or an object with 'text'")
        item = dict(item)
        item["answers"] = _align_answers(item.get("answers"), file_classes, class_names, path, item["text"])
        if item.get("affirmative") is None and item.get("negative") is None:
            statements = derive_statements(item["text"])
            if statements is not None:
                item["affirmative"], item["negative"] = statements
        out.append(AspectQuestion.from_dict(item))
    return out


def _align_answers(
    answers: Any,
    file_classes: Sequence[str] | None,
    class_names: Sequence[str] | None,
    path: Path,
    text: str,
) -> tuple[int, ...] | None:
    if answers is None:
        return None
    if isinstance(answers, list):
        if file_classes is None:
            if class_names is not None and len(answers) != len(class_names):
                raise ValueError(
                    f"{path}: question {text!r} has {len(answers)} answers for {len(class_names)} "
                    f"classes; store answers as {{class: 0|1}} or add a top-level 'classes' list"
                )
            return tuple(answers)
        answers = dict(zip(file_classes, answers))
    if not isinstance(answers, dict):
        raise ValueError(f"{path}: answers of question {text!r} must be a list or {{class: 0|1}}")
    if class_names is None:
        return tuple(answers.values())
    missing = [c for c in class_names if c not in answers]
    if missing:
        raise KeyError(f"class {missing[0]!r} has no answer to {text!r} in {path}")
    return tuple(int(answers[c]) for c in class_names)


def write_descriptions(path: str | os.PathLike, descriptions: dict[str, str]) -> None:
    """Write ``{class: description}`` as JSON (atomically), for :class:`FileLLM` to read."""
    atomic_write_json(path, dict(descriptions))


def write_questions(
    path: str | os.PathLike, questions: Sequence[AspectQuestion], class_names: Sequence[str] | None = None
) -> None:
    """Write ranked questions as JSON (atomically); ``class_names`` keys the ground-truth answers."""
    items = []
    for q in questions:
        d = q.to_dict()
        if d["answers"] is not None:
            if class_names is None:
                raise ValueError("write_questions: questions carry answers; pass class_names to key them")
            if len(class_names) != len(d["answers"]):
                raise ValueError(
                    f"write_questions: {q.text!r} has {len(d['answers'])} answers for "
                    f"{len(class_names)} class_names"
                )
            d["answers"] = dict(zip(class_names, d["answers"]))
        items.append({k: v for k, v in d.items() if v is not None})
    atomic_write_json(path, items)
