"""Builders of tiny fake dataset folders in the official layouts (a few 8x8 JPEGs and the text or
.mat annotation files), for testing the real loaders without the real data."""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross", "004.Groove_billed_Ani")
CUB_ATTRIBUTES = ("has_bill_shape::curved_(up_or_down)", "has_bill_shape::dagger", "has_wing_color::blue",
                  "has_wing_color::brown", "has_upperparts_color::iridescent")


def write_image(path: Path, color: tuple[int, int, int], size: int = 8, mode: str = "RGB") -> None:
    """An ``size x size`` JPEG of one colour (``mode="L"`` writes a greyscale file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (size, size), color)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, "JPEG")


def class_color(c: int) -> tuple[int, int, int]:
    """A distinct colour per class, so a test can tell which image it got."""
    return (40 * (c + 1) % 256, 255 - 50 * c % 256, 90)


@dataclass
class FakeCub:
    root: Path  # the CUB_200_2011 folder
    classes: tuple[str, ...]
    train_ids: list[int]
    test_ids: list[int]
    labels: dict[int, int]  # image id -> 0-based class
    attribute_labels: np.ndarray  # uint8 [num_images, A], row = image id - 1
    attribute_certainties: np.ndarray
    greyscale_id: int  # an image stored as a 1-channel JPEG
    relpaths: dict[int, str] = field(default_factory=dict)


def make_fake_cub(parent: Path, num_classes: int = 3, images_per_class: int = 3, train_per_class: int = 2,
                  attributes_txt: str = "top", folder: str = "CUB_200_2011", seed: int = 0) -> FakeCub:
    """A CUB_200_2011 tree under ``parent/folder``.

    ``attributes_txt``: where attributes.txt goes: ``"top"`` (inside the folder), ``"attributes"``
    (in attributes/), ``"parent"`` (beside the folder, as in the official tarball) or ``"none"``.
    """
    rng = np.random.default_rng(seed)
    root = parent / folder
    root.mkdir(parents=True)
    classes = CUB_CLASSES[:num_classes]
    images, split, labels, relpaths = [], [], {}, {}
    image_id = 0
    for c, name in enumerate(classes):
        species = name.split(".", 1)[1]
        for k in range(images_per_class):
            image_id += 1
            rel = f"{name}/{species}_{k:04d}_{100 + image_id}.jpg"
            relpaths[image_id] = rel
            images.append(f"{image_id} {rel}")
            # the first train_per_class images of a class are train: interleaves splits in id order
            split.append(f"{image_id} {1 if k < train_per_class else 0}")
            labels[image_id] = c
    greyscale_id = 2
    for i, rel in relpaths.items():
        write_image(root / "images" / rel, class_color(labels[i]), mode="L" if i == greyscale_id else "RGB")
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (root / "image_class_labels.txt").write_text("".join(f"{i} {c + 1}\n" for i, c in labels.items()))
    (root / "classes.txt").write_text("".join(f"{c + 1} {name}\n" for c, name in enumerate(classes)))

    num_images, num_attributes = image_id, len(CUB_ATTRIBUTES)
    present = rng.integers(0, 2, size=(num_images, num_attributes)).astype(np.uint8)
    certainty = rng.integers(1, 5, size=(num_images, num_attributes)).astype(np.uint8)
    lines = []
    for i in range(num_images):
        for a in range(num_attributes):
            line = f"{i + 1} {a + 1} {present[i, a]} {certainty[i, a]} {rng.uniform(1, 30):.3f}"
            if i == 0 and a == 1:
                line += " 0"  # the official file has a few lines with an extra trailing column
            lines.append(line)
    (root / "attributes").mkdir()
    (root / "attributes" / "image_attribute_labels.txt").write_text("\n".join(lines) + "\n")
    attribute_text = "".join(f"{a + 1} {name}\n" for a, name in enumerate(CUB_ATTRIBUTES))
    target = {"top": root, "attributes": root / "attributes", "parent": parent}.get(attributes_txt)
    if target is not None:
        (target / "attributes.txt").write_text(attribute_text)

    ids = sorted(labels)
    train_ids = [i for i in ids if split[i - 1].endswith(" 1")]
    test_ids = [i for i in ids if split[i - 1].endswith(" 0")]
    return FakeCub(root, classes, train_ids, test_ids, labels, present, certainty, greyscale_id, relpaths)


# --- torchvision layouts (read from torchvision's source: the files each class opens)


def make_fake_dtd(root: Path, classes: tuple[str, ...] = ("banded", "braided", "zigzagged"),
                  per_split: dict[str, int] | None = None, partition: int = 1) -> dict[str, list[tuple[str, str]]]:
    """``root/dtd/dtd/{images/<class>/<class>_NNNN.jpg, labels/<split><partition>.txt}``.

    Returns the (class, file) pairs of each torchvision split.
    """
    per_split = per_split or {"train": 2, "val": 1, "test": 1}
    data = root / "dtd" / "dtd"
    (data / "labels").mkdir(parents=True)
    listed: dict[str, list[tuple[str, str]]] = {}
    counter = 0
    for split, n in per_split.items():
        listed[split] = []
        for c, name in enumerate(classes):
            for _ in range(n):
                counter += 1
                file = f"{name}_{counter:04d}.jpg"
                write_image(data / "images" / name / file, class_color(c))
                listed[split].append((name, file))
        (data / "labels" / f"{split}{partition}.txt").write_text("".join(f"{c}/{f}\n" for c, f in listed[split]))
    return listed


def make_fake_fgvc_aircraft(root: Path, variants: tuple[str, ...] = ("707-320", "A320", "Cessna 172"),
                            per_split: dict[str, int] | None = None) -> dict[str, list[tuple[str, int]]]:
    """``root/fgvc-aircraft-2013b/data/{variants.txt, images_variant_<split>.txt, images/<id>.jpg}``."""
    per_split = per_split or {"trainval": 2, "test": 1}
    data = root / "fgvc-aircraft-2013b" / "data"
    data.mkdir(parents=True)
    (data / "variants.txt").write_text("".join(f"{v}\n" for v in variants))
    listed: dict[str, list[tuple[str, int]]] = {}
    image_id = 1000000
    for split, n in per_split.items():
        listed[split] = []
        for c, variant in enumerate(variants):
            for _ in range(n):
                image_id += 1
                write_image(data / "images" / f"{image_id}.jpg", class_color(c))
                listed[split].append((str(image_id), c))
        (data / f"images_variant_{split}.txt").write_text(
            "".join(f"{i} {variants[c]}\n" for i, c in listed[split]))
    return listed


def make_fake_oxford_pets(root: Path, breeds: tuple[str, ...] = ("Abyssinian", "american_bulldog"),
                          per_split: dict[str, int] | None = None) -> None:
    """``root/oxford-iiit-pet/{images/<Breed>_<k>.jpg, annotations/<split>.txt}``; a line is
    ``<image id> <class id> <species 1 cat | 2 dog> <breed id>``."""
    per_split = per_split or {"trainval": 2, "test": 1}
    base = root / "oxford-iiit-pet"
    (base / "annotations").mkdir(parents=True)
    k = 0
    for split, n in per_split.items():
        lines = []
        for c, breed in enumerate(breeds):
            for _ in range(n):
                k += 1
                image_id = f"{breed}_{k}"
                write_image(base / "images" / f"{image_id}.jpg", class_color(c))
                lines.append(f"{image_id} {c + 1} {1 if breed[0].isupper() else 2} {c + 1}\n")
        (base / "annotations" / f"{split}.txt").write_text("".join(lines))


def make_fake_caltech101(root: Path, counts: dict[str, int] | None = None) -> dict[str, int]:
    """``root/caltech101/101_ObjectCategories/<category>/image_NNNN.jpg`` (with BACKGROUND_Google,
    which torchvision drops); one image is greyscale, as some real ones are."""
    counts = counts or {"Faces_easy": 4, "accordion": 5, "yin_yang": 6}
    base = root / "caltech101" / "101_ObjectCategories"
    for c, (category, n) in enumerate({"BACKGROUND_Google": 2, **counts}.items()):
        for k in range(1, n + 1):
            mode = "L" if (category == "accordion" and k == 1) else "RGB"
            write_image(base / category / f"image_{k:04d}.jpg", class_color(c), mode=mode)
    return counts


def make_fake_stanford_cars(root: Path, class_names: tuple[str, ...] = ("AM General Hummer SUV 2000",
                                                                        "Acura RL Sedan 2012"),
                            per_split: int = 2) -> None:
    """``root/stanford_cars/{devkit/cars_meta.mat, devkit/cars_train_annos.mat, cars_train/,
    cars_test/, cars_test_annos_withlabels.mat}``, the .mat files written with scipy."""
    from scipy.io import savemat

    base = root / "stanford_cars"
    (base / "devkit").mkdir(parents=True)
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array(class_names, dtype=object)})
    for split, annos in (("train", base / "devkit" / "cars_train_annos.mat"),
                         ("test", base / "cars_test_annos_withlabels.mat")):
        records = np.zeros(len(class_names) * per_split, dtype=[("fname", object), ("class", object)])
        for n, (c, k) in enumerate((c, k) for c in range(len(class_names)) for k in range(per_split)):
            fname = f"{n + 1:05d}.jpg"
            write_image(base / f"cars_{split}" / fname, class_color(c))
            records[n] = (fname, c + 1)
        savemat(annos, {"annotations": records})


def write_fake_coco(root, n_train=4, n_val=3, size=64):
    """A COCO 2017 tree the tests write: a few JPEGs and instances_*.json with two categories
    (ids 3 and 7, not contiguous, as COCO's are) and a crowd region that training must skip."""
    rng = np.random.default_rng(0)
    (root / "annotations").mkdir(parents=True)
    for split, n in (("train2017", n_train), ("val2017", n_val)):
        (root / split).mkdir()
        images, annotations = [], []
        for i in range(n):
            pixels = (rng.uniform(0, 60, (size, size, 3))).astype(np.uint8)
            x, y = int(rng.integers(0, size // 2)), int(rng.integers(0, size // 2))
            pixels[y:y + 24, x:x + 24] = (220, 40, 40) if i % 2 else (40, 40, 220)
            name = f"{i + 1:012d}.jpg"
            Image.fromarray(pixels).save(root / split / name)
            images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
            annotations.append({"id": 2 * i + 1, "image_id": i + 1, "category_id": 7 if i % 2 else 3,
                                "bbox": [x, y, 24, 24], "area": 576, "iscrowd": 0})
            annotations.append({"id": 2 * i + 2, "image_id": i + 1, "category_id": 3, "bbox": [0, 0, 4, 4],
                                "area": 16, "iscrowd": 1})
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps({
            "images": images, "annotations": annotations,
            "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "train"}]}))
    return root
