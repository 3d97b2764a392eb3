"""Bring your own dataset: ``folder:<path>``, an ImageFolder tree, wherever a dataset name goes.

Two layouts are read (torchvision's ``ImageFolder`` finds the images; class names are the folder
names, made readable by :func:`~fgkd.data.registry.clean_class_name` for the LLM prompts)::

    <path>/train/<class>/*.jpg        # your own split: train/ and test/ with the same classes
    <path>/test/<class>/*.jpg

    <path>/<class>/*.jpg              # one tree: fgkd splits each class, seeded (test_fraction)

The one-tree split shuffles each class with a generator seeded by ``(split_seed, class)`` (as
Caltech101's) and keeps the first ``test_fraction`` of it (at least one image) as test, so the
split is the same on every machine and does not move when other classes change. The path is part
of the name, so it is part of each run's hash: two folders never share runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from fgkd.data.registry import FOLDER_PREFIX, Transform, clean_class_name
from fgkd.data.subsets import class_permutations

LAYOUT = """\
<path>/train/<class name>/<image>.jpg ...   (and <path>/test/<class name>/...)
or one tree: <path>/<class name>/<image>.jpg ...
"""


def folder_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as an image-folder dataset (None: it can), without reading images."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    folder = Path(path).expanduser()
    if not folder.is_dir():
        return f"folder {str(path)!r} does not exist (resolved: {folder.resolve()})"
    trees = [folder / "train", folder / "test"] if (folder / "train").is_dir() else [folder]
    if trees[0] != folder and not trees[1].is_dir():
        return f"{folder} has train/ but no test/: add test/<class>/... or drop train/ to let fgkd split one tree"
    class_sets = []
    for tree in trees:
        classes = sorted(d.name for d in tree.iterdir() if d.is_dir())
        if len(classes) < 2:
            return f"{tree} needs one sub-folder per class (at least two); it has {len(classes)}"
        empty = [c for c in classes if not any(p.suffix.lower() in IMG_EXTENSIONS for p in (tree / c).rglob("*"))]
        if empty:
            return f"class folder(s) {', '.join(empty[:5])} in {tree} hold no images ({', '.join(IMG_EXTENSIONS)})"
        class_sets.append(classes)
    if len(class_sets) == 2 and class_sets[0] != class_sets[1]:
        only = sorted(set(class_sets[0]) ^ set(class_sets[1]))
        return f"train/ and test/ in {folder} must have the same class folders; these are in one only: {only[:5]}"
    return None


class FolderDataset(Dataset):
    """One split of an image-folder tree, on the fgkd contract (``classes``, ``targets``)."""

    def __init__(self, name: str, split: str, image_folder: Any, indices: list[int], transform: Transform):
        self.name, self.split = name, split
        self.root = Path(image_folder.root)
        self.samples = [image_folder.samples[i] for i in indices]
        self.targets = [int(t) for _, t in self.samples]
        self.folder_classes = list(image_folder.classes)  # the folder names, as on disk
        self.classes = [clean_class_name(c) for c in image_folder.classes]
        self.loader = image_folder.loader
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, target = self.samples[i]
        image = self.loader(path).convert("RGB")
        return (self.transform(image) if self.transform is not None else image), int(target)

    def __repr__(self) -> str:
        return f"FolderDataset({self.name!r}, split={self.split!r}, {len(self)} images, {len(self.classes)} classes)"


def load_folder(root: None, split: str, transform: Transform = None, *, path: str, test_fraction: float = 0.2,
                split_seed: int = 0) -> FolderDataset:
    """``split`` (``train`` / ``test``) of the image folder at ``path`` (module docstring).

    Args:
        test_fraction: for a one-tree folder, the share of each class held out as test, in (0, 1).
        split_seed: seeds each class's shuffle of a one-tree folder.
    """
    from torchvision.datasets import ImageFolder

    from fgkd.data.registry import DatasetNotFoundError

    name = FOLDER_PREFIX + path
    problem = folder_problem(path)
    if problem:
        raise DatasetNotFoundError(name, Path(path).expanduser(), problem, LAYOUT,
                                   "your own images, one folder per class")
    if isinstance(test_fraction, bool) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"{name}: test_fraction must be in (0, 1), got {test_fraction!r}")
    folder = Path(path).expanduser()
    if (folder / "train").is_dir():
        tree = ImageFolder(str(folder / split))
        return FolderDataset(name, split, tree, list(range(len(tree.samples))), transform)
    tree = ImageFolder(str(folder))
    chosen: list[int] = []
    for c, order in sorted(class_permutations(tree.targets, seed=split_seed).items()):
        n_test = max(1, round(float(test_fraction) * len(order)))
        if n_test >= len(order):
            raise ValueError(f"{name}: class {tree.classes[c]!r} has {len(order)} image(s), too few to keep "
                             f"{n_test} for test and some for training; add images or use train/ and test/")
        chosen += (order[n_test:] if split == "train" else order[:n_test]).tolist()
    return FolderDataset(name, split, tree, sorted(chosen), transform)
