"""One registry for every dataset fgkd can load: ``get_dataset(name, ...)`` and ``list_datasets()``.

Built-in names:

- ``world:bird``, ``world:car``, ``world:aircraft``: the procedural image world
  (:mod:`fgkd.data.world`), generated and cached, so ``root`` is not used; splits ``train``,
  ``test`` and ``pretrain``.
- ``cub200``: CUB-200-2011 from its official folder (:mod:`fgkd.data.cub`).
- ``stanford_cars``, ``fgvc_aircraft``, ``oxford_pets``, ``flowers102``, ``dtd``, ``caltech101``:
  through torchvision (:mod:`fgkd.data.torchvision_sets`).
- ``folder:<path>``: your own images, an ImageFolder tree (class names from the folder names;
  :mod:`fgkd.data.folder`), accepted wherever a dataset name is.

Where real data is looked for: ``root`` if given, else ``$FGKD_DATA_DIR/<name>``, else
``~/data/<name>`` (see :func:`default_root`). Nothing is ever downloaded: a missing or incomplete
folder raises :class:`DatasetNotFoundError`, which names the expected layout and where to get it.

Every dataset returned follows one contract (docs/architecture.md): items ``(image, target)`` with
``image`` a PIL RGB image (or ``transform(image)``) and ``target`` an ``int``; attributes
``classes`` (readable names, index = target) and ``targets`` (one ``int`` per item).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from torch.utils.data import Dataset

ENV_DATA = "FGKD_DATA_DIR"
FOLDER_PREFIX = "folder:"  # "folder:<path>": an ImageFolder tree of the user's own images

Transform = Optional[Callable[[Any], Any]]
# factory(root=Path | None, split=str, transform=callable | None, **options) -> Dataset
DatasetFactory = Callable[..., Dataset]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing or incomplete.

    The message names the dataset, the folder looked at, what is wrong, the expected layout (a short
    tree) and where to get the data; fgkd never downloads it.
    """

    def __init__(self, name: str, root: str | os.PathLike, problem: str, layout: str, source: str):
        self.name = name
        self.root = Path(root)
        self.problem = problem.rstrip(". ")
        self.layout = layout
        self.source = source
        tree = "\n".join("    " + line for line in layout.strip("\n").splitlines())
        message = (
            f"Dataset '{name}' not found or incomplete at {self.root}: {self.problem}.\n"
            f"Expected layout (<root> = {self.root}):\n{tree}\n"
            f"Get it from {source}. fgkd never downloads data: unpack it into the layout above, then "
            f"pass root=<root> to get_dataset or place it at ${ENV_DATA}/{name} "
            f"(now {default_root(name)})."
        )
        super().__init__(message)


def data_root() -> Path:
    """The folder holding one sub-folder per real dataset: ``$FGKD_DATA_DIR`` or ``~/data``."""
    root = os.environ.get(ENV_DATA)
    return Path(root).expanduser() if root else Path.home() / "data"


# Folders a dataset is also found under when ``<data_root>/<name>`` does not exist: the name its
# official archive unpacks to (CUB_200_2011.tgz gives CUB_200_2011/).
ROOT_ALIASES = {"cub200": ("CUB_200_2011",)}


def default_root(name: str) -> Path:
    """Where dataset ``name`` is looked for when no ``root`` is given: ``data_root() / name``, or
    the folder its archive unpacks to (``$FGKD_DATA_DIR/CUB_200_2011`` for ``cub200``) when only
    that one exists."""
    base = data_root()
    for alias in ROOT_ALIASES.get(name, ()):
        if not (base / name).exists() and (base / alias).is_dir():
            return base / alias
    return base / name


_PREFIX = re.compile(r"^\d+\.(?=\D)")


def clean_class_name(raw: str) -> str:
    """A class name readable by an LLM: numeric prefix dropped, underscores to spaces.

    ``"001.Black_footed_Albatross"`` -> ``"Black footed Albatross"``; ``"Faces_easy"`` ->
    ``"Faces easy"``; names without either (``"Boeing 737-700"``) are returned unchanged.
    """
    name = _PREFIX.sub("", raw.strip()).replace("_", " ")
    return " ".join(name.split())


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset."""

    name: str
    factory: DatasetFactory | str  # a callable, or "module:function" imported on first use
    splits: tuple[str, ...] = ("train", "test")  # the split names get_dataset accepts
    uses_root: bool = True  # False for generated datasets (the world): root must then be None
    handles_fraction: bool = False  # True: `fraction` goes to the factory; else a stratified subset
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"DatasetEntry.name must be a non-empty string, got {self.name!r}")
        lazy = isinstance(self.factory, str) and self.factory.count(":") == 1
        if not (callable(self.factory) or lazy):
            raise ValueError(f"DatasetEntry.factory for '{self.name}' must be callable or "
                             f"'module:function', got {self.factory!r}")
        if not self.splits or not all(isinstance(s, str) for s in self.splits):
            raise ValueError(f"DatasetEntry.splits for '{self.name}' must be split names, got {self.splits!r}")

    def resolve(self) -> DatasetFactory:
        """The factory callable (importing its module when it was given as "module:function")."""
        if callable(self.factory):
            return self.factory
        module, attribute = self.factory.split(":")
        return getattr(importlib.import_module(module), attribute)


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(
    name: str,
    factory: DatasetFactory | str,
    *,
    splits: tuple[str, ...] = ("train", "test"),
    uses_root: bool = True,
    handles_fraction: bool = False,
    description: str = "",
    overwrite: bool = False,
) -> DatasetEntry:
    """Register a dataset so ``get_dataset(name, ...)`` can build it.

    ``factory`` is called as ``factory(root=root, split=split, transform=transform, **options)``
    (``root`` is a ``Path``, or ``None`` when ``uses_root=False``) and must return a Dataset with
    ``classes`` and ``targets`` whose items are ``(PIL image or transform(image), int)``. Its
    keyword parameters are the options ``get_dataset`` accepts for this name. A
    ``"module:function"`` string is imported on first use.
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"Dataset '{name}' is already registered; pass overwrite=True to replace it.")
    entry = DatasetEntry(name, factory, tuple(splits), uses_root, handles_fraction, description)
    _REGISTRY[name] = entry
    return entry


def list_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_REGISTRY)


def is_folder_dataset(name: Any) -> bool:
    """Whether ``name`` is ``folder:<path>`` (a user's image folder) rather than a registered name."""
    return isinstance(name, str) and name.startswith(FOLDER_PREFIX) and bool(name[len(FOLDER_PREFIX):].strip())


def is_dataset_name(name: Any) -> bool:
    """A registered name or ``folder:<path>``."""
    return name in _REGISTRY or is_folder_dataset(name)


def _folder_entry(name: str) -> DatasetEntry:
    # Imported by name on first use, like the real datasets (fgkd.data.folder imports this module).
    return DatasetEntry(name, "fgkd.data.folder:load_folder", uses_root=False,
                        description=f"your own image folder {name[len(FOLDER_PREFIX):]}")


def dataset_info(name: str) -> DatasetEntry:
    """The registry entry of dataset ``name`` (``uses_root``: its data lives in a folder on disk;
    ``splits``, ``description``...), without building the dataset. Raises ``ValueError`` for an
    unknown name, listing the known ones."""
    if is_folder_dataset(name):
        return _folder_entry(name)
    if name not in _REGISTRY:
        raise ValueError(f"Unknown dataset '{name}'. Known datasets: {', '.join(list_datasets())}, "
                         f"or {FOLDER_PREFIX}<path> for your own image folder.")
    return _REGISTRY[name]


def get_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    transform: Transform = None,
    **options: Any,
) -> Dataset:
    """Build dataset ``name`` (see :func:`list_datasets`) for one split.

    Args:
        name: a registered name, e.g. ``"cub200"`` or ``"world:bird"``.
        root: the dataset folder; default ``$FGKD_DATA_DIR/<name>`` (or ``~/data/<name>``). Must be
            None for generated datasets (``world:*``), which live in the fgkd cache.
        split: ``"train"`` or ``"test"`` (the world also has ``"pretrain"``).
        transform: applied to each PIL RGB image; None returns the PIL image.
        **options: dataset-specific keywords (e.g. ``partition`` for DTD, ``train_per_class`` for
            Caltech101, ``num_classes`` for the world). For datasets that do not subsample
            themselves, ``fraction`` in (0, 1] and ``fraction_seed`` (default 0) keep a nested
            stratified subset (:func:`fgkd.data.stratified_subset`).

    Raises:
        ValueError: unknown name (the message lists the known ones), split or option.
        DatasetNotFoundError: the real data is missing or incomplete.
    """
    entry = dataset_info(name)
    if is_folder_dataset(name):  # the folder is named by the dataset name itself
        options = {**options, "path": name[len(FOLDER_PREFIX):]}
    if split not in entry.splits:
        raise ValueError(f"Dataset '{name}' has no split '{split}'; splits: {', '.join(entry.splits)}.")

    if entry.uses_root:
        root_path: Path | None = Path(root).expanduser() if root is not None else default_root(name)
    elif root is not None:
        where = ("names its folder itself" if is_folder_dataset(name)
                 else "is generated and cached under $FGKD_CACHE_DIR")
        raise ValueError(f"Dataset '{name}' {where}; it takes no root (got root={root!r}). Drop the root argument.")
    else:
        root_path = None

    fraction = fraction_seed = None
    if not entry.handles_fraction:
        fraction = options.pop("fraction", None)
        fraction_seed = options.pop("fraction_seed", 0)
    factory = entry.resolve()
    _check_options(name, factory, entry.handles_fraction, options)

    dataset = factory(root=root_path, split=split, transform=transform, **options)
    _check_contract(name, dataset)
    if fraction is not None:
        from fgkd.data.subsets import stratified_subset

        dataset = stratified_subset(dataset, fraction, seed=fraction_seed)
    return dataset


def _check_options(name: str, factory: DatasetFactory, handles_fraction: bool, options: dict[str, Any]) -> None:
    """Reject option names the factory does not take, listing the ones it does."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if n not in ("root", "split", "transform") and p.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    if not handles_fraction:
        allowed += ["fraction", "fraction_seed"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Dataset '{name}' takes no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(allowed) or 'none'}."
        )


def _check_contract(name: str, dataset: Any) -> None:
    """Fail early when a (user-registered) factory breaks the dataset contract."""
    for attribute in ("classes", "targets"):
        if not hasattr(dataset, attribute):
            raise TypeError(f"The factory for dataset '{name}' returned {type(dataset).__name__} "
                            f"without `{attribute}`; every fgkd dataset needs `classes` and `targets`.")
    if len(dataset.targets) != len(dataset):
        raise TypeError(f"Dataset '{name}' has {len(dataset)} items but {len(dataset.targets)} targets.")


# --- built-in entries. Real datasets are named "module:function" and imported on first use, so this
# module imports fast, never needs torchvision up front, and loads even before fgkd.data.world exists.


def _world_factory(domain: str) -> DatasetFactory:
    def factory(root: None, split: str, transform: Transform, **options: Any) -> Dataset:
        from fgkd.data.world import world_dataset

        return world_dataset(domain, split=split, transform=transform, **options)

    factory.__name__ = f"world_{domain}"
    return factory


def _register_builtins() -> None:
    for domain in ("bird", "car", "aircraft"):
        register_dataset(
            f"world:{domain}", _world_factory(domain), splits=("train", "test", "pretrain"),
            uses_root=False, handles_fraction=True,
            description=f"procedural fine-grained {domain} images (fgkd.data.world)",
        )
    real = {
        "cub200": ("fgkd.data.cub:load_cub200", "CUB-200-2011, 200 bird species"),
        "stanford_cars": ("fgkd.data.torchvision_sets:load_stanford_cars", "Stanford Cars, 196 car models"),
        "fgvc_aircraft": ("fgkd.data.torchvision_sets:load_fgvc_aircraft", "FGVC-Aircraft, 100 variants"),
        "oxford_pets": ("fgkd.data.torchvision_sets:load_oxford_pets", "Oxford-IIIT Pets, 37 breeds"),
        "flowers102": ("fgkd.data.torchvision_sets:load_flowers102", "Oxford 102 Flowers"),
        "dtd": ("fgkd.data.torchvision_sets:load_dtd", "Describable Textures, 47 textures"),
        "caltech101": ("fgkd.data.torchvision_sets:load_caltech101", "Caltech-101, 101 object classes"),
    }
    for name, (factory, description) in real.items():
        register_dataset(name, factory, description=description)


_register_builtins()
