"""Params sets: where they live, how to name one, and the shared recipe each holds.

A params set is a folder. fgkd ships three under ``params/`` at the repository root:

- ``embedded`` (the default): offline, CPU, the procedural world and fgkd's embedded teachers;
- ``paper``: the papers' real datasets, teachers, LLMs, scorer and schedules;
- ``smoke``: tiny, so CI executes every notebook in seconds.

Any folder of the same shape works too (``fgkd reproduce --params path/to/folder``)::

    <set>/lead.yaml          the recipe every LEAD notebook shares (fgkd.experiments.lead.Recipe)
    <set>/makd.yaml          the recipe every MaKD notebook shares (fgkd.experiments.makd.Recipe)
    <set>/<notebook>.yaml    that notebook's own parameters only

A recipe key is set once per set, in its paper's file, so one edit (``epochs: 10`` in
``lead.yaml``) changes every LEAD notebook and runs two notebooks share keep one config hash.

This module is a leaf (standard library and yaml only): ``fgkd.experiments.lead.recipe_from``
reads the recipe through :func:`recipe_values`, and :mod:`fgkd.reproduce.params` builds on it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable, Sequence

import yaml

PARAMS_SETS = ("embedded", "paper", "paper-code", "smoke")
DEFAULT_SET = "embedded"
PAPERS = ("lead", "makd")
"""Papers with a shared recipe: ``<set>/<paper>.yaml``."""
PAPER_NAMES = {"lead": "LEAD", "makd": "MaKD"}
RENAMED_KEYS = {"lead": {"kd_temperature": "category_temperature"}}
"""Recipe keys that were renamed, old -> new: a recipe file with the old name is told the new one."""


class ParamsError(ValueError):
    """Params that cannot run: the message lists every problem with its file, notebook, key and fix."""

    def __init__(self, problems: Sequence["Problem"] | str):
        self.problems: list[Problem] = [] if isinstance(problems, str) else list(problems)
        if isinstance(problems, str):
            message = problems
        elif len(self.problems) == 1:
            message = self.problems[0].format()
        else:
            # one line per (problem, fix): the same missing weights named by 14 notebooks is one message
            groups: dict[tuple[str, str], list[Problem]] = {}
            for p in self.problems:
                groups.setdefault((p.problem, p.fix), []).append(p)
            lines = []
            for (problem, fix), found in groups.items():
                if len(found) == 1:
                    lines.append(f"  - {found[0].format()}")
                else:
                    places = "; ".join(p.place() for p in found)
                    lines.append(f"  - {problem}. Fix: {fix}\n    ({len(found)} places: {places})")
            message = f"{len(self.problems)} problems with the notebook params:\n" + "\n".join(lines)
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one key of one params file (``notebook`` None: a shared recipe file)."""

    params_file: Path
    notebook: Path | None
    key: str
    problem: str
    fix: str

    def place(self) -> str:
        where = f"notebook {self.notebook}" if self.notebook is not None else "shared recipe"
        return f"{self.params_file}: key {self.key!r} ({where})"

    def format(self) -> str:
        return f"{self.place()}: {self.problem}. Fix: {self.fix}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, else ``""``."""
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key_problem(path: Path, notebook: Path | None, key: str, known: Collection[str], what: str) -> Problem:
    """``key`` is not one of ``known`` (``what``: "a parameter of the notebook"...), with the closest
    name as the fix, or the list of names when none is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return Problem(path, notebook, key, f"is not {what}{did_you_mean(key, known)}",
                   f"rename it to {close[0]!r}" if close else f"use one of: {', '.join(sorted(known))}")


# --- where params sets and notebooks live ------------------------------------------------------


def find_repo_folder(name: str) -> Path:
    """``<repo>/<name>``: beside the ``fgkd`` package (source checkout, editable install), else in
    the current directory. Raises ``FileNotFoundError`` naming both places."""
    beside_package = Path(__file__).resolve().parents[2] / name
    in_cwd = Path.cwd() / name
    for candidate in (beside_package, in_cwd):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"No '{name}/' folder beside the fgkd package ({beside_package}) or in the current directory "
        f"({in_cwd}). Run from the fgkd repository root, or pass the folder explicitly."
    )


def params_root() -> Path:
    """The ``params/`` folder holding the shipped params sets."""
    return find_repo_folder("params")


def notebooks_root() -> Path:
    """The repository's ``notebooks/`` folder."""
    return find_repo_folder("notebooks")


def list_params_sets() -> list[str]:
    """Names of the params sets under :func:`params_root`."""
    return sorted(p.name for p in params_root().iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class ParamsSet:
    """A params set: its ``name`` (used for ``reports/<name>/``) and its ``folder``."""

    name: str
    folder: Path

    @property
    def ref(self) -> str:
        """What to pass as a notebook's ``params_set`` to mean this set: the name of a shipped set,
        else the folder's absolute path."""
        if _shipped(self.name) and (params_root() / self.name).resolve() == Path(self.folder).resolve():
            return self.name
        return str(Path(self.folder).resolve())

    def file_for(self, notebook: str | os.PathLike) -> Path:
        """``<folder>/<notebook stem>.yaml``."""
        return self.folder / f"{Path(notebook).stem}.yaml"

    def recipe_file(self, paper: str) -> Path:
        """``<folder>/<paper>.yaml``: the recipe every notebook of ``paper`` shares."""
        if paper not in PAPERS:
            raise ValueError(f"no shared recipe for paper {paper!r}; papers: {', '.join(PAPERS)}")
        return self.folder / f"{paper}.yaml"

    def read(self, notebook: str | os.PathLike) -> dict[str, Any]:
        """The raw mapping of the notebook's own file (not validated); ``ParamsError`` if unreadable."""
        return read_yaml(self.file_for(notebook), Path(notebook))


def resolve_params_set(name_or_folder: str | os.PathLike | ParamsSet = DEFAULT_SET) -> ParamsSet:
    """A params set from a shipped set's name (``"smoke"``) or the path of a folder of the same shape.

    A folder's set name is the folder's name (reports go to ``reports/<name>/``). Raises
    :class:`ParamsError` naming the known sets when neither fits.
    """
    if isinstance(name_or_folder, ParamsSet):
        return name_or_folder
    text = os.fspath(name_or_folder)
    if text and os.sep not in text and "/" not in text and _shipped(text):
        return ParamsSet(name=text, folder=params_root() / text)
    folder = Path(text).expanduser()
    if text and folder.is_dir():
        return ParamsSet(name=folder.resolve().name, folder=folder.resolve())
    try:
        known = list_params_sets()
        where = f" (in {params_root()})"
    except FileNotFoundError:
        known, where = [], ""
    raise ParamsError(
        f"Unknown params set {text!r}{did_you_mean(text, known)}: it is neither a set name nor an "
        f"existing folder. Known sets{where}: {', '.join(known) or 'none found'}; or pass the path of a "
        f"folder holding lead.yaml, makd.yaml and <notebook>.yaml files."
    )


def _shipped(name: str) -> bool:
    try:
        return (params_root() / name).is_dir()
    except FileNotFoundError:
        return False


def recipe_key_problem(path: Path, paper: str, key: str, fields: Collection[str]) -> Problem:
    """``key`` of recipe file ``path`` is no field of ``paper``'s Recipe: its new name if it was
    renamed, else the closest field."""
    new = RENAMED_KEYS.get(paper, {}).get(key)
    if new in fields:
        return Problem(path, None, key, f"is not a key of the {PAPER_NAMES[paper]} recipe (renamed to {new!r})",
                       f"rename it to {new!r}")
    return unknown_key_problem(path, None, key, fields, f"a key of the {PAPER_NAMES[paper]} recipe")


# --- reading files -------------------------------------------------------------------------------


def read_yaml(path: str | os.PathLike, notebook: Path | None = None, *, missing_fix: str = "") -> dict[str, Any]:
    """The mapping in YAML file ``path`` (an empty file is ``{}``); :class:`ParamsError` naming the
    file when it is missing, not YAML or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError([Problem(path, notebook, "(file)", "the params file does not exist",
                                   missing_fix or f"create {path} (an empty file uses the notebook's defaults)")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ParamsError([Problem(path, notebook, "(file)", f"not valid YAML: {error}",
                                   "write one 'key: value' per line")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError([Problem(path, notebook, "(file)", f"holds a {type(data).__name__}, not a mapping",
                                   "write one 'key: value' per line")])
    return {str(k): v for k, v in data.items()}


def recipe_values(params_set: str | os.PathLike | ParamsSet, paper: str,
                  fields: Collection[str] | None = None) -> dict[str, Any]:
    """The shared recipe of ``paper`` (``"lead"`` or ``"makd"``) in ``params_set``: the mapping in
    ``<set>/<paper>.yaml``, not yet checked against the Recipe's types.

    With ``fields`` (the Recipe's field names), a key that is not one is a :class:`ParamsError`
    naming the file, the key and the closest field; all such keys are reported at once.
    """
    pset = resolve_params_set(params_set)
    path = pset.recipe_file(paper)
    values = read_yaml(path, missing_fix=f"create {path} with the {PAPER_NAMES[paper]} recipe (copy "
                                         f"params/embedded/{paper}.yaml and edit it)")
    if fields is not None:
        unknown = [k for k in values if k not in fields]
        if unknown:
            raise ParamsError([recipe_key_problem(path, paper, key, fields) for key in unknown])
    return values
