"""The embedded ImageNet: a student backbone pre-trained with labels on the world's pre-training pools.

LEAD's student is a ResNet50 that starts from ImageNet-1K weights (supplement section 11): a
supervised pre-training on many classes that are not the fine-grained target classes. The embedded
analogue classifies the pre-training pools of all three world domains together (bird, car,
aircraft: 3 x 512 classes of 6 images by default), whose classes are disjoint from every domain's
target classes, exactly the pools the embedded CLIP teachers learn from. One image per class is
held out; its Top-1 is the pre-training accuracy the provenance records (never a target image).

Recipe: cross-entropy, SGD with momentum 0.9 and a per-step cosine decay, weight decay 5e-4 (the
torchvision ImageNet recipe's shape at a smaller scale), random flips and translations on uint8
batches (``fgkd.teachers.training.augment``: no per-sample PIL work), the students' ImageNet
normalisation. Trained once per configuration on one CPU thread with deterministic algorithms
(:mod:`fgkd.determinism`), cached under ``cache_dir("pretrain")/<backbone>-<key>/`` with a checksum,
checkpointed every epoch and resumed after an interruption (an interrupted run ends with the bytes
of an uninterrupted one).

Use ``pretrained="world"`` on a LEAD-family run (MoCo v2, LEAD, SimCLR: every run with a named CNN
backbone); :func:`embedded_imagenet_weights` trains or finds the weights and ``get_backbone(name,
pretrained=path)`` loads them.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from fgkd.determinism import SHARED_THREADS, deterministic
from fgkd.io import atomic_torch_save, atomic_write_json, checked_torch_load, stable_hash
from fgkd.paths import cache_dir

WORLD_DOMAINS = ("bird", "car", "aircraft")
# Bumped when the training code changes what a config's weights are: old caches are not reused.
VERSION = 1
# Fixed, not an option: the weights depend on the thread count and the cache key does not.
TRAIN_THREADS = SHARED_THREADS


@dataclass(frozen=True)
class EmbeddedImageNetConfig:
    """One pre-training of a backbone on the world's pools (every field enters the cache key)."""

    backbone: str = "resnet18"  # fgkd.models.get_backbone name
    small_input: bool = False  # the student's stem (must match the runs that load the weights)
    image_size: int = 32  # world render size = input size
    domains: tuple[str, ...] = WORLD_DOMAINS  # world domains whose pre-training pools are classified
    world_seed: int = 0  # the world the pools come from (its target classes stay unseen)
    # Chosen on the held-out pool images, never a target image: at 16 epochs (ResNet18, 32 px) their
    # Top-1 stopped rising over the last three (34.5, 34.0, 34.3 %; chance 0.07 %); 404 s on one thread.
    epochs: int = 16
    batch_size: int = 128
    lr: float = 0.1  # peak SGD learning rate, cosine decay per step to 0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    max_shift: int = 3  # augmentation: random translation of up to this many pixels
    flip: bool = True  # augmentation: random horizontal flip
    holdout_per_class: int = 1  # pool images per class held out to measure the pre-training accuracy
    seed: int = 0  # initialisation, shuffling and augmentation

    def __post_init__(self) -> None:
        from fgkd.models.backbones import list_backbones

        if self.backbone not in list_backbones():
            raise ValueError(f"EmbeddedImageNetConfig.backbone={self.backbone!r} is unknown; choose one of "
                             f"{list_backbones()}")
        if isinstance(self.domains, str) or not self.domains:
            raise ValueError(f"EmbeddedImageNetConfig.domains must be a non-empty tuple, got {self.domains!r}")
        object.__setattr__(self, "domains", tuple(self.domains))
        if any(d not in WORLD_DOMAINS for d in self.domains) or len(set(self.domains)) != len(self.domains):
            raise ValueError(f"EmbeddedImageNetConfig.domains must be distinct values of {WORLD_DOMAINS}, "
                             f"got {self.domains!r}")
        for name, lo in (("image_size", 32), ("epochs", 1), ("batch_size", 2), ("max_shift", 0),
                         ("holdout_per_class", 0), ("seed", 0), ("world_seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"EmbeddedImageNetConfig.{name}={value!r} must be an int >= {lo}")
        for name in ("lr", "momentum", "weight_decay", "label_smoothing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"EmbeddedImageNetConfig.{name}={value!r} must be a number >= 0")
        if self.lr <= 0 or self.momentum >= 1 or self.label_smoothing >= 1:
            raise ValueError("EmbeddedImageNetConfig: lr must be > 0, momentum and label_smoothing < 1")
        for name in ("small_input", "flip"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"EmbeddedImageNetConfig.{name} must be a bool, got {getattr(self, name)!r}")

    def world_configs(self) -> list[Any]:
        from fgkd.data.world import WorldConfig

        return [WorldConfig(domain=d, image_size=self.image_size, seed=self.world_seed) for d in self.domains]

    @functools.cached_property
    def key(self) -> str:
        """Hash of the config, :data:`VERSION` and the pools' render keys (a changed world never
        reuses old weights)."""
        from fgkd.data.world import World

        pools = [World(c).cache_key("pretrain") for c in self.world_configs()]
        return stable_hash({**asdict(self), "version": VERSION, "pools": pools})


def weights_folder(config: EmbeddedImageNetConfig) -> Path:
    return cache_dir("pretrain") / f"{config.backbone}-{config.key}"


def weights_path(config: EmbeddedImageNetConfig) -> Path:
    return weights_folder(config) / "backbone.pt"


def progress_file(config: EmbeddedImageNetConfig) -> Path:
    return weights_folder(config) / "progress.json"


def training_progress(config: EmbeddedImageNetConfig) -> tuple[int, int] | None:
    """``(epochs done, epochs)`` of a pre-training under way, or None before its first epoch ends."""
    from fgkd.teachers.training import read_progress

    return read_progress(progress_file(config))


def pretraining_pool(config: EmbeddedImageNetConfig) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``[N, S, S, 3]`` and labels ``[N]`` of the pools; domain d's classes follow d-1's."""
    from fgkd.data.world import World

    images, labels, offset = [], [], 0
    for world_config in config.world_configs():
        world = World(world_config)
        split = world.split("pretrain")
        images.append(np.asarray(split.images, dtype=np.uint8))
        labels.append(np.asarray(split.labels, dtype=np.int64) + offset)
        offset += len(world.pretrain_classes)
    return np.concatenate(images), np.concatenate(labels)


def holdout_mask(labels: np.ndarray, per_class: int) -> np.ndarray:
    """True for the first ``per_class`` images of every class (the held-out pool images)."""
    seen: dict[int, int] = {}
    mask = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels.tolist()):
        seen[label] = seen.get(label, 0) + 1
        mask[i] = seen[label] <= per_class
    return mask


class _Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def embedded_imagenet_weights(config: EmbeddedImageNetConfig, *, progress: bool = True,
                              max_epochs_this_call: int | None = None,
                              pool: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """The backbone's pre-trained weights file (trained first if it is not cached).

    Args:
        config: the pre-training.
        progress: a tqdm bar over the steps.
        max_epochs_this_call: stop after this many epochs (raises
            :class:`~fgkd.teachers.training.TrainingInterrupted`); the next call resumes.
        pool: ``(images, labels)`` to train on instead of the world's pools (tests).
    """
    final = weights_path(config)
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    # Notebooks run in parallel may ask for the same weights: one trains them, the others wait.
    with FileLock(str(final.parent.parent / f"{final.parent.name}.lock")):
        if final.exists():
            return final
        with deterministic(TRAIN_THREADS, "cpu") as determinism:
            return _train(config, final, progress, max_epochs_this_call, pool, determinism)


def load_embedded_imagenet(config: EmbeddedImageNetConfig) -> dict[str, Any]:
    """The saved file (checked against its checksum): ``{"state_dict", "provenance"}``."""
    path = embedded_imagenet_weights(config, progress=False)
    return checked_torch_load(path, map_location="cpu", weights_only=True,
                              fix=f"delete the folder {path.parent} to pre-train the backbone again")


def _lr(step: int, total: int, lr: float) -> float:
    return 0.5 * lr * (1.0 + math.cos(math.pi * min(step / max(1, total), 1.0)))


def _batches(images: torch.Tensor, batch_size: int):
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size]


def _inputs(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    from fgkd.teachers.training import _normalise

    return _normalise(images, mean, std)


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor,
              std: torch.Tensor) -> float:
    if len(images) == 0:
        return float("nan")
    model.eval()
    correct = 0
    for start in range(0, len(images), 512):
        logits = model(_inputs(images[start:start + 512], mean, std))
        correct += int((logits.argmax(1) == labels[start:start + 512]).sum())
    model.train()
    return 100.0 * correct / len(images)


def _train(config: EmbeddedImageNetConfig, final: Path, progress: bool, max_epochs_this_call: int | None,
           pool: tuple[np.ndarray, np.ndarray] | None, determinism: dict[str, Any]) -> Path:
    from tqdm.auto import tqdm

    from fgkd.data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from fgkd.models.backbones import get_backbone
    from fgkd.teachers.training import TrainingInterrupted, augment, resume_checkpoint, save_checkpoint

    images_np, labels_np = pool if pool is not None else pretraining_pool(config)
    if images_np.dtype != np.uint8 or images_np.shape[1:] != (config.image_size, config.image_size, 3):
        raise ValueError(f"pool images are {images_np.dtype} {images_np.shape[1:]}, expected uint8 "
                         f"({config.image_size}, {config.image_size}, 3)")
    held = holdout_mask(labels_np, config.holdout_per_class)
    images, labels = torch.from_numpy(images_np[~held]), torch.from_numpy(labels_np[~held])
    val_images, val_labels = torch.from_numpy(images_np[held]), torch.from_numpy(labels_np[held])
    num_classes = int(labels_np.max()) + 1
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        backbone, dim = get_backbone(config.backbone, pretrained=False, small_input=config.small_input)
        model = _Classifier(backbone, dim, num_classes)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=config.lr,
                                momentum=config.momentum, nesterov=True)
    n = len(images)
    batch_size = min(config.batch_size, n)
    steps = n // batch_size
    total = steps * config.epochs
    checkpoint = final.parent / "checkpoint.pt"
    state = resume_checkpoint(checkpoint, asdict(config), model, optimizer,
                              {"epoch": 0, "loss": [], "train_top1": [], "holdout_top1": [], "seconds": 0.0},
                              "pre-train")

    model.train()
    bar = tqdm(total=total, initial=state["epoch"] * steps, desc=f"pre-training {config.backbone} (embedded ImageNet)",
               disable=not progress, unit="step", leave=False)
    done = 0
    try:
        while state["epoch"] < config.epochs:
            if max_epochs_this_call is not None and done >= max_epochs_this_call:
                raise TrainingInterrupted(f"stopped after {state['epoch']} of {config.epochs} epochs; "
                                          f"call again to resume from {checkpoint}")
            start, epoch = time.perf_counter(), state["epoch"]
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=generator)
            losses, correct = [], 0
            for i in range(steps):
                idx = order[i * batch_size:(i + 1) * batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = _lr(epoch * steps + i, total, config.lr)
                x = augment(_inputs(images[idx], mean, std), config, generator)
                logits = model(x)
                loss = F.cross_entropy(logits, labels[idx], label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                correct += int((logits.detach().argmax(1) == labels[idx]).sum())
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
            state["epoch"] = epoch + 1
            state["loss"] = [*state["loss"], round(sum(losses) / len(losses), 5)]
            state["train_top1"] = [*state["train_top1"], round(100.0 * correct / (steps * batch_size), 3)]
            state["holdout_top1"] = [*state["holdout_top1"], round(_accuracy(model, val_images, val_labels, mean, std), 3)]
            state["seconds"] = state["seconds"] + time.perf_counter() - start
            save_checkpoint(checkpoint, progress_file(config), asdict(config), model, optimizer, state, config.epochs)
            done += 1
    finally:
        bar.close()
    provenance = {
        "kind": "embedded-imagenet", "config": asdict(config), "config_hash": config.key,
        "pool_images": int(len(images_np)), "classes": num_classes, "holdout_images": int(held.sum()),
        "loss_history": state["loss"], "train_top1_history": state["train_top1"],
        "holdout_top1_history": state["holdout_top1"],
        "holdout_top1": state["holdout_top1"][-1] if state["holdout_top1"] else None,
        "chance_top1": round(100.0 / num_classes, 4),
        "train_seconds": round(state["seconds"], 2), "determinism": determinism,
    }
    atomic_torch_save({"state_dict": model.backbone.state_dict(), "provenance": provenance}, final)
    atomic_write_json(final.parent / "provenance.json", provenance)
    checkpoint.unlink(missing_ok=True)
    return final


def embedded_imagenet_config(backbone: str, small_input: bool, image_size: int, world_seed: int = 0,
                             **overrides: Any) -> EmbeddedImageNetConfig:
    """The default pre-training of ``backbone`` for runs at ``image_size`` on a world of ``world_seed``."""
    return EmbeddedImageNetConfig(backbone=backbone, small_input=small_input, image_size=image_size,
                                  world_seed=world_seed, **overrides)
