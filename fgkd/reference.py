"""The numbers the LEAD and MaKD papers report, for the "paper" column of every report.

The numbers live in ``fgkd/reference_numbers.yaml`` (re-typed from the papers; see its header for
the sources). This module reads that file once and hands tables out as pandas DataFrames indexed by
the table's identifying columns, so a notebook can line its own results up against them::

    >>> paper_table("lead", "table4").loc[40, "Top-1"]
    76.42
    >>> paper_value("makd", "table1", row=("stanford_cars", "resnet18"), column="Ours")
    83.38
    >>> paper_value("makd", "params_ours_m")           # a fact given in the text
    11.25
    >>> paper_label("lead", "table4")
    'paper (CUB, ResNet50, 224 px)'

Tables and figures whose numbers did not survive text extraction are listed under
``not_available`` and raise :class:`NotAvailable` (a ``LookupError``) saying what is known instead.
Identifier values use fgkd's own names (``stanford_cars``, ``resnet18``...) so joins need no mapping.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Hashable

import yaml

DATA_FILE = "reference_numbers.yaml"
LEAD_METRICS = ("Top-1", "Top-5", "R-1", "R-5", "mAP")
"""LEAD's five metrics: linear-probe Top-1/Top-5, retrieval Rank-1/Rank-5 and mAP (percent)."""


class NotAvailable(LookupError):
    """A table, figure or fact of a paper whose numbers are not in fgkd's sources."""


@dataclass(frozen=True)
class PaperTable:
    """One table (or a figure with printed numbers) of a paper."""

    paper: str
    id: str
    title: str
    scale: str  # what the numbers were measured on, e.g. "CUB, ResNet50, 224 px"
    index: tuple[str, ...]  # the columns that identify a row
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def __post_init__(self) -> None:
        missing = [c for c in self.index if c not in self.columns]
        if missing:
            raise ValueError(f"{self.paper}/{self.id}: index columns {missing} are not among {self.columns}")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.paper}/{self.id}: row {row} has {len(row)} values for "
                                 f"{len(self.columns)} columns {self.columns}")

    @property
    def label(self) -> str:
        """``"paper (<scale>)"``: the column label reports use for these numbers."""
        return f"paper ({self.scale})"

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts, column name -> value."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_frame(self):
        """A DataFrame indexed by :attr:`index`; MaKD-style Base/Ours tables get ``Gap = Ours - Base``."""
        import pandas as pd

        frame = pd.DataFrame(self.records(), columns=list(self.columns)).set_index(list(self.index))
        if {"Base", "Ours"} <= set(frame.columns):
            # Derived, not re-typed: the paper prints the same differences (e.g. CUB +6.24).
            frame.insert(frame.columns.get_loc("Ours") + 1, "Gap", (frame["Ours"] - frame["Base"]).round(2))
        return frame


@dataclass(frozen=True)
class Fact:
    """One number a paper gives in its text (or a figure's stated trend)."""

    paper: str
    id: str
    value: float
    unit: str
    text: str
    source: str


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("fgkd").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"fgkd/{DATA_FILE} must map paper names to sections")
    return data


def list_papers() -> list[str]:
    """The papers with numbers here: ``["lead", "makd", "zeroshot_clip"]``."""
    return list(_data())


def _paper(paper: str) -> dict[str, Any]:
    data = _data()
    if paper not in data:
        raise KeyError(f"No reference numbers for paper {paper!r}{_suggest(paper, data)}; "
                       f"papers: {', '.join(data)}.")
    return data[paper]


def _suggest(name: Any, known: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def list_tables(paper: str) -> list[str]:
    """Ids of the tables (and figures with printed numbers) of ``paper`` that have numbers here."""
    return list(_paper(paper).get("tables") or {})


def list_facts(paper: str) -> list[str]:
    """Ids of the single numbers ``paper`` gives in its text."""
    return list(_paper(paper).get("facts") or {})


def not_available(paper: str) -> dict[str, str]:
    """Tables/figures of ``paper`` without numbers here, id -> what is known instead."""
    return dict(_paper(paper).get("not_available") or {})


def get_table(paper: str, table: str) -> PaperTable:
    """The :class:`PaperTable` ``table`` of ``paper``.

    Raises:
        NotAvailable: the paper has that table but its numbers are not in the sources.
        KeyError: no such table (the message suggests the closest id).
    """
    section = _paper(paper)
    tables = section.get("tables") or {}
    if table not in tables:
        missing = not_available(paper)
        if table in missing:
            raise NotAvailable(f"{paper} {table}: {missing[table]}")
        raise KeyError(f"{paper} has no table {table!r}{_suggest(table, list(tables) + list(missing))}; "
                       f"tables: {', '.join(tables)}; without numbers: {', '.join(missing) or 'none'}.")
    spec = tables[table]
    return PaperTable(
        paper=paper, id=table, title=spec["title"], scale=spec["scale"], index=tuple(spec["index"]),
        columns=tuple(spec["columns"]), rows=tuple(tuple(r) for r in spec["rows"]),
    )


def paper_table(paper: str, table: str):
    """``table`` of ``paper`` as a ``pandas.DataFrame`` indexed by its identifying column(s).

    Examples: ``paper_table("lead", "table2")`` is indexed by ``words`` with columns
    :data:`LEAD_METRICS`; ``paper_table("makd", "table1")`` by ``(dataset, backbone)`` with columns
    ``Base, Ours, Gap, MLLM``.
    """
    return get_table(paper, table).to_frame()


def paper_fact(paper: str, fact: str) -> Fact:
    """The :class:`Fact` ``fact`` of ``paper`` (value, unit, what it is, where it is stated)."""
    facts = _paper(paper).get("facts") or {}
    if fact not in facts:
        missing = not_available(paper)
        if fact in missing:
            raise NotAvailable(f"{paper} {fact}: {missing[fact]}")
        raise KeyError(f"{paper} has no fact {fact!r}{_suggest(fact, facts)}; facts: {', '.join(facts)}.")
    spec = facts[fact]
    return Fact(paper=paper, id=fact, value=spec["value"], unit=spec.get("unit", ""),
                text=" ".join(str(spec["text"]).split()), source=spec.get("source", ""))


def paper_value(paper: str, name: str, row: Hashable | None = None, column: str | None = None) -> Any:
    """One number: a table cell (``row`` and ``column`` given) or a fact (neither given).

    ``row`` is the value of the table's index column, or a tuple for a multi-column index
    (``("stanford_cars", "resnet18")``).
    """
    if row is None and column is None:
        return paper_fact(paper, name).value
    if row is None or column is None:
        raise TypeError("paper_value needs both row and column for a table cell, or neither for a fact")
    frame = paper_table(paper, name)
    if column not in frame.columns:
        raise KeyError(f"{paper} {name} has no column {column!r}{_suggest(column, frame.columns)}; "
                       f"columns: {', '.join(map(str, frame.columns))}.")
    if row not in frame.index:
        raise KeyError(f"{paper} {name} has no row {row!r}{_suggest(row, frame.index)}; "
                       f"rows: {', '.join(map(str, frame.index))}.")
    value = frame.loc[row, column]
    return value.item() if hasattr(value, "item") else value


def paper_label(paper: str, table: str) -> str:
    """``"paper (<scale>)"`` for ``table``: how reports label the paper's numbers."""
    return get_table(paper, table).label
