"""The notebooks' manifest: which notebooks there are, in which order, of which paper, how long.

``notebooks/manifest.yaml`` (any notebooks folder has its own ``manifest.yaml``) holds one entry per
notebook, in the order of the reports' index::

    lead_word_removal:
      title: "LEAD Table 4: simulated LLM errors (words removed at random)"
      paper: lead                 # lead | makd | none: the shared recipe params/<set>/lead.yaml
      reproduces: "LEAD Table 4"
      cold_seconds: 174           # measured cold embedded runtime: the longest start first

A notebook file without an entry, or an entry without its file, is an error at discovery
(:func:`discover_notebooks`), so adding a notebook is its ``.ipynb``, its params files and its entry.
The ``paper`` field says which recipe the notebook's params are checked with and whose
``embedded_teachers(params)`` names the teachers to train first (:func:`experiment_module`).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Sequence

from fgkd.reproduce.sets import PAPERS, did_you_mean, notebooks_root

MANIFEST_FILE = "manifest.yaml"
ENTRY_KEYS = ("title", "paper", "reproduces", "cold_seconds")


@dataclass(frozen=True)
class Entry:
    """One notebook of the manifest."""

    name: str  # the notebook's file stem
    title: str  # its first heading: the index row's title
    paper: str | None  # "lead" | "makd" | None (no shared recipe)
    reproduces: str  # the paper's table or figure
    cold_seconds: float  # measured runtime in a cold embedded reproduce


@dataclass(frozen=True)
class Manifest:
    """The entries of one notebooks folder's ``manifest.yaml``, in index order."""

    path: Path
    entries: Mapping[str, Entry]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> Entry:
        if name not in self.entries:
            raise KeyError(f"{self.path} has no entry {name!r}{did_you_mean(name, self.entries)}")
        return self.entries[name]

    def order_key(self, name: str) -> tuple[int, str]:
        """Index order: the manifest's, names it lacks last, alphabetically."""
        return (self.names.index(name) if name in self.entries else len(self.entries), name)

    def longest_first(self, notebooks: Sequence[Path]) -> list[Path]:
        """``notebooks`` in execution order: by measured cold seconds, longest first; notebooks
        without an entry last, in index order."""
        def key(nb: Path) -> tuple[float, tuple[int, str]]:
            entry = self.entries.get(Path(nb).stem)
            return (-(entry.cold_seconds if entry else 0.0), self.order_key(Path(nb).stem))

        return sorted(notebooks, key=key)


def _entry(path: Path, name: Any, raw: Any) -> Entry:
    where = f"{path}: entry {name!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping with {', '.join(ENTRY_KEYS)}, got {raw!r}")
    unknown = [k for k in raw if k not in ENTRY_KEYS]
    missing = [k for k in ENTRY_KEYS if k not in raw]
    if unknown or missing:
        detail = "; ".join([f"unknown key {k!r}{did_you_mean(k, ENTRY_KEYS)}" for k in unknown]
                           + [f"missing {', '.join(missing)}"] * bool(missing))
        raise ValueError(f"{where}: {detail}. Each entry has exactly: {', '.join(ENTRY_KEYS)}")
    paper = raw["paper"]
    paper = None if paper in (None, "none") else paper
    if paper is not None and paper not in PAPERS:
        raise ValueError(f"{where}: paper {raw['paper']!r}{did_you_mean(str(paper), PAPERS)} must be one of "
                         f"{', '.join(PAPERS)} or none")
    seconds = raw["cold_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"{where}: cold_seconds {seconds!r} must be a number >= 0 (the measured cold runtime)")
    for key in ("title", "reproduces"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ValueError(f"{where}: {key} must be a non-empty string, got {raw[key]!r}")
    return Entry(name=str(name), title=raw["title"], paper=paper, reproduces=raw["reproduces"],
                 cold_seconds=float(seconds))


def load_manifest(folder: str | os.PathLike | None = None) -> Manifest:
    """The manifest of a notebooks folder (default :func:`fgkd.reproduce.sets.notebooks_root`).

    Raises ``ValueError`` naming the file and the entry when it is missing or malformed.
    """
    import yaml

    folder = Path(folder) if folder is not None else notebooks_root()
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ValueError(f"{path} does not exist: every notebooks folder needs a {MANIFEST_FILE} with one entry "
                         f"({', '.join(ENTRY_KEYS)}) per notebook; see notebooks/{MANIFEST_FILE}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path} must map each notebook name to its entry ({', '.join(ENTRY_KEYS)})")
    return Manifest(path=path, entries={str(name): _entry(path, name, raw) for name, raw in data.items()})


def manifest_for(notebook: str | os.PathLike) -> Manifest | None:
    """The manifest beside ``notebook``, or None when its folder has none (a loose notebook, e.g. a
    test's)."""
    folder = Path(notebook).parent
    return load_manifest(folder) if (folder / MANIFEST_FILE).is_file() else None


def discover_notebooks(folder: str | os.PathLike | None = None, only: Sequence[str] = ()) -> list[Path]:
    """The ``*.ipynb`` of ``folder`` (default :func:`fgkd.reproduce.sets.notebooks_root`) in the
    manifest's order, restricted to ``only`` (names, with or without ``.ipynb``, or glob patterns
    such as ``makd_*``).

    Raises ``ValueError`` when the folder has no notebooks or no manifest, when a notebook has no
    manifest entry or an entry no notebook, and for a name or pattern that matches nothing (with
    a suggestion).
    """
    folder = Path(folder) if folder is not None else notebooks_root()
    if not folder.is_dir():
        raise ValueError(f"Notebooks folder {folder} does not exist; pass --notebooks DIR or run from the "
                         "repository root")
    found = [p for p in folder.glob("*.ipynb") if not p.name.startswith(".")]
    if not found:
        raise ValueError(f"No *.ipynb notebooks in {folder}")
    manifest = load_manifest(folder)
    stems = {p.stem for p in found}
    unlisted = sorted(stems - set(manifest.names))
    orphans = [name for name in manifest.names if name not in stems]
    if unlisted or orphans:
        lines = [f"notebook {name}.ipynb has no entry in {manifest.path}: add one ({', '.join(ENTRY_KEYS)})"
                 for name in unlisted]
        lines += [f"entry {name!r} of {manifest.path} has no notebook {folder / (name + '.ipynb')}"
                  f"{did_you_mean(name, unlisted)}: add the notebook or remove the entry" for name in orphans]
        raise ValueError("The notebooks and their manifest disagree:\n  - " + "\n  - ".join(lines))
    found.sort(key=lambda p: manifest.order_key(p.stem))
    if not only:
        return found
    names = [p.stem for p in found]
    chosen: set[str] = set()
    for pattern in only:
        pattern = pattern[: -len(".ipynb")] if pattern.endswith(".ipynb") else pattern
        matches = fnmatch.filter(names, pattern)
        if not matches:
            raise ValueError(f"--only {pattern!r} matches no notebook in {folder}{did_you_mean(pattern, names)}; "
                             f"notebooks: {', '.join(names)}")
        chosen.update(matches)
    return [p for p in found if p.stem in chosen]


def notebook_title(path: str | os.PathLike) -> str:
    """The first Markdown heading of a notebook (its table/figure name), else its file name."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith("#"):
                return line.lstrip("# ").strip()
    return Path(path).stem


def experiment_module(paper: str) -> ModuleType:
    """The experiment module of ``paper``: its ``Recipe``, ``recipe_from`` and ``embedded_teachers``."""
    if paper == "lead":
        from fgkd.experiments import lead

        return lead
    if paper == "makd":
        from fgkd.experiments import makd

        return makd
    raise ValueError(f"no experiment module for paper {paper!r}; papers: {', '.join(PAPERS)}")
