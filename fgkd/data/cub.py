"""CUB-200-2011 (Wah et al., 2011) read from its official folder.

Layout (the ``CUB_200_2011`` folder of the official ``CUB_200_2011.tgz``)::

    CUB_200_2011/
      images.txt                 <image_id> <class folder>/<file>.jpg
      train_test_split.txt       <image_id> <is_training_image: 1 train, 0 test>
      image_class_labels.txt     <image_id> <class_id, 1-based>
      classes.txt                <class_id> <NNN.Class_name>
      images/<NNN.Class_name>/<file>.jpg
      attributes/image_attribute_labels.txt   <image_id> <attribute_id> <is_present> <certainty_id> <time>
      attributes.txt             <attribute_id> has_<part>::<value>   (the tarball puts it beside
                                 CUB_200_2011/; it is also found inside it or in attributes/)

``root`` may be the ``CUB_200_2011`` folder itself or a folder containing it. The official split
gives 5,994 train and 5,794 test images. The 312 binary attribute labels (MTurk workers) are only
read when ``attribute_labels`` (or the certainties / names) is first used, so a copy without the
attribute files still loads images.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from fgkd.data.registry import DatasetNotFoundError, Transform, clean_class_name

SOURCE = ("https://www.vision.caltech.edu/datasets/cub_200_2011/ "
          "(CUB_200_2011.tgz, https://data.caltech.edu/records/65de6-vp158)")
LAYOUT = """\
<root>/                      (the CUB_200_2011 folder, or a folder containing it)
  images.txt
  train_test_split.txt
  image_class_labels.txt
  classes.txt
  images/001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg ...
  attributes/image_attribute_labels.txt   (for attribute_labels)
  attributes.txt                          (here, in attributes/ or beside <root>)
"""
REQUIRED_FILES = ("images.txt", "train_test_split.txt", "image_class_labels.txt", "classes.txt")
SPLITS = ("train", "test")


def find_cub_root(root: str | os.PathLike) -> Path:
    """The folder holding ``images.txt``: ``root`` itself or ``root/CUB_200_2011``."""
    root = Path(root).expanduser()
    if not (root / "images.txt").is_file() and (root / "CUB_200_2011" / "images.txt").is_file():
        return root / "CUB_200_2011"
    return root


def readable_attribute_name(raw: str) -> str:
    """``"has_bill_shape::curved_(up_or_down)"`` -> ``"bill shape: curved (up or down)"``."""
    part, _, value = raw.partition("::")
    part = part[4:] if part.startswith("has_") else part
    name = f"{part}: {value}" if value else part
    return " ".join(name.replace("_", " ").split())


def _read_table(path: Path) -> list[list[str]]:
    """Non-empty lines of a whitespace table, split in two at the first space (names keep theirs)."""
    with open(path) as fh:
        return [line.strip().split(maxsplit=1) for line in fh if line.strip()]


class CUB200(Dataset):
    """CUB-200-2011 with the official train/test split.

    Items are ``(PIL RGB image or transform(image), target)`` with ``target`` in ``[0, 200)``.

    Attributes:
        classes: readable species names, e.g. ``"Black footed Albatross"`` (index = target).
        raw_classes: the names in classes.txt, e.g. ``"001.Black_footed_Albatross"``.
        targets: one class index per item.
        image_ids: the 1-based ids of images.txt, one per item.
        paths: absolute image paths, one per item.
        attribute_names: 312 readable attribute names (``"bill shape: dagger"``), lazily read.
        attribute_keys: the raw names in attributes.txt (``"has_bill_shape::dagger"``).
        attribute_labels: ``uint8 [N, 312]``, 1 where a worker marked the attribute present.
        attribute_certainties: ``uint8 [N, 312]``, 1 not visible, 2 guessing, 3 probably, 4 definitely.
    """

    per_item_fields = ("image_ids", "paths", "attribute_labels", "attribute_certainties")

    def __init__(self, root: str | os.PathLike, split: str = "train", transform: Transform = None):
        if split not in SPLITS:
            raise ValueError(f"CUB200 split must be one of {SPLITS}, got {split!r}")
        self.root = find_cub_root(root)
        self.split = split
        self.transform = transform
        self._check_files()

        images = {int(i): name for i, name in _read_table(self.root / "images.txt")}
        is_train = {int(i): flag.strip() == "1" for i, flag in _read_table(self.root / "train_test_split.txt")}
        labels = {int(i): int(c) for i, c in _read_table(self.root / "image_class_labels.txt")}
        class_rows = sorted((int(i), name.strip()) for i, name in _read_table(self.root / "classes.txt"))
        if [i for i, _ in class_rows] != list(range(1, len(class_rows) + 1)):
            raise self._error("classes.txt ids are not 1..C without gaps")
        if not (images.keys() == is_train.keys() == labels.keys()):
            raise self._error("images.txt, train_test_split.txt and image_class_labels.txt list different image ids")
        bad = sorted(i for i, c in labels.items() if not 1 <= c <= len(class_rows))
        if bad:
            raise self._error(f"image_class_labels.txt has class ids outside 1..{len(class_rows)} (image {bad[0]})")

        self.raw_classes = [name for _, name in class_rows]
        self.classes = [clean_class_name(name) for name in self.raw_classes]
        want_train = split == "train"
        self.image_ids = [i for i in sorted(images) if is_train[i] == want_train]
        self.targets = [labels[i] - 1 for i in self.image_ids]
        self.paths = [self.root / "images" / images[i] for i in self.image_ids]
        missing = [p for p in self.paths if not p.is_file()]
        if missing:
            raise self._error(f"{len(missing)} of {len(self.paths)} {split} images are missing under "
                              f"images/, e.g. {missing[0].relative_to(self.root)}")

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        with Image.open(self.paths[index]) as image:
            # a few CUB images are greyscale or CMYK; the contract is RGB
            image = image.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    # --- attributes (read on first use: image_attribute_labels.txt has 312 x 11,788 lines)

    @cached_property
    def attribute_keys(self) -> list[str]:
        rows = _read_table(self._attribute_names_path())
        return [name.strip() for _, name in sorted(rows, key=lambda row: int(row[0]))]

    @cached_property
    def attribute_names(self) -> list[str]:
        return [readable_attribute_name(key) for key in self.attribute_keys]

    @property
    def attribute_labels(self) -> np.ndarray:
        return self._attribute_tables[0]

    @property
    def attribute_certainties(self) -> np.ndarray:
        return self._attribute_tables[1]

    @cached_property
    def _attribute_tables(self) -> tuple[np.ndarray, np.ndarray]:
        path = self.root / "attributes" / "image_attribute_labels.txt"
        if not path.is_file():
            raise self._error("attributes/image_attribute_labels.txt is missing (needed for attribute labels)")
        num_attributes = len(self.attribute_keys)
        # A few official lines carry an extra trailing column; the first four are always
        # <image_id> <attribute_id> <is_present> <certainty_id>, so read only those.
        table = np.loadtxt(path, usecols=(0, 1, 2, 3), dtype=np.int64, ndmin=2)
        image_id, attribute_id, present, certainty = table.T
        if table.size and (attribute_id.min() < 1 or attribute_id.max() > num_attributes):
            raise self._error(f"image_attribute_labels.txt has attribute ids outside 1..{num_attributes}")
        # row of each line's image in this split, -1 for images of the other split
        row_of = np.full(max(self.image_ids + [int(image_id.max(initial=0))]) + 1, -1, dtype=np.int64)
        row_of[self.image_ids] = np.arange(len(self.image_ids))
        rows = row_of[np.clip(image_id, 0, None)]
        keep = rows >= 0
        labels = np.zeros((len(self.image_ids), num_attributes), dtype=np.uint8)
        certainties = np.zeros_like(labels)
        labels[rows[keep], attribute_id[keep] - 1] = present[keep]
        certainties[rows[keep], attribute_id[keep] - 1] = certainty[keep]
        return labels, certainties

    def _attribute_names_path(self) -> Path:
        candidates = [self.root / "attributes.txt", self.root / "attributes" / "attributes.txt",
                      self.root.parent / "attributes.txt"]
        for path in candidates:
            if path.is_file():
                return path
        raise self._error("attributes.txt is missing (needed for attribute names); looked in "
                          + ", ".join(str(p) for p in candidates))

    def _check_files(self) -> None:
        if not self.root.is_dir():
            raise self._error("the folder does not exist")
        missing = [name for name in REQUIRED_FILES if not (self.root / name).is_file()]
        if not (self.root / "images").is_dir():
            missing.append("images/")
        if missing:
            raise self._error(f"missing {', '.join(missing)}")

    def _error(self, problem: str) -> DatasetNotFoundError:
        return DatasetNotFoundError("cub200", self.root, problem, LAYOUT, SOURCE)

    def __repr__(self) -> str:
        return f"CUB200(root={str(self.root)!r}, split={self.split!r}, items={len(self)}, classes={len(self.classes)})"


def load_cub200(root: Path, split: str, transform: Transform) -> CUB200:
    """Registry factory for ``get_dataset("cub200", ...)``."""
    return CUB200(root, split=split, transform=transform)
