"""MaKD for object detection (MaKD section 4.4, Table 7): Faster R-CNN-FPN with an aspect head.

Loss (``fgkd.losses.makd_detection_loss``)::

    L = L_det + alpha * BCE(y_hat_aspect, q)        q [N, Q] = MLLM P(yes) per image, fixed

``L_det`` is the Faster R-CNN's own loss (RPN and RoI heads); the aspect head is one linear layer
on the pooled FPN features of the whole image (``fgkd.models.detector.AspectDetector``). "Base"
is ``alpha = 0``: the plain detector, no aspect head, no questions, no scorer. The Q questions
are the top-Q prefix of the LLM's ranked list written from the detection classes (COCO's 80, or
the world's), scored by the same scorers MaKD's classifiers use, on whole images.

Evaluation: box AP on the test split (COCO val2017, or the world's test scenes) with
``pycocotools``' ``COCOeval``: AP, AP50, AP75, APs, APm, APl (``fgkd.data.detection.coco_evaluate``).

Schedule, from torchvision's detection reference recipe for ``fasterrcnn_resnet50_fpn`` (the
paper gives none): SGD, lr 0.02 at 16 images per step (2 per GPU on 8 GPUs), momentum 0.9,
weight decay 1e-4, 26 epochs, lr / 10 at epochs 16 and 22, horizontal flips. fgkd departs from it
in two places (docs/fidelity.md): no linear warm-up over the first 1000 iterations (fgkd's engine
steps the schedule per epoch) and no aspect-ratio grouping of the batches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fgkd.config import check
from fgkd.methods.base import (RunConfig, clip_scorer_identity, hashed_scorer_options, validate_common,
                               validate_llm_options, validate_questions, validate_step_schedule)
from fgkd.methods.makd import aspect_agreement, aspect_questions
from fgkd.train.engine import IndexedDataset, Method

# torchvision's references/detection recipe for Faster R-CNN R50-FPN (the "26 epochs" schedule)
DETECTION_EPOCHS = 26
DETECTION_MILESTONES = (16, 22)


@dataclass(frozen=True, eq=True)
class MakdDetectionConfig(RunConfig):
    """One detection run: Faster R-CNN-FPN, with MaKD's aspect head when ``alpha > 0``."""

    family: ClassVar[str] = "makd"
    method: ClassVar[str] = "makd_detection"
    __hash__ = RunConfig.__hash__

    # --- data
    dataset: str = "coco"  # coco | world:bird | world:car | world:aircraft (fgkd.data.detection)
    dataset_options: dict = field(default_factory=dict)  # world scenes: scene_size, scenes_per_class, ...
    data_root: str | None = None  # runtime: not hashed; coco: the folder holding train2017/, val2017/, annotations/
    image_size: int = 800  # the detector's input: shorter side (torchvision's 800; longer side <= 1333)
    # --- model
    detector: str = "resnet50_fpn"  # fgkd.models.detector.DETECTORS
    pretrained: bool = True  # ImageNet backbone weights, as the paper's Faster R-CNN-FPN
    # --- aspect questions (LLM) and targets (MLLM)
    llm_backend: str = "openai"
    llm_style: str | None = None
    llm_options: dict = field(default_factory=dict)
    n_generate: int = 100
    n_select: int = 50
    num_aspects: int = 50  # Q: "the number of multi-aspect questions set to 50" (section 4.4)
    rank_questions: bool = False
    scorer: str = "vlm"
    scorer_options: dict = field(default_factory=dict)
    alpha: float = 1.0  # weight of the aspect loss; 0 = Base
    # --- optimisation (torchvision's detection recipe)
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 2  # images per process and step (the recipe: 2 per GPU, 8 GPUs)
    epochs: int = DETECTION_EPOCHS
    milestones: tuple[int, ...] | None = None  # None: 16 and 22 of 26, scaled to epochs
    gamma: float = 0.1
    # --- runtime
    num_workers: int = 4
    threads: int = 1
    world_size: int = 1  # processes that train the run (torchrun); in the run key with the global batch when > 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = False
    progress: bool = True

    def validate(self) -> None:
        from fgkd.data.detection import DETECTION_DATASETS
        from fgkd.models.detector import DETECTORS

        n = type(self).__name__
        validate_common(self)
        validate_llm_options(self)
        check(self.dataset in DETECTION_DATASETS, n, "dataset", self.dataset, f"choose one of {DETECTION_DATASETS}")
        check(self.detector in DETECTORS, n, "detector", self.detector, f"choose one of {DETECTORS}")
        check(self.image_size >= 32, n, "image_size", self.image_size, "must be >= 32 pixels")
        validate_questions(self)
        check(self.alpha >= 0, n, "alpha", self.alpha, "must be >= 0 (0 = Base, the plain detector)")
        validate_step_schedule(self)

    @property
    def uses_aspects(self) -> bool:
        return self.alpha > 0

    @property
    def lr_milestones(self) -> tuple[int, ...]:
        """``milestones``, or the recipe's 16 and 22 of 26 epochs scaled to ``epochs``."""
        from fgkd.methods.makd import scale_milestones

        if self.milestones is not None:
            return self.milestones
        return scale_milestones(self.epochs, DETECTION_MILESTONES, DETECTION_EPOCHS)

    def unused_fields(self) -> frozenset[str]:
        if self.uses_aspects:
            return frozenset()
        return frozenset({"llm_backend", "llm_style", "llm_options", "n_generate", "n_select", "num_aspects",
                          "rank_questions", "scorer", "scorer_options"})

    def hash_dict(self) -> dict[str, Any]:
        d = super().hash_dict()
        if "scorer_options" in d:
            d["scorer_options"] = hashed_scorer_options(self.scorer, d["scorer_options"])
        d["milestones"] = list(self.lr_milestones)
        if self.uses_aspects:
            d.update(clip_scorer_identity(self.scorer, self.scorer_options))
        return d


def collate(batch: list[tuple[Any, ...]]) -> tuple[list, list, torch.Tensor]:
    """Detection batches stay lists (images differ in size, targets in box count); the index is a tensor."""
    images, targets, index = zip(*batch)
    return list(images), list(targets), torch.as_tensor(index)


class DetectionTransformed(Dataset):
    """``(image tensor in [0, 1], target)``; training adds torchvision's random horizontal flip,
    which moves the boxes with the image (``torchvision.transforms.v2``)."""

    def __init__(self, dataset: Any, train: bool) -> None:
        from torchvision.transforms import v2

        self.dataset = dataset
        steps = [v2.ToImage()] + ([v2.RandomHorizontalFlip(0.5)] if train else []) + [v2.ToDtype(torch.float32, scale=True)]
        self.transform = v2.Compose(steps)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        from torchvision import tv_tensors

        image, target = self.dataset[index]
        boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=(image.height, image.width))
        image, boxes = self.transform(image, boxes)
        return image, {**target, "boxes": boxes.as_subclass(torch.Tensor)}


def scene_dataset_id(cfg: MakdDetectionConfig) -> str:
    """The score caches' name for a detection dataset (never the classification world's)."""
    from fgkd.io import stable_hash

    suffix = f"-{stable_hash(cfg.dataset_options, 8)}" if cfg.dataset_options else ""
    return f"detection:{cfg.dataset}{suffix}"


class MakdDetectionMethod(Method):
    """Faster R-CNN-FPN (``alpha = 0``) or with MaKD's aspect loss; see the module docstring.

    Args:
        cfg: the run's :class:`MakdDetectionConfig`.
        scorer: the aspect scorer giving P(yes) per image (``fgkd.scorers.get_scorer``), with aspects.
    """

    name = "makd_detection"
    collate_fn = staticmethod(collate)

    def __init__(self, cfg: MakdDetectionConfig, scorer: Any = None) -> None:
        super().__init__(cfg)
        self.name = "makd-det" if cfg.uses_aspects else "det"
        self.scorer = scorer
        self.targets: torch.Tensor | None = None  # [N_train, Q]
        self.questions: list[Any] = []
        self._splits: dict[str, Any] = {}

    @staticmethod
    def requirements(cfg: MakdDetectionConfig, for_training: bool) -> dict[str, Any]:
        if not cfg.uses_aspects:
            return {}

        def scorer(device: torch.device) -> Any:
            from fgkd.scorers import get_scorer

            return get_scorer(cfg.scorer, **cfg.scorer_options)

        return {"scorer": scorer}

    @staticmethod
    def model_from_meta(cfg: MakdDetectionConfig, meta: dict[str, Any]) -> nn.Module:
        from fgkd.models.detector import AspectDetector, build_detector

        # the stored weights replace the backbone's: no ImageNet file is needed to read a run back
        detector = build_detector(cfg.detector, int(meta["num_classes"]), cfg.image_size,
                                  pretrained=cfg.pretrained and bool(meta.get("training")))
        return AspectDetector(detector, int(meta.get("num_aspects", 0)))

    def split(self, split: str) -> Any:
        """The detection dataset of ``split`` (PIL images and targets, with its COCO ground truth)."""
        if split not in self._splits:
            from fgkd.data.detection import detection_dataset

            self._splits[split] = detection_dataset(self.cfg.dataset, self.cfg.data_root, split,
                                                    **self.cfg.dataset_options)
        return self._splits[split]

    def _scores(self, dataset: Any, split: str, questions: list[Any]) -> np.ndarray:
        from fgkd.scorers import cached_scores

        if self.scorer is None:
            raise ValueError("MakdDetectionMethod needs a scorer handed in for alpha > 0 "
                             "(fgkd.runs.get_or_train builds it from the config)")
        return np.asarray(cached_scores(self.scorer, dataset, questions, dataset_id=scene_dataset_id(self.cfg),
                                        split=split), dtype=np.float32)

    def build(self, device: torch.device, for_training: bool = True) -> None:
        cfg = self.cfg
        self.device = device
        train = self.split("train")
        self.meta = {"classes": list(train.classes), "num_classes": len(train.classes), "num_aspects": 0,
                     "training": for_training}
        if cfg.uses_aspects:
            ranked = aspect_questions(cfg, train)
            self.questions = ranked[: cfg.num_aspects]
            self.meta.update(num_aspects=cfg.num_aspects, questions=[q.text for q in self.questions])
        self.module = self.model_from_meta(cfg, self.meta)
        self.meta.pop("training")
        if not for_training:
            return
        self.meta.update(num_train=len(train))
        self.train_set = IndexedDataset(DetectionTransformed(train, train=True))
        if cfg.uses_aspects:
            q = self._scores(train, "train", ranked)[:, : cfg.num_aspects]
            self.targets = torch.from_numpy(np.ascontiguousarray(q)).to(device)
            from fgkd.train import ddp

            if ddp.current().distributed:  # the test split's too, shared by the ranks now, not by rank 0 alone later
                self._scores(self.split("test"), "test", self.questions)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import makd_detection_loss

        images, targets, index = batch
        losses, _, aspects = self.forward_module(images, targets)
        q = self.targets[index] if self.targets is not None else None
        with torch.autocast(images[0].device.type, enabled=False):
            terms = makd_detection_loss(losses, aspects, q, self.cfg.alpha)
        return {"loss": terms.pop("total"), **terms}

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(self.cfg.lr_milestones),
                                                    gamma=self.cfg.gamma)

    @torch.no_grad()
    def extract(self, split: str) -> dict[str, np.ndarray]:
        """Detections and aspect logits on ``split``, timed.

        Returns ``image_ids [N]``, ``det_image [D]`` (the image id of each detection),
        ``det_boxes [D, 4]`` (x0, y0, x1, y1), ``det_scores [D]``, ``det_labels [D]`` (1..C),
        ``inference_seconds []`` and, with aspects, ``aspect_logits [N, Q]`` and ``scorer_probs [N, Q]``.
        """
        dataset = self.split(split)
        loader = DataLoader(IndexedDataset(DetectionTransformed(dataset, train=False)), batch_size=8, shuffle=False,
                            num_workers=self.cfg.num_workers, collate_fn=collate)
        model = self.module.to(self.device).eval()
        image_ids, det_image, boxes, scores, labels, aspects = [], [], [], [], [], []
        start = time.perf_counter()
        for images, targets, _ in loader:
            _, detections, aspect_logits = model([x.to(self.device) for x in images])
            for target, det in zip(targets, detections):
                image_ids.append(target["image_id"])
                det_image.append(np.full(len(det["scores"]), target["image_id"], dtype=np.int64))
                boxes.append(det["boxes"].float().cpu().numpy())
                scores.append(det["scores"].float().cpu().numpy())
                labels.append(det["labels"].cpu().numpy())
            if aspect_logits is not None:
                aspects.append(aspect_logits.float().cpu().numpy())
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        arrays = {"image_ids": np.asarray(image_ids, dtype=np.int64), "det_image": np.concatenate(det_image),
                  "det_boxes": np.concatenate(boxes).reshape(-1, 4), "det_scores": np.concatenate(scores),
                  "det_labels": np.concatenate(labels).astype(np.int64),
                  "inference_seconds": np.asarray(time.perf_counter() - start)}
        if aspects:
            arrays["aspect_logits"] = np.concatenate(aspects)
            arrays["scorer_probs"] = self._scores(dataset, split, self.questions)
        return arrays

    def evaluate(self, arrays: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """COCO box AP on the test split; with aspects, agreement of the aspect head with the scorer."""
        from fgkd.data.detection import coco_evaluate

        test = arrays("test")
        dataset = self.split("test")
        category_ids = np.asarray(dataset.category_ids, dtype=np.int64)
        metrics = coco_evaluate(dataset.coco, test["det_image"], test["det_boxes"], test["det_scores"],
                                category_ids[test["det_labels"] - 1])
        metrics.update(num_parameters=int(sum(p.numel() for p in self.module.parameters())),
                       inference_seconds=float(test["inference_seconds"]), n_test=len(test["image_ids"]))
        if "scorer_probs" in test:
            metrics.update(aspect_agreement(test["aspect_logits"], test["scorer_probs"]))
        return metrics
