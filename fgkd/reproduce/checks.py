"""Value checks of params keys before anything trains: ranges by key name (``epochs``, ``lr``,
``batch_size``, ``device``...) and whether a real dataset's folder holds the dataset."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

# Ranges by key name, checked for every params key (a notebook's own and the shared recipe's) before
# anything trains: (key suffix, test, what the value must be).
_RANGES: tuple[tuple[str, Any, str], ...] = (
    ("epochs", lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    ("lr", lambda v: isinstance(v, (int, float)) and v > 0, "a number > 0"),
    ("batch_size", lambda v: isinstance(v, int) and v >= 2, "an int >= 2 (batch norm needs two samples)"),
    ("weight_decay", lambda v: isinstance(v, (int, float)) and v >= 0, "a number >= 0"),
    ("seed", lambda v: isinstance(v, int) and v >= 0, "an int >= 0"),
    ("classes", lambda v: isinstance(v, int) and v >= 2, "an int >= 2"),
    ("per_class", lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    ("image_size", lambda v: isinstance(v, int) and v >= 8, "an int >= 8 (pixels)"),
    ("num_aspects", lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    ("num_workers", lambda v: isinstance(v, int) and v >= 0, "an int >= 0"),
    ("device", lambda v: isinstance(v, str) and (v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", v)),
     "auto, cpu, cuda or cuda:N"),
)


def range_problem(key: str, value: Any) -> tuple[str, str] | None:
    """``(problem, fix)`` when a key whose name says what it holds (``epochs``, ``detection_lr``,
    ``batch_size``, ``device``...) has a value out of its range; None when fine or not such a key."""
    if isinstance(value, bool) or value is None:
        return None
    for suffix, ok, what in _RANGES:
        if key == suffix or key.endswith("_" + suffix):
            if not ok(value):
                return f"{key}={value!r} is out of range: it must be {what}", f"set {key} to {what}"
            return None
    return None


def _dataset_folder_problem(
    key: str, name: str, params: Mapping[str, Any], parameters: Mapping[str, Any],
    recipe_keys: Mapping[str, Any], recipe_file: Path | None,
) -> tuple[str, str] | None:
    """A real dataset's folder must exist before hours of compute start (fgkd never downloads)."""
    from fgkd.data import registry

    try:
        entry = registry.dataset_info(name)
    except ValueError:  # not a registered name: the name check reported it
        return None
    if not entry.uses_root:  # generated (the world)
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
        try:  # the folder must hold the dataset, not only exist: the loader checks its layout
            registry.get_dataset(name, root=folder, split="train")
        except registry.DatasetNotFoundError as error:
            return (f"dataset {name!r} at {folder} is incomplete: {error.problem}",
                    f"unpack it into the layout {name}'s loader expects (fgkd never downloads data): {error.source}")
        return None
    in_file = recipe_file if root_key in recipe_keys and recipe_file is not None else "the params file"
    where = f"set {root_key!r} in {in_file}, or " if root_key else ""
    return (f"dataset {name!r} has no folder at {folder} (fgkd never downloads data)",
            f"{where}put the dataset in {folder} or set ${registry.ENV_DATA} to the folder holding '{name}/'")
