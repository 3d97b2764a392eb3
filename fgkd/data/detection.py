"""Detection datasets (MaKD Table 7) behind one contract, and COCO-style evaluation.

Two sources, one item format: ``(PIL RGB image, target)`` with ``target = {"boxes": float32
[K, 4] (x0, y0, x1, y1) pixels, "labels": int64 [K] in 1..C (0 is the detector's background),
"image_id": int}``, the format torchvision's detection models train on. Every dataset also has
``classes`` (C names, label ``k`` is ``classes[k - 1]``), ``image_ids`` and ``coco``: a
``pycocotools.coco.COCO`` of its ground truth, which :func:`coco_evaluate` scores detections
against with the standard COCO protocol (``COCOeval``, iouType ``bbox``).

- ``coco``: MS-COCO 2017 through ``torchvision.datasets.CocoDetection`` from
  ``$FGKD_DATA_DIR/coco`` (``train`` = train2017, ``test`` = val2017, as MaKD reports val2017).
- ``world:<domain>``: scenes of the procedural world (:mod:`fgkd.data.world.scenes`), options
  ``scene_size``, ``scenes_per_class`` / ``test_scenes_per_class``, ``max_objects`` and any
  :class:`~fgkd.data.world.WorldConfig` field. Their ``world`` and per-image ``attributes`` serve
  the oracle scorer and the template LLM, as the world's classification splits do.
"""

from __future__ import annotations

import contextlib
import io
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from fgkd.data.registry import DatasetNotFoundError, default_root

COCO_LAYOUT = """\
<root>/
  train2017/000000000009.jpg ...
  val2017/000000000139.jpg ...
  annotations/instances_train2017.json
  annotations/instances_val2017.json"""
COCO_SOURCE = "https://cocodataset.org/#download (2017 Train/Val images and annotations)"
COCO_SPLITS = {"train": "train2017", "test": "val2017"}
COCO_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")  # COCOeval.stats[0:6], in percent
DETECTION_DATASETS = ("coco", "world:bird", "world:car", "world:aircraft")


def coco_paths(root: str | os.PathLike, split: str) -> tuple[Path, Path]:
    """``(image folder, annotation file)`` of a COCO 2017 split; a clear error when either is missing."""
    root = Path(root).expanduser()
    images = root / COCO_SPLITS[split]
    annotations = root / "annotations" / f"instances_{COCO_SPLITS[split]}.json"
    for path, what in ((images, "image folder"), (annotations, "annotation file")):
        if not path.exists():
            raise DatasetNotFoundError("coco", root, f"the {what} {path.relative_to(root)} is missing",
                                       COCO_LAYOUT, COCO_SOURCE)
    if not any(images.iterdir()):
        raise DatasetNotFoundError("coco", root, f"the image folder {images.relative_to(root)} is empty",
                                   COCO_LAYOUT, COCO_SOURCE)
    return images, annotations


def check_coco(root: str | os.PathLike | None = None) -> None:
    """Both COCO 2017 splits are where fgkd reads them (``root``, default ``$FGKD_DATA_DIR/coco``);
    else the :class:`DatasetNotFoundError` naming the layout. Reads no annotation file."""
    for split in COCO_SPLITS:
        coco_paths(default_root("coco") if root is None else root, split)


class CocoScenes(Dataset):
    """MS-COCO through ``torchvision.datasets.CocoDetection``, with targets in the detection format
    (crowd regions and boxes under one pixel dropped, as torchvision's detection recipe does)."""

    def __init__(self, root: str | os.PathLike | None = None, split: str = "train") -> None:
        from torchvision.datasets import CocoDetection

        if split not in COCO_SPLITS:
            raise ValueError(f"coco: split={split!r} is unknown; use 'train' (train2017) or 'test' (val2017)")
        images, annotations = coco_paths(default_root("coco") if root is None else root, split)
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its loading times
            self.source = CocoDetection(str(images), str(annotations))
        self.coco = self.source.coco
        self.category_ids = sorted(self.coco.getCatIds())  # label k <-> category_ids[k - 1]
        self.classes = [self.coco.cats[c]["name"] for c in self.category_ids]
        self._label = {c: k + 1 for k, c in enumerate(self.category_ids)}
        self.image_ids = list(self.source.ids)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        image, annotations = self.source[index]
        boxes, labels = [], []
        for a in annotations:
            x, y, w, h = a["bbox"]
            if a.get("iscrowd", 0) or w < 1 or h < 1:
                continue
            boxes.append((x, y, x + w, y + h))
            labels.append(self._label[a["category_id"]])
        return image.convert("RGB"), _target(boxes, labels, self.image_ids[index])


class WorldScenes(Dataset):
    """Detection scenes of the world (:func:`fgkd.data.world.scenes.scene_split`)."""

    def __init__(self, domain: str, split: str = "train", scene_size: int = 64, scenes_per_class: int | None = None,
                 test_scenes_per_class: int | None = None, max_objects: int = 3, **world_options: Any) -> None:
        from fgkd.data.world import World, WorldConfig
        from fgkd.data.world.scenes import scene_split

        self.world = World(WorldConfig(domain=domain, **world_options))
        per_class = scenes_per_class if split == "train" else test_scenes_per_class
        data = scene_split(self.world, split, scene_size, per_class, max_objects)
        self.images = data.images
        self.targets = data.labels.tolist()  # the main object's class per scene
        self.attributes = data.attributes
        self.attribute_names = self.world.attribute_names
        self.classes = list(self.world.class_names)
        self.category_ids = list(range(1, len(self.classes) + 1))
        self.image_ids = list(range(1, len(self.images) + 1))
        order = np.argsort(data.box_image, kind="stable")
        starts = np.searchsorted(data.box_image[order], np.arange(len(self.images) + 1))
        self._boxes = [data.boxes[order[a:b]] for a, b in zip(starts[:-1], starts[1:])]
        self._labels = [data.box_labels[order[a:b]] + 1 for a, b in zip(starts[:-1], starts[1:])]

    @cached_property
    def coco(self):
        """The split's ground truth as a pycocotools COCO (built when evaluation first asks)."""
        return coco_from_targets([self.target(i) for i in range(len(self))], self.classes, self.image_size)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def target(self, index: int) -> dict[str, Any]:
        return _target(self._boxes[index], self._labels[index], self.image_ids[index])

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        return Image.fromarray(self.images[index]), self.target(index)


def _target(boxes: Any, labels: Any, image_id: int) -> dict[str, Any]:
    return {"boxes": torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)), "image_id": int(image_id)}


def coco_from_targets(targets: Sequence[dict[str, Any]], classes: Sequence[str], size: int):
    """A ``pycocotools`` COCO of detection targets (square ``size`` px images; categories 1..C)."""
    from pycocotools.coco import COCO

    annotations = []
    for t in targets:
        for (x0, y0, x1, y1), label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": t["image_id"], "category_id": int(label),
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    coco = COCO()
    coco.dataset = {"images": [{"id": t["image_id"], "width": size, "height": size} for t in targets],
                    "annotations": annotations,
                    "categories": [{"id": k + 1, "name": name} for k, name in enumerate(classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detection_dataset(name: str, root: str | os.PathLike | None = None, split: str = "train", **options: Any):
    """Detection dataset ``name`` (one of :data:`DETECTION_DATASETS`) for one split."""
    if name == "coco":
        if options:
            raise ValueError(f"coco takes no options, got {sorted(options)}")
        return CocoScenes(root, split)
    if name.startswith("world:"):
        if root is not None:
            raise ValueError(f"{name} scenes are generated and cached; they take no root (got {root!r})")
        return WorldScenes(name.split(":", 1)[1], split, **options)
    raise ValueError(f"no detection dataset {name!r}; choose one of {', '.join(DETECTION_DATASETS)}")


def coco_evaluate(coco_gt: Any, image_ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                  category_ids: np.ndarray) -> dict[str, float]:
    """COCO box AP (``COCOeval``, the standard protocol: IoU 0.50:0.95, 100 detections per image),
    in percent: ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl`` (NaN where the ground truth
    has no object of that size). ``boxes`` are ``[D, 4]`` (x0, y0, x1, y1); no detection gives 0 AP."""
    from pycocotools.cocoeval import COCOeval

    if len(boxes) == 0:
        return {k: 0.0 for k in COCO_METRICS}
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    results = np.column_stack([image_ids, xywh, scores, category_ids]).astype(np.float64)
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {k: (float("nan") if v < 0 else float(100.0 * v)) for k, v in zip(COCO_METRICS, evaluation.stats[:6])}
