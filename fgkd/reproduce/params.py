"""Validate a params set against the notebooks before any compute.

A notebook's own file, ``<set>/<notebook>.yaml``, is compared with its ``parameters`` cell (parsed
with ``ast``); the shared recipe of its paper (from its folder's ``manifest.yaml``),
``<set>/lead.yaml`` or ``<set>/makd.yaml``, with that paper's ``Recipe``. Checked: every key is a
parameter of the notebook (or a Recipe field), with a difflib suggestion otherwise; recipe keys
sit in the recipe file only, never in a notebook's file or parameters cell; values have the
default's type (an ``int`` is fine for a ``float``; a ``None`` default takes anything) and the
recipe values build a ``Recipe``; name-valued keys (``dataset``/``*_dataset``, ``backbone(s)``,
``teacher``, ``scorer``, ``llm``/``*_llm``: :func:`key_kind`) name registered things
(:func:`register_names`; a kind whose fgkd module is not importable is unchecked); ``*_root``
folders exist and a real dataset has its folder. All problems come in ONE
:class:`~fgkd.reproduce.sets.ParamsError`, each naming the file, the notebook, the key and the fix.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from fgkd.reproduce.checks import _dataset_folder_problem, range_problem
from fgkd.reproduce.manifest import experiment_module, manifest_for

FOLDER_PREFIX = "folder:"  # fgkd.data.registry.FOLDER_PREFIX, without importing torch to validate params
from fgkd.reproduce.names import (  # noqa: F401  (re-exported)
    KINDS,
    key_kind,
    known_names,
    register_key,
    register_names,
    register_validator,
    validators,
)
from fgkd.reproduce.sets import (  # noqa: F401  (re-exported: the validation API in one place)
    DEFAULT_SET,
    PAPER_NAMES,
    PARAMS_SETS,
    ParamsError,
    ParamsSet,
    Problem,
    did_you_mean,
    list_params_sets,
    read_yaml,
    recipe_key_problem,
    resolve_params_set,
    unknown_key_problem,
)

RESERVED_KEYS = frozenset({"output_dir", "params_set"})
"""Parameters params files must not set (``fgkd reproduce`` injects them)."""
_INJECTED = {"output_dir": "reports/<set>/<notebook>/", "params_set": "the set being run"}
REQUIRED_KEYS = ("output_dir",)
"""Parameters every notebook's cell has; a notebook with a paper also has ``params_set``."""


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


# --- validation ----------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _a_value(value: Any) -> str:
    """``"give an int value"`` / ``"give a float value"``: the article that reads right."""
    name = _type_name(value)
    return f"give {'an' if name[:1].lower() in 'aeiou' else 'a'} {name} value"


# Keys whose values may be either type (the default's type alone would refuse the other):
# ``pretrained`` is true / false or "world" (the embedded ImageNet, fgkd.models.embedded_imagenet).
EITHER_TYPE = {"pretrained": (bool, str)}


def _type_ok(value: Any, default: Any, key: str = "") -> bool:
    if default is None or default is NO_DEFAULT:
        return True
    if key in EITHER_TYPE:
        return isinstance(value, EITHER_TYPE[key])
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def recipe_fields(paper: str) -> dict[str, Any]:
    """The fields of ``paper``'s ``Recipe`` with their defaults, in declaration order."""
    recipe = experiment_module(paper).Recipe
    return {f.name: f.default for f in dataclasses.fields(recipe)}


def validate_params(
    params: Mapping[str, Any], notebook: str | os.PathLike, params_file: str | os.PathLike,
    parameters: Mapping[str, NotebookParameter] | None = None, *, check_files: bool = True,
    paper: str | None = None, recipe: Mapping[str, Any] | None = None, recipe_file: str | os.PathLike | None = None,
) -> list[Problem]:
    """Every problem of ``params`` (a notebook's own file) against ``notebook``'s parameters cell.

    With ``paper``, its recipe keys may be in neither the file nor the cell, the cell needs
    ``params_set``, and name/folder checks also see ``recipe`` (the set's values, ``recipe_file``).
    ``check_files=False`` skips what depends on this machine (data folders, weights on disk).
    """
    notebook, params_file = Path(notebook), Path(params_file)
    parameters = notebook_parameters(notebook) if parameters is None else parameters
    recipe_keys = recipe_fields(paper) if paper else {}
    recipe_path = Path(recipe_file) if recipe_file is not None else params_file.parent / f"{paper}.yaml"
    context = {**(recipe or {}), **params}
    problems: list[Problem] = []

    def add(key: str, problem: str, fix: str, where: Path = params_file) -> None:
        problems.append(Problem(where, notebook, key, problem, fix))

    for key, value in params.items():
        key = str(key)
        if key in RESERVED_KEYS:
            add(key, f"is set by fgkd reproduce ({_INJECTED[key]})", f"remove {key!r} from the file")
            continue
        if key in recipe_keys:
            add(key, f"is a key of the shared {PAPER_NAMES[paper]} recipe, set once per params set",
                f"move it to {recipe_path} (it applies to every {PAPER_NAMES[paper]} notebook of the set)")
            continue
        if key not in parameters:
            known = [k for k in parameters if k not in RESERVED_KEYS]
            problems.append(unknown_key_problem(params_file, notebook, key, known, "a parameter of the notebook"))
            continue
        spec = parameters[key]
        if not _type_ok(value, spec.default, key):
            add(key, f"has type {_type_name(value)} ({value!r}) but the notebook's default {spec.source} is "
                     f"{_type_name(spec.default)}", _a_value(spec.default))
            continue
        problems.extend(_check_value(key, value, context, parameters, notebook, params_file, check_files,
                                     recipe_keys=recipe_keys, recipe_file=recipe_path, default=spec.default))
    required = REQUIRED_KEYS + (("params_set",) if paper else ())
    for key in [k for k in required if k not in parameters]:
        what = ("the params set whose shared recipe the notebook reads" if key == "params_set"
                else "where tables, figures and headline.json go")
        default = '"embedded"' if key == "params_set" else '"."'
        add(key, "is missing from the notebook's parameters cell (fgkd reproduce injects it)",
            f"add `{key} = {default}  # {what}` to the parameters cell", where=notebook)
    for key in [k for k in parameters if k in recipe_keys]:
        add(key, f"is a key of the shared {PAPER_NAMES[paper]} recipe but the notebook's parameters cell assigns "
                 f"it, which would override {recipe_path.name} of every params set",
            f"remove it from the parameters cell; the recipe value comes from params/<set>/{paper}.yaml",
            where=notebook)
    return problems


def _check_value(
    key: str, value: Any, params: Mapping[str, Any], parameters: Mapping[str, NotebookParameter],
    notebook: Path | None, params_file: Path, check_files: bool, *,
    recipe_keys: Mapping[str, Any] | None = None, recipe_file: Path | None = None, default: Any = None,
) -> list[Problem]:
    problems: list[Problem] = []

    def add(problem: str, fix: str) -> None:
        problems.append(Problem(params_file, notebook, key, problem, fix))

    if key.endswith("key_env"):
        from fgkd.secrets import env_name_problem

        message = env_name_problem(value, key)
        if message:
            problem, _, fix = message.partition(". Fix: ")
            add(problem, fix)
        return problems

    if (key == "root" or key.endswith("_root")) and value not in (None, ""):
        if not check_files:
            return problems
        folder = Path(str(value)).expanduser()
        if not folder.is_dir():
            add(f"folder {str(value)!r} does not exist (resolved: {folder.resolve()})",
                "put the data there or point the key at the folder holding it (fgkd never downloads)")
        return problems

    # a default the rule would refuse (teacher_epochs: 0, "the teacher's default") is a sentinel: the
    # field's own Recipe check speaks for it
    sentinel = default is not None and range_problem(key, default) is not None
    message = None if value == default or sentinel else range_problem(key, value)
    if message:
        add(*message)
        return problems

    kind, plural = key_kind(key)
    if kind is None or not isinstance(value, str):
        return problems
    names = [v.strip() for v in value.split(",") if v.strip()] if plural else [value]
    known = known_names(kind)
    for name in names:
        if kind == "dataset" and name.startswith(FOLDER_PREFIX):  # the user's own images
            from fgkd.data.folder import folder_problem

            problem = folder_problem(name[len(FOLDER_PREFIX):]) if check_files else None
            if problem:
                add(f"dataset {name!r}: {problem}", "point folder:<path> at an ImageFolder tree (one folder per class)")
            continue
        if known is not None and name not in known:
            also = f" or {FOLDER_PREFIX}<path> for your own image folder" if kind == "dataset" else ""
            add(f"unknown {kind} {name!r}{did_you_mean(name, known)}", f"use one of: {', '.join(known)}{also}")
            continue
        for validator, checks_files in validators(kind):
            if checks_files and not check_files:
                continue
            takes_key = "key" in inspect.signature(validator).parameters  # e.g. alt_llm reads alt_llm_key_env
            message = validator(name, params, key=key) if takes_key else validator(name, params)
            if message:
                problem, _, fix = str(message).partition(". Fix: ")
                add(problem, fix or "see the message")
        if kind == "dataset" and check_files:
            message = _dataset_folder_problem(key, name, params, parameters, recipe_keys or {}, recipe_file)
            if message:
                add(*message)
    return problems


_FIELD_IN_MESSAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_recipe(params_set: ParamsSet | str | os.PathLike, paper: str, *,
                 check_files: bool = True) -> tuple[dict[str, Any], list[Problem]]:
    """``(values, problems)`` of the set's ``<set>/<paper>.yaml``: ``values`` are the full Recipe
    (its defaults, then the file) when there is no problem, else ``{}``. Problems: an unreadable
    file, a key that is no Recipe field, a wrong type or unknown name, a missing root folder, or a
    value the Recipe's own checks reject."""
    pset = resolve_params_set(params_set)
    path = pset.recipe_file(paper)
    name = PAPER_NAMES[paper]
    try:
        raw = read_yaml(path, missing_fix=f"create {path} with the {name} recipe (copy params/embedded/{paper}.yaml "
                                          "and edit it)")
    except ParamsError as error:
        return {}, list(error.problems)
    fields = recipe_fields(paper)
    problems: list[Problem] = []
    for key, value in raw.items():
        if key not in fields:
            problems.append(recipe_key_problem(path, paper, key, fields))
        elif not _type_ok(value, fields[key], key):
            problems.append(Problem(path, None, key, f"has type {_type_name(value)} ({value!r}) but the {name} "
                                                     f"Recipe's {key} is {_type_name(fields[key])}",
                                    _a_value(fields[key])))
        else:
            problems.extend(_check_value(key, value, raw, {}, None, path, check_files, default=fields[key]))
    if problems:
        return {}, problems
    recipe_cls = experiment_module(paper).Recipe
    try:
        recipe = recipe_cls(**raw)
    except (ValueError, TypeError) as error:
        # name every bad value, not only the first: add the file's values one at a time to the
        # defaults, keeping those the Recipe accepts; a second pass retries the rejected ones once
        # the values they depend on (teacher_epochs needs an embedded teacher) are in
        accepted: dict[str, Any] = {}
        rejected: dict[str, Exception] = {}
        for _ in range(2):
            for key, value in raw.items():
                if key in accepted:
                    continue
                try:
                    recipe_cls(**{**accepted, key: value})
                    accepted[key] = value
                    rejected.pop(key, None)
                except (ValueError, TypeError) as alone:
                    rejected[key] = alone
        for key, alone in rejected.items():
            problems.append(Problem(path, None, key, f"the {name} Recipe rejects {key}={raw[key]!r}: {alone}",
                                    "change this value"))
        if problems:
            return {}, problems
        mentioned = [word for word in _FIELD_IN_MESSAGE.findall(str(error)) if word in fields]
        return {}, [Problem(path, None, mentioned[0] if mentioned else "(recipe)",
                            f"the {name} Recipe rejects these values together: {error}",
                            "change the value the message names")]
    return dataclasses.asdict(recipe), []


@dataclass(frozen=True)
class NotebookParams:
    """One notebook's validated params in one set: what ``fgkd reproduce`` injects and what the
    notebook's code will see."""

    notebook: Path
    params_file: Path
    params: dict[str, Any]  # the notebook's own file, validated
    defaults: dict[str, Any]  # the literal defaults of its parameters cell
    paper: str | None = None  # "lead" | "makd" | None, from the manifest
    recipe: dict[str, Any] = field(default_factory=dict)  # the full shared Recipe of the set ({} without paper)
    recipe_file: Path | None = None  # <set>/<paper>.yaml
    params_set: str = ""  # ParamsSet.ref: the value of the notebook's params_set parameter
    overrides: dict[str, Any] = field(default_factory=dict)  # `fgkd reproduce -p key=value` that apply here

    @property
    def name(self) -> str:
        return self.notebook.stem

    @property
    def injected(self) -> dict[str, Any]:
        """The parameters to inject (``output_dir`` aside): the notebook's own file and, when its
        cell has one, ``params_set``."""
        extra = {"params_set": self.params_set} if "params_set" in self.defaults and self.params_set else {}
        return {**self.params, **extra, **self.overrides}

    @property
    def effective(self) -> dict[str, Any]:
        """Every value the notebook works with: its defaults, the shared recipe, its own file."""
        return {**self.defaults, **self.recipe, **self.injected}


def _paper_of(notebook: Path, manifests: dict[Path, Any]) -> str | None:
    """The notebook's paper from its folder's manifest; None for a loose notebook (no manifest)."""
    folder = notebook.parent
    if folder not in manifests:
        manifests[folder] = manifest_for(notebook)
    manifest = manifests[folder]
    if manifest is None:
        return None
    if notebook.stem not in manifest:
        raise ValueError(f"notebook {notebook.name} has no entry in {manifest.path}")
    return manifest[notebook.stem].paper


def prepare_params(
    params_set: ParamsSet | str | os.PathLike, notebooks: Sequence[str | os.PathLike], *, check_files: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, NotebookParams]:
    """Load and validate the params of every notebook and the shared recipes they read; return
    notebook name -> :class:`NotebookParams`.

    ``overrides`` (``fgkd reproduce -p key=value``): each applies to every notebook whose own
    parameters or shared recipe has the key (a recipe key then overrides the recipe file for that
    run), validated like the files; a key no notebook knows is an error with a did-you-mean.

    Raises one :class:`ParamsError` listing every problem of every file, so a run never starts
    with params that would fail half way.
    """
    pset = resolve_params_set(params_set)
    ref = pset.ref
    loaded: dict[str, NotebookParams] = {}
    problems: list[Problem] = []
    recipes: dict[str, dict[str, Any]] = {}
    manifests: dict[Path, Any] = {}
    for notebook in notebooks:
        notebook = Path(notebook)
        params_file = pset.file_for(notebook)
        try:
            paper = _paper_of(notebook, manifests)
        except ValueError as error:
            problems.append(Problem(params_file, notebook, "(manifest)", str(error).rstrip("."),
                                    "give the notebook one well-formed entry in its folder's manifest.yaml"))
            continue
        try:
            parameters = notebook_parameters(notebook)
            params = pset.read(notebook)
        except ParamsError as error:
            if error.problems:
                problems.extend(error.problems)
            else:
                problem, _, fix = str(error).partition(" Fix: ")
                problems.append(Problem(params_file, notebook, "(notebook)", problem.rstrip("."),
                                        fix or "see the notebook"))
            continue
        if paper is not None and paper not in recipes:
            recipes[paper], recipe_problems = check_recipe(pset, paper, check_files=check_files)
            problems.extend(recipe_problems)
        recipe = recipes.get(paper, {}) if paper else {}
        recipe_file = pset.recipe_file(paper) if paper else None
        problems.extend(validate_params(params, notebook, params_file, parameters, check_files=check_files,
                                        paper=paper, recipe=recipe, recipe_file=recipe_file))
        defaults = {k: p.default for k, p in parameters.items() if p.has_literal_default}
        own = {k: v for k, v in (overrides or {}).items() if k in parameters and k not in RESERVED_KEYS}
        shared = {k: v for k, v in (overrides or {}).items() if k in recipe and k not in parameters}
        if own:
            problems.extend(validate_params({**params, **own}, notebook, Path("-p"), parameters,
                                            check_files=check_files, paper=paper, recipe=recipe,
                                            recipe_file=recipe_file))
        if shared:
            problems.extend(_override_problems(paper, recipe, shared))
        loaded[notebook.stem] = NotebookParams(notebook=notebook, params_file=params_file, params=params,
                                               defaults=defaults, paper=paper, recipe={**recipe, **shared},
                                               recipe_file=recipe_file, params_set=ref,
                                               overrides={**own, **shared})
    known = {k for p in loaded.values() for k in (*p.defaults, *p.recipe)}
    for key in sorted(set(overrides or {}) - known):
        problems.append(Problem(Path("-p"), None, key, f"no notebook run here has a parameter or recipe key {key!r}"
                                f"{did_you_mean(key, known)}", "check the spelling, or use it with --only a "
                                "notebook that has it"))
    if problems:
        raise ParamsError(problems)
    return loaded


def _override_problems(paper: str, recipe: Mapping[str, Any], shared: Mapping[str, Any]) -> list[Problem]:
    """A ``-p`` recipe override checked as the recipe file is: by building the paper's Recipe."""
    try:
        experiment_module(paper).Recipe(**{**recipe, **shared})
    except (ValueError, TypeError) as error:
        return [Problem(Path("-p"), None, ", ".join(sorted(shared)), f"the {paper} recipe rejects it: {error}",
                        "give a value of the right type and range")]
    return []


def check_params(
    params_set: ParamsSet | str | os.PathLike, notebooks: Sequence[str | os.PathLike], *, check_files: bool = True,
) -> dict[str, dict[str, Any]]:
    """Validate as :func:`prepare_params` does; return notebook name -> its own params."""
    return {name: p.params for name, p in prepare_params(params_set, notebooks, check_files=check_files).items()}


def load_params(params_set: ParamsSet | str | os.PathLike, notebook: str | os.PathLike) -> dict[str, Any]:
    """The validated own params of one notebook in one set (``ParamsError`` if anything is wrong)."""
    return check_params(params_set, [notebook])[Path(notebook).stem]
