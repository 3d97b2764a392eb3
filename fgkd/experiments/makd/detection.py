"""MaKD Table 7: Base vs MaKD for object detection (Faster R-CNN-FPN), box AP over seeds.

The detection runs take the shared MaKD recipe's question writer, scorer and seeds
(``params/<set>/makd.yaml``) and the notebook's own detector settings (:class:`DetectionSettings`)::

    settings = makd.DetectionSettings(detector="resnet18_fpn", image_size=64, epochs=6, ...)
    grid = makd.detection_grid(makd.detection_config(recipe, "world:bird", settings))
    runs = makd.detection_runs(grid, recipe.seed_list)    # index method (Base, Ours): AP, AP50...
    table = makd.detection_table(runs)                    # Base, Ours, Gap rows; mean and sd columns
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from fgkd.data.detection import COCO_METRICS
from fgkd.experiments.common import PER_SEED, SD, Verdict
from fgkd.experiments.common import run_table as common_run_table
from fgkd.experiments.makd.recipe import BASE, OURS, Recipe, llm_options
from fgkd.methods import MakdDetectionConfig

REPORTED = ("AP", "AP50", "AP75")  # Table 7's columns


@dataclass(frozen=True)
class DetectionSettings:
    """The detection notebook's own settings (``params/<set>/makd_detection.yaml``)."""

    detector: str = "resnet50_fpn"
    image_size: int = 800  # the detector's input side (world: the scene size)
    pretrained: bool = True  # ImageNet backbone weights (the paper's); the embedded scale has none
    epochs: int = 26
    batch_size: int = 2
    lr: float = 0.02
    weight_decay: float = 1e-4
    num_aspects: int = 50
    scene_classes: int = 10  # world scenes: target classes
    scenes_per_class: int = 30  # world scenes: training scenes per main class
    test_scenes_per_class: int = 20
    max_objects: int = 3

    @classmethod
    def from_params(cls, params: Mapping[str, Any], prefix: str = "detection_") -> "DetectionSettings":
        """Settings from a notebook's namespace: each field ``f`` read from ``prefix + f`` when present."""
        values = {f.name: params[prefix + f.name] for f in fields(cls) if prefix + f.name in params}
        return cls(**values)


def world_scene_options(settings: DetectionSettings) -> dict[str, Any]:
    return {"num_classes": settings.scene_classes, "scene_size": settings.image_size,
            "scenes_per_class": settings.scenes_per_class, "test_scenes_per_class": settings.test_scenes_per_class,
            "max_objects": settings.max_objects}


def detection_config(recipe: Recipe, dataset: str, settings: DetectionSettings, **changes: Any) -> MakdDetectionConfig:
    """MaKD's detection run ("Ours") on ``dataset`` (``coco`` or ``world:<domain>``), first seed."""
    root = recipe.dataset_root(dataset) if dataset == "coco" else None
    cfg = MakdDetectionConfig(
        dataset=dataset, dataset_options=world_scene_options(settings) if dataset.startswith("world:") else {},
        data_root=root, image_size=settings.image_size, detector=settings.detector, pretrained=settings.pretrained,
        llm_backend=recipe.llm, llm_style=(recipe.llm_style or None) if recipe.llm == "template" else None,
        llm_options=llm_options(recipe.llm, model=recipe.llm_model, questions_file=recipe.questions_file),
        n_generate=recipe.n_generate, n_select=max(recipe.n_select, settings.num_aspects),
        num_aspects=settings.num_aspects, rank_questions=recipe.rank_questions, scorer=recipe.scorer,
        scorer_options=recipe.scorer_options(),
        alpha=recipe.alpha, lr=settings.lr, weight_decay=settings.weight_decay, batch_size=settings.batch_size,
        epochs=settings.epochs, seed=recipe.seed_list[0], device=recipe.device, world_size=recipe.world_size,
        num_workers=recipe.num_workers,
        progress=recipe.progress)
    return cfg.replace(**changes) if changes else cfg


def detection_grid(cfg: MakdDetectionConfig) -> dict[str, MakdDetectionConfig]:
    """Table 7: Base (``alpha = 0``, the plain detector) and Ours (MaKD's aspect loss)."""
    return {BASE: cfg.replace(alpha=0.0), OURS: cfg}


def detection_runs(grid: Mapping[str, MakdDetectionConfig], seeds: Sequence[int] | None = None, *,
                   log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """One row per method over ``seeds``: COCO's AP, AP50, AP75, APs, APm, APl (mean, sd, per seed),
    the aspect head's agreement with the scorer and ``n_test``."""
    def row(run: Any) -> dict[str, float]:
        m = run.metrics
        out = {k: float(m[k]) for k in COCO_METRICS}
        out["aspect_agreement"] = float(m.get("aspect_agreement", float("nan")))
        out["n_test"] = float(m["n_test"])
        return out

    return common_run_table(dict(grid), "method", row, seeds, log=log)


def detection_table(runs: pd.DataFrame, metrics: Sequence[str] = COCO_METRICS) -> pd.DataFrame:
    """Rows Base, Ours and Gap (paired per seed); columns each metric's mean and ``sd`` over seeds,
    and ``per seed`` tuples for the verdicts."""
    rows = {}
    for method in (BASE, OURS):
        rows[method] = {}
        for m in metrics:
            values = np.asarray(runs.loc[method, m + PER_SEED], dtype=float)
            rows[method].update({m: float(np.mean(values)), m + SD: _sd(values), m + PER_SEED: tuple(values)})
    rows["Gap"] = {}
    for m in metrics:
        gap = np.asarray(runs.loc[OURS, m + PER_SEED], dtype=float) - np.asarray(runs.loc[BASE, m + PER_SEED], dtype=float)
        rows["Gap"].update({m: float(np.mean(gap)), m + SD: _sd(gap), m + PER_SEED: tuple(gap)})
    return pd.DataFrame.from_dict(rows, orient="index")


def _sd(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")


def detection_verdicts(table: pd.DataFrame, metrics: Sequence[str] = REPORTED) -> list[Verdict]:
    """MaKD beats Base in each of Table 7's metrics: the paired per-seed gaps."""
    return [Verdict(f"MaKD beats Base in box {m}", table.loc["Gap", m + PER_SEED],
                    text="Paired per seed: Ours - Base, COCO box AP in points.") for m in metrics]


def check_detection_data(cfg: MakdDetectionConfig) -> None:
    """Fail early, before anything trains, when a real detection dataset is not where it is read
    (COCO: ``train2017/``, ``val2017/`` and ``annotations/instances_*.json``); the world needs nothing."""
    if cfg.dataset == "coco":
        from fgkd.data.detection import check_coco

        check_coco(cfg.data_root)


def detection_examples(cfg: MakdDetectionConfig, n: int = 6) -> list[tuple[Any, np.ndarray, list[str]]]:
    """The first ``n`` training images with their boxes ``[K, 4]`` and class names, for a figure."""
    from fgkd.data.detection import detection_dataset

    dataset = detection_dataset(cfg.dataset, cfg.data_root, "train", **cfg.dataset_options)
    out = []
    for i in range(min(n, len(dataset))):
        image, target = dataset[i]
        out.append((image, target["boxes"].numpy(), [dataset.classes[k - 1] for k in target["labels"].tolist()]))
    return out
