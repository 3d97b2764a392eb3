"""Stanford Cars, FGVC-Aircraft, Oxford Pets, Flowers102, DTD and Caltech101 through torchvision.

``root`` is the folder handed to torchvision as its ``root``: it holds the sub-folder torchvision
reads (``stanford_cars/``, ``fgvc-aircraft-2013b/``, ``oxford-iiit-pet/``, ``flowers-102/``,
``dtd/``, ``caltech101/``), exactly what ``torchvision.datasets.X(root, download=True)`` would
have made. fgkd always passes ``download=False``; torchvision's own errors are re-raised as one
:class:`~fgkd.data.registry.DatasetNotFoundError` with the layout and the source.

Splits (fgkd ``train`` / ``test``):

==============  ===========================  ======================
dataset         train                        test
==============  ===========================  ======================
stanford_cars   train                        test
fgvc_aircraft   trainval                     test
oxford_pets     trainval                     test
flowers102      train + val                  test
dtd             train + val (partition 1)    test (partition 1)
caltech101      30 random images per class   all other images
==============  ===========================  ======================

Caltech101 has no official split: each class's images are shuffled with a generator seeded by
``(split_seed, class)`` and the first ``train_per_class`` (30, the protocol of Fei-Fei et al.,
2004) are train, the rest test; deterministic, and the train sets are nested across
``train_per_class``.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from PIL import Image
from torch.utils.data import Dataset

from fgkd.data.registry import DatasetNotFoundError, Transform, clean_class_name
from fgkd.data.subsets import class_permutations


@dataclass(frozen=True)
class TorchvisionSpec:
    """How one torchvision dataset maps onto the fgkd contract."""

    name: str  # registry name
    title: str
    tv_class: str  # class name in torchvision.datasets
    folder: str  # the sub-folder of root that torchvision reads
    layout: str  # short tree under <root>, shown in the not-found error
    source: str  # where to get the data (text only; never downloaded)
    targets_of: Callable[[Any], list[int]]  # labels of a torchvision instance without decoding images
    needs_scipy: bool = False  # .mat annotation files


def _attribute_targets(attribute: str) -> Callable[[Any], list[int]]:
    return lambda ds: [int(t) for t in getattr(ds, attribute)]


SPECS: dict[str, TorchvisionSpec] = {
    spec.name: spec
    for spec in [
        TorchvisionSpec(
            "stanford_cars", "Stanford Cars", "StanfordCars", "stanford_cars",
            """\
<root>/stanford_cars/
  devkit/cars_meta.mat
  devkit/cars_train_annos.mat
  cars_train/00001.jpg ...
  cars_test/00001.jpg ...
  cars_test_annos_withlabels.mat
""",
            "https://ai.stanford.edu/~jkrause/cars/car_dataset.html (offline; see "
            "https://github.com/pytorch/vision/issues/7545 for mirrors of the images, devkit and "
            "cars_test_annos_withlabels.mat)",
            lambda ds: [int(target) for _, target in ds._samples],
            needs_scipy=True,
        ),
        TorchvisionSpec(
            "fgvc_aircraft", "FGVC-Aircraft", "FGVCAircraft", "fgvc-aircraft-2013b",
            """\
<root>/fgvc-aircraft-2013b/data/
  variants.txt (and families.txt, manufacturers.txt)
  images_variant_trainval.txt
  images_variant_test.txt
  images/1025794.jpg ...
""",
            "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ (fgvc-aircraft-2013b.tar.gz, "
            "unpacked inside <root>)",
            _attribute_targets("_labels"),
        ),
        TorchvisionSpec(
            "oxford_pets", "Oxford-IIIT Pets", "OxfordIIITPet", "oxford-iiit-pet",
            """\
<root>/oxford-iiit-pet/
  images/Abyssinian_1.jpg ...
  annotations/trainval.txt
  annotations/test.txt
""",
            "https://www.robots.ox.ac.uk/~vgg/data/pets/ (images.tar.gz and annotations.tar.gz, "
            "both unpacked inside <root>/oxford-iiit-pet)",
            _attribute_targets("_labels"),
        ),
        TorchvisionSpec(
            "flowers102", "Oxford 102 Flowers", "Flowers102", "flowers-102",
            """\
<root>/flowers-102/
  jpg/image_00001.jpg ...
  imagelabels.mat
  setid.mat
""",
            "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ (102flowers.tgz unpacked inside "
            "<root>/flowers-102, plus imagelabels.mat and setid.mat; torchvision checks their MD5)",
            _attribute_targets("_labels"),
            needs_scipy=True,
        ),
        TorchvisionSpec(
            "dtd", "Describable Textures", "DTD", "dtd",
            """\
<root>/dtd/dtd/
  images/banded/banded_0002.jpg ...
  labels/train1.txt, val1.txt, test1.txt (... partitions 1-10)
""",
            "https://www.robots.ox.ac.uk/~vgg/data/dtd/ (dtd-r1.0.1.tar.gz, unpacked inside <root>/dtd)",
            _attribute_targets("_labels"),
        ),
        TorchvisionSpec(
            "caltech101", "Caltech-101", "Caltech101", "caltech101",
            """\
<root>/caltech101/
  101_ObjectCategories/accordion/image_0001.jpg ...
  101_ObjectCategories/BACKGROUND_Google/ (ignored)
""",
            "https://data.caltech.edu/records/mzrjq-6wc02 (caltech-101.zip; unpack "
            "101_ObjectCategories.tar.gz from it inside <root>/caltech101)",
            _attribute_targets("y"),
        ),
    ]
}


class TorchvisionDataset(Dataset):
    """One fgkd split built from one or more torchvision datasets (e.g. Flowers102 train + val).

    Items are ``(PIL RGB image or transform(image), target)``.

    Attributes:
        classes: readable class names (index = target); ``raw_classes`` as torchvision names them.
        targets: one class index per item.
        sources: the torchvision datasets the items come from (built with transform=None).
    """

    def __init__(self, name: str, split: str, sources: Sequence[Dataset], items: Sequence[tuple[int, int]],
                 targets: Sequence[int], raw_classes: Sequence[str], transform: Transform = None):
        if len(items) != len(targets):
            raise ValueError(f"{name}: {len(items)} items but {len(targets)} targets")
        self.name = name
        self.split = split
        self.sources = list(sources)
        self._items = list(items)  # (source index, index inside that source)
        self.targets = [int(t) for t in targets]
        self.raw_classes = list(raw_classes)
        self.classes = [clean_class_name(c) for c in self.raw_classes]
        self.transform = transform

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        source, inner = self._items[index]
        image, _ = self.sources[source][inner]
        if isinstance(image, Image.Image):
            # Caltech101 returns greyscale images as they are, and lazily opened (file left open);
            # convert() decodes into an RGB copy either way
            image = image.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    def __repr__(self) -> str:
        return (f"TorchvisionDataset({self.name!r}, split={self.split!r}, items={len(self)}, "
                f"classes={len(self.classes)})")


def _error(spec: TorchvisionSpec, root: Path, problem: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(spec.name, root, problem, spec.layout, spec.source)


def _build(spec: TorchvisionSpec, root: Path, **kwargs: Any) -> Dataset:
    """``torchvision.datasets.<tv_class>(root, download=False, **kwargs)`` with one clear error."""
    root = Path(root).expanduser()
    # Checked before torchvision runs: Caltech101 would otherwise create <root>/caltech101.
    if not (root / spec.folder).is_dir():
        raise _error(spec, root, f"the folder {root / spec.folder} does not exist")
    if spec.needs_scipy and importlib.util.find_spec("scipy") is None:
        raise ImportError(f"{spec.title} annotations are .mat files, read with scipy: pip install scipy")
    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.tv_class)
    try:
        return cls(str(root), download=False, **kwargs)
    except (RuntimeError, OSError, KeyError, ValueError, IndexError) as err:
        # torchvision says "Dataset not found..." (RuntimeError) or fails to open or parse an
        # annotation file of an incomplete copy
        # torchvision's hint to pass download=True does not apply: fgkd never downloads
        reason = re.sub(r"\s*You can use download=True to download it\.?", "", str(err)) or type(err).__name__
        raise _error(spec, root, f"torchvision.datasets.{spec.tv_class} failed: {reason}") from err


def _combine(spec: TorchvisionSpec, root: Path, split: str, parts: Sequence[Dataset],
             transform: Transform, classes_of: Callable[[Any], list[str]]) -> TorchvisionDataset:
    """Concatenate torchvision splits that share one class list."""
    raw_classes = list(classes_of(parts[0]))
    for part in parts[1:]:
        if list(classes_of(part)) != raw_classes:
            raise _error(spec, root, "its split files list different classes (an incomplete copy)")
    items, targets = [], []
    for p, part in enumerate(parts):
        part_targets = spec.targets_of(part)
        items += [(p, i) for i in range(len(part_targets))]
        targets += part_targets
    return TorchvisionDataset(spec.name, split, parts, items, targets, raw_classes, transform)


def _check_split(name: str, split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"{name} split must be 'train' or 'test', got {split!r}")


def _classes(ds: Any) -> list[str]:
    return list(ds.classes)


def load_stanford_cars(root: Path, split: str, transform: Transform = None) -> TorchvisionDataset:
    """Stanford Cars (Krause et al., 2013): 196 classes, 8,144 train / 8,041 test images."""
    _check_split("stanford_cars", split)
    spec = SPECS["stanford_cars"]
    return _combine(spec, root, split, [_build(spec, root, split=split)], transform, _classes)


def load_fgvc_aircraft(root: Path, split: str, transform: Transform = None,
                       annotation_level: str = "variant") -> TorchvisionDataset:
    """FGVC-Aircraft (Maji et al., 2013): train = ``trainval`` (6,667), test (3,333).

    ``annotation_level``: ``"variant"`` (100 classes), ``"family"`` (70) or ``"manufacturer"`` (30).
    """
    _check_split("fgvc_aircraft", split)
    if annotation_level not in ("variant", "family", "manufacturer"):
        raise ValueError(f"fgvc_aircraft annotation_level must be 'variant', 'family' or 'manufacturer', "
                         f"got {annotation_level!r}")
    spec = SPECS["fgvc_aircraft"]
    tv_split = "trainval" if split == "train" else "test"
    ds = _build(spec, root, split=tv_split, annotation_level=annotation_level)
    return _combine(spec, root, split, [ds], transform, _classes)


def load_oxford_pets(root: Path, split: str, transform: Transform = None) -> TorchvisionDataset:
    """Oxford-IIIT Pets (Parkhi et al., 2012): 37 breeds, train = ``trainval`` (3,680), test (3,669)."""
    _check_split("oxford_pets", split)
    spec = SPECS["oxford_pets"]
    tv_split = "trainval" if split == "train" else "test"
    ds = _build(spec, root, split=tv_split, target_types="category")
    return _combine(spec, root, split, [ds], transform, _classes)


def load_flowers102(root: Path, split: str, transform: Transform = None) -> TorchvisionDataset:
    """Oxford 102 Flowers (Nilsback & Zisserman, 2008): train = train + val (2,040), test (6,149)."""
    _check_split("flowers102", split)
    spec = SPECS["flowers102"]
    tv_splits = ("train", "val") if split == "train" else ("test",)
    parts = [_build(spec, root, split=s) for s in tv_splits]
    return _combine(spec, root, split, parts, transform, _classes)


def load_dtd(root: Path, split: str, transform: Transform = None, partition: int = 1) -> TorchvisionDataset:
    """DTD (Cimpoi et al., 2014): 47 textures; train = train + val (3,760), test (1,880) of ``partition``."""
    _check_split("dtd", split)
    if isinstance(partition, bool) or not isinstance(partition, int) or not 1 <= partition <= 10:
        raise ValueError(f"dtd partition must be an int in 1..10, got {partition!r}")
    spec = SPECS["dtd"]
    tv_splits = ("train", "val") if split == "train" else ("test",)
    parts = [_build(spec, root, split=s, partition=partition) for s in tv_splits]
    return _combine(spec, root, split, parts, transform, _classes)


def load_caltech101(root: Path, split: str, transform: Transform = None, train_per_class: int = 30,
                    split_seed: int = 0) -> TorchvisionDataset:
    """Caltech-101 (Fei-Fei et al., 2004): 101 classes, a seeded per-class split (module docstring).

    Args:
        train_per_class: training images per class; every class needs more than this many images
            (the smallest real class has 31).
        split_seed: seeds each class's shuffle.
    """
    _check_split("caltech101", split)
    if isinstance(train_per_class, bool) or not isinstance(train_per_class, int) or train_per_class < 1:
        raise ValueError(f"caltech101 train_per_class must be a positive int, got {train_per_class!r}")
    spec = SPECS["caltech101"]
    ds = _build(spec, root, target_type="category")
    all_targets = spec.targets_of(ds)
    chosen = []
    for c, order in sorted(class_permutations(all_targets, seed=split_seed).items()):
        if len(order) <= train_per_class:
            raise ValueError(f"caltech101 class '{ds.categories[c]}' has {len(order)} images, so "
                             f"train_per_class={train_per_class} leaves none for test; lower it.")
        chosen += (order[:train_per_class] if split == "train" else order[train_per_class:]).tolist()
    chosen.sort()
    items = [(0, i) for i in chosen]
    targets = [all_targets[i] for i in chosen]
    return TorchvisionDataset(spec.name, split, [ds], items, targets, ds.categories, transform)
