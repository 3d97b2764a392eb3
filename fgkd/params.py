"""Params sets for the notebooks: find them, load them, and validate them before any compute.

A params set is a folder holding one YAML file per notebook, ``<set>/<notebook>.yaml``, mapping
parameter names of that notebook's ``parameters`` cell to values. fgkd ships three, under
``params/`` at the repository root:

- ``embedded`` (the default): offline, CPU, the procedural world and fgkd's embedded teachers;
- ``paper``: the papers' real datasets, teachers, LLMs, scorer and schedules;
- ``smoke``: tiny, so CI executes every notebook in seconds.

Any folder of the same shape works too (``fgkd reproduce --params path/to/folder``). An empty file
means "the notebook's defaults"; a missing file is an error, so no notebook silently runs at the
wrong scale.

Validation (:func:`check_params`, :func:`load_params`) compares each file with the notebook's
``parameters`` cell (the cell papermill injects after; parsed with ``ast``):

- every key must be a parameter of the notebook (unknown keys get a difflib suggestion);
- every value must have the type of the default (an ``int`` is accepted where a ``float`` default
  is; a ``None`` default accepts anything);
- name-valued keys are checked against registries (see :func:`register_names` and
  :func:`key_kind`): ``dataset``/``*_dataset``, ``backbone``/``*_backbone``, ``teacher``,
  ``scorer``, ``llm``/``*_llm``; plural keys (``backbones = "resnet18,resnet34"``) are split at
  commas. A kind whose registry is empty (its module not written or not importable) is accepted;
- ``root``/``*_root`` keys must name existing folders, and a dataset whose data lives on disk must
  have its folder (``<prefix>_root`` if given, else the dataset registry's default place).

All problems of all files are gathered into ONE :class:`ParamsError`; each line names the params
file, the notebook, the key and the fix.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

PARAMS_SETS = ("embedded", "paper", "smoke")
DEFAULT_SET = "embedded"
RESERVED_KEYS = frozenset({"output_dir"})
"""Parameters every notebook has but params files must not set (``fgkd reproduce`` injects them)."""


class ParamsError(ValueError):
    """Params that cannot run: the message lists every problem with its file, notebook, key and fix."""

    def __init__(self, problems: Sequence["Problem"] | str):
        self.problems: list[Problem] = [] if isinstance(problems, str) else list(problems)
        if isinstance(problems, str):
            message = problems
        elif len(self.problems) == 1:
            message = self.problems[0].format()
        else:
            lines = "\n".join(f"  - {p.format()}" for p in self.problems)
            message = f"{len(self.problems)} problems with the notebook params:\n{lines}"
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one key of one params file."""

    params_file: Path
    notebook: Path
    key: str
    problem: str
    fix: str

    def format(self) -> str:
        return f"{self.params_file}: key {self.key!r} (notebook {self.notebook}): {self.problem}. Fix: {self.fix}"


# --- where params sets and notebooks live ------------------------------------------------------


def find_repo_folder(name: str) -> Path:
    """``<repo>/<name>``: beside the ``fgkd`` package (source checkout, editable install), else in
    the current directory. Raises ``FileNotFoundError`` naming both places."""
    beside_package = Path(__file__).resolve().parents[1] / name
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


def list_params_sets() -> list[str]:
    """Names of the params sets under :func:`params_root`."""
    return sorted(p.name for p in params_root().iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class ParamsSet:
    """A params set: its ``name`` (used for ``reports/<name>/``) and its ``folder``."""

    name: str
    folder: Path

    def file_for(self, notebook: str | os.PathLike) -> Path:
        """``<folder>/<notebook stem>.yaml``."""
        return self.folder / f"{Path(notebook).stem}.yaml"

    def read(self, notebook: str | os.PathLike) -> dict[str, Any]:
        """The raw mapping of the notebook's file (not validated); ``ParamsError`` if unreadable."""
        return _read_yaml(self.file_for(notebook), Path(notebook))


def resolve_params_set(name_or_folder: str | os.PathLike = DEFAULT_SET) -> ParamsSet:
    """A params set from a shipped set's name (``"smoke"``) or the path of a folder of the same shape.

    A folder's set name is the folder's name (reports go to ``reports/<name>/``). Raises
    :class:`ParamsError` naming the known sets when neither fits.
    """
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
        f"Unknown params set {text!r}{_did_you_mean(text, known)}: it is neither a set name nor an "
        f"existing folder. Known sets{where}: {', '.join(known) or 'none found'}; or pass the path of a "
        f"folder holding <notebook>.yaml files."
    )


def _shipped(name: str) -> bool:
    try:
        return (params_root() / name).is_dir()
    except FileNotFoundError:
        return False


# --- the notebook side: its parameters cell ----------------------------------------------------


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell."""

    name: str
    default: Any  # the default as a Python value (``ast.literal_eval``); NO_DEFAULT if not a literal
    source: str  # the default as written in the cell
    help: str  # the trailing comment

    @property
    def has_literal_default(self) -> bool:
        return self.default is not NO_DEFAULT


class _NoDefault:
    def __repr__(self) -> str:
        return "<not a literal>"


NO_DEFAULT: Any = _NoDefault()


def parameters_cell(notebook: str | os.PathLike):
    """The code cell tagged ``parameters`` of ``notebook`` (the first, if a notebook has several)."""
    import nbformat

    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    raise ParamsError(f"{path} has no code cell tagged 'parameters'. Fix: tag the notebook's first "
                      "code cell 'parameters' (Jupyter: View > Cell toolbar > Tags).")


def parse_parameters(source: str) -> dict[str, NotebookParameter]:
    """The ``name = value  # help`` assignments of a parameters cell's ``source``.

    Parsed with ``ast`` rather than papermill's line regex, which silently drops a parameter whose
    comment holds quote characters (tests/test_notebooks.py checks both agree on fgkd's notebooks).
    """
    import io
    import tokenize

    tree = ast.parse(source)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    result: dict[str, NotebookParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        else:
            continue
        text = ast.get_source_segment(source, value) or ""
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = NO_DEFAULT
        result[name] = NotebookParameter(name=name, default=default, source=text,
                                         help=comments.get(node.end_lineno or node.lineno, ""))
    return result


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, NotebookParameter]:
    """The parameters of ``notebook``'s cell tagged ``parameters``, name -> :class:`NotebookParameter`.

    Raises :class:`ParamsError` if the notebook has no such cell (papermill would silently add one)
    or the cell is not valid Python.
    """
    cell = parameters_cell(notebook)
    try:
        return parse_parameters(cell.source)
    except SyntaxError as error:
        raise ParamsError(f"{notebook}: the parameters cell is not valid Python ({error}). "
                          "Fix: one `name = value  # what it is` per line.") from None


# --- value checks: a registry other modules fill -----------------------------------------------

Validator = Callable[[Any, Mapping[str, Any]], "str | None"]
"""``validator(value, all_params) -> None`` if fine, else a message "<problem>. Fix: <fix>" or "<problem>"."""

KINDS = ("dataset", "backbone", "teacher", "scorer", "llm")
_NAME_SOURCES: dict[str, list[Callable[[], Iterable[str]] | str]] = {
    # Lazy "module:function" sources: the modules exist (or will); a missing one leaves the kind unchecked.
    "dataset": ["fgkd.data.registry:list_datasets"],
    "backbone": ["fgkd.models.backbones:list_backbones"],
    # teachers: any open_clip "ARCH/TAG" is valid, so they get validators (below) instead of a list
    "scorer": ["fgkd.teachers.aspects:list_scorers"],
    "llm": ["fgkd.llm:list_llms"],
}
_VALIDATORS: dict[str, list[tuple[Validator, bool]]] = {}  # kind -> [(validator, checks_files)]
_KEY_KINDS: dict[str, str] = {}


def register_names(kind: str, source: Callable[[], Iterable[str]] | Iterable[str] | str) -> None:
    """Add allowed names for ``kind`` (``"dataset"``, ``"backbone"``...): a callable returning names,
    a ``"module:function"`` string imported when validation runs, or a fixed iterable of names."""
    if isinstance(source, str) or callable(source):
        _NAME_SOURCES.setdefault(kind, []).append(source)
    else:
        names = tuple(source)
        _NAME_SOURCES.setdefault(kind, []).append(lambda: names)


def register_validator(kind: str, validator: Validator, *, checks_files: bool = False) -> None:
    """Add a value check for ``kind``, called as ``validator(value, params)`` for every key of that
    kind (after the name check passed). Return None when fine, else the problem (optionally
    followed by ``". Fix: ..."``). Use it for checks beyond names, e.g. teacher weights on disk
    (then pass ``checks_files=True``: it is skipped when validating with ``check_files=False``)."""
    _VALIDATORS.setdefault(kind, []).append((validator, checks_files))


def register_key(key: str, kind: str) -> None:
    """Declare that parameter ``key`` holds a name of ``kind`` when its spelling does not say so."""
    _KEY_KINDS[key] = kind


def key_kind(key: str) -> tuple[str | None, bool]:
    """``(kind, plural)`` for a parameter name: ``"dataset"`` and ``"pretrain_dataset"`` are
    datasets, ``"backbones"`` is a comma-separated list of backbones, ``"seed"`` is ``(None, False)``."""
    if key in _KEY_KINDS:
        return _KEY_KINDS[key], False
    for kind in sorted(set(KINDS) | set(_NAME_SOURCES) | set(_VALIDATORS), key=len, reverse=True):
        for plural, suffix in ((False, kind), (True, kind + "s")):
            if key == suffix or key.endswith("_" + suffix):
                return kind, plural
    return None, False


def known_names(kind: str) -> list[str] | None:
    """All names registered for ``kind``; None when no source is available (the kind is unchecked)."""
    names: list[str] = []
    any_source = False
    for source in _NAME_SOURCES.get(kind, []):
        fn = _resolve(source)
        if fn is None:
            continue
        any_source = True
        names.extend(str(n) for n in fn())
    return sorted(set(names)) if any_source else None


def _resolve(source: Callable[[], Iterable[str]] | str) -> Callable[[], Iterable[str]] | None:
    if callable(source):
        return source
    module_name, _, attribute = source.partition(":")
    module = _optional_import(module_name)
    return getattr(module, attribute, None) if module is not None else None


# --- validation ----------------------------------------------------------------------------------


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _type_ok(value: Any, default: Any) -> bool:
    if default is None or default is NO_DEFAULT:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _read_yaml(path: Path, notebook: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError([Problem(path, notebook, "(file)", "the params file does not exist",
                                   f"create {path} (an empty file uses the notebook's defaults)")])
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
    return data


def validate_params(
    params: Mapping[str, Any], notebook: str | os.PathLike, params_file: str | os.PathLike,
    parameters: Mapping[str, NotebookParameter] | None = None, *, check_files: bool = True,
) -> list[Problem]:
    """Every problem of ``params`` against ``notebook``'s parameters cell (empty list: all fine).

    ``check_files=False`` skips what depends on this machine (data folders, weights on disk), e.g.
    to check the ``paper`` set's files where the real datasets are absent.
    """
    notebook, params_file = Path(notebook), Path(params_file)
    parameters = notebook_parameters(notebook) if parameters is None else parameters
    problems: list[Problem] = []

    def add(key: str, problem: str, fix: str) -> None:
        problems.append(Problem(params_file, notebook, key, problem, fix))

    for key, value in params.items():
        key = str(key)
        if key in RESERVED_KEYS:
            add(key, "is set by fgkd reproduce (reports/<set>/<notebook>/)", f"remove {key!r} from the file")
            continue
        if key not in parameters:
            suggestion = _did_you_mean(key, parameters)
            add(key, f"is not a parameter of the notebook{suggestion}",
                f"use one of: {', '.join(sorted(parameters))}" if not suggestion
                else f"rename it to {difflib.get_close_matches(key, list(parameters), n=1)[0]!r}")
            continue
        spec = parameters[key]
        if not _type_ok(value, spec.default):
            add(key, f"has type {_type_name(value)} ({value!r}) but the notebook's default {spec.source} is "
                     f"{_type_name(spec.default)}", f"give a {_type_name(spec.default)} value")
            continue
        problems.extend(_check_value(key, value, params, parameters, notebook, params_file, check_files))
    for key in sorted(RESERVED_KEYS - set(parameters)):
        add(key, "is missing from the notebook's parameters cell (fgkd reproduce injects it)",
            f"add `{key} = \".\"  # where tables, figures and headline.json go` to the parameters cell")
    return problems


def _check_value(
    key: str, value: Any, params: Mapping[str, Any], parameters: Mapping[str, NotebookParameter],
    notebook: Path, params_file: Path, check_files: bool,
) -> list[Problem]:
    problems: list[Problem] = []

    def add(problem: str, fix: str) -> None:
        problems.append(Problem(params_file, notebook, key, problem, fix))

    if (key == "root" or key.endswith("_root")) and value not in (None, ""):
        if not check_files:
            return problems
        folder = Path(str(value)).expanduser()
        if not folder.is_dir():
            add(f"folder {str(value)!r} does not exist (resolved: {folder.resolve()})",
                "put the data there or point the key at the folder holding it (fgkd never downloads)")
        return problems

    kind, plural = key_kind(key)
    if kind is None or not isinstance(value, str):
        return problems
    names = [v.strip() for v in value.split(",") if v.strip()] if plural else [value]
    known = known_names(kind)
    for name in names:
        if known is not None and name not in known:
            add(f"unknown {kind} {name!r}{_did_you_mean(name, known)}", f"use one of: {', '.join(known)}")
            continue
        for validator, checks_files in _VALIDATORS.get(kind, []):
            if checks_files and not check_files:
                continue
            message = validator(name, params)
            if message:
                problem, _, fix = str(message).partition(". Fix: ")
                add(problem, fix or "see the message")
        if kind == "dataset" and check_files:
            message = _dataset_folder_problem(key, name, params, parameters)
            if message:
                add(*message)
    return problems


def _optional_import(module_name: str) -> Any | None:
    """The module, or None if it does not exist (yet); errors inside an existing module propagate."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            return None
        raise


def _teacher_name(name: Any, params: Mapping[str, Any]) -> str | None:
    """An embedded teacher (``embedded-M``) or an open_clip ``ARCH/TAG`` (``ViT-B-16/openai``)."""
    embedded = _optional_import("fgkd.teachers.embedded")
    if embedded is None:
        return None
    names = tuple(getattr(embedded, "EMBEDDED_TEACHERS", ()))
    arch, _, tag = str(name).partition("/")
    if name in names or (arch and tag):
        return None
    return (f"unknown teacher {name!r}{_did_you_mean(str(name), names)}. Fix: use one of {', '.join(names)} "
            "(trained by fgkd) or an open_clip pretrained name ARCH/TAG such as 'ViT-B-16/openai'")


def _teacher_weights(name: Any, params: Mapping[str, Any]) -> str | None:
    """Pretrained CLIP weights must be on disk (fgkd never downloads them)."""
    arch, _, tag = str(name).partition("/")
    if not (arch and tag) or params.get("pretrained_path"):
        return None
    pretrained = _optional_import("fgkd.teachers.pretrained")
    if pretrained is None:
        return None
    try:
        pretrained.resolve_checkpoint(arch, tag)
    except (ValueError, FileNotFoundError) as error:
        return f"teacher {name!r}: {error}. Fix: put the weights where the message says, or pick another teacher"
    return None


register_validator("teacher", _teacher_name)
register_validator("teacher", _teacher_weights, checks_files=True)


def _dataset_folder_problem(
    key: str, name: str, params: Mapping[str, Any], parameters: Mapping[str, NotebookParameter],
) -> tuple[str, str] | None:
    """A real dataset's folder must exist before hours of compute start (fgkd never downloads)."""
    registry = _optional_import("fgkd.data.registry")
    if registry is None:
        return None
    # The registry has no public accessor for an entry; uses_root tells real data from the world.
    entry = getattr(registry, "_REGISTRY", {}).get(name)
    if entry is None or not getattr(entry, "uses_root", False):
        return None
    prefix = key[: -len("dataset")] if key.endswith("dataset") else ""
    candidates = (f"{prefix}root", f"{prefix}data_root", "data_root", "root")
    root_key = next((k for k in candidates if k in params or k in parameters), None)
    if root_key in params and params[root_key] not in (None, ""):
        return None  # that key gets its own folder check
    default = parameters[root_key].default if root_key in parameters else None
    if isinstance(default, str) and default and root_key not in params:
        folder = Path(default).expanduser()  # the notebook's own default folder
    else:
        folder = registry.default_root(name)
    if folder.is_dir():
        return None
    env = getattr(registry, "ENV_DATA", "FGKD_DATA_DIR")
    where = f"set {root_key!r} in the params file, or " if root_key else ""
    return (f"dataset {name!r} has no folder at {folder} (fgkd never downloads data)",
            f"{where}put the dataset in {folder} or set ${env} to the folder holding '{name}/'")


def check_params(
    params_set: ParamsSet | str | os.PathLike, notebooks: Sequence[str | os.PathLike], *, check_files: bool = True,
) -> dict[str, dict[str, Any]]:
    """Load and validate the params of every notebook; return notebook name -> params.

    Raises one :class:`ParamsError` listing every problem of every file, so a run never starts
    with params that would fail half way.
    """
    pset = params_set if isinstance(params_set, ParamsSet) else resolve_params_set(params_set)
    loaded: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for notebook in notebooks:
        notebook = Path(notebook)
        try:
            params = pset.read(notebook)
            problems.extend(validate_params(params, notebook, pset.file_for(notebook), check_files=check_files))
            loaded[notebook.stem] = params
        except ParamsError as error:
            if error.problems:
                problems.extend(error.problems)
            else:
                problem, _, fix = str(error).partition(" Fix: ")
                problems.append(Problem(pset.file_for(notebook), notebook, "(notebook)", problem.rstrip("."),
                                        fix or "see the notebook"))
    if problems:
        raise ParamsError(problems)
    return loaded


def load_params(params_set: ParamsSet | str | os.PathLike, notebook: str | os.PathLike) -> dict[str, Any]:
    """The validated params of one notebook in one set (``ParamsError`` if anything is wrong)."""
    return check_params(params_set, [notebook])[Path(notebook).stem]
