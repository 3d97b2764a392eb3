"""Embedded CLIP teachers: small open_clip models fgkd trains on the world's pre-training pool.

LEAD's teacher is OpenAI's CLIP, pre-trained on web image-text pairs that do not single out the
fine-grained target classes. The embedded analogue: three small open_clip architectures
(``fgkd/teachers/configs/*.json``, registered with ``open_clip.add_model_config``) trained with
open_clip's ``ClipLoss`` on the pre-training pools of all three world domains together (bird, car,
aircraft: one general teacher, like CLIP), whose classes are disjoint from every domain's target
classes. Zero-shot on the target classes therefore needs what CLIP needs: composing attribute
words it learned on other classes.

=============  =============  ===========================================================
name           stands in for  architecture (32 px input)
=============  =============  ===========================================================
embedded-S     ViT-B/32       ViT, patch 8 (16 tokens), width 96, 4 layers; text 64 x 2
embedded-M     ViT-B/16       same widths, patch 4 (64 tokens)
embedded-L     ViT-L/14       ViT, patch 4, width 112, 5 layers; text 64 x 2
=============  =============  ===========================================================

Trained once per configuration, cached under ``cache_dir("teachers")/<name>-<config hash>/``;
training is checkpointed every epoch and resumes after an interruption. It always runs on CPU with
:data:`TRAIN_THREADS` thread(s) and deterministic algorithms (:mod:`fgkd.determinism`): the weights
are the same bytes whether a notebook, ``fgkd reproduce --jobs N`` or a script trains the teacher,
whatever the environment's thread settings (the provenance records what was in force).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from filelock import FileLock

from fgkd.determinism import SHARED_THREADS, deterministic
from fgkd.io import atomic_torch_save, atomic_write_json, stable_hash
from fgkd.paths import cache_dir
from fgkd.teachers.clip import (
    LEAD_TEMPERATURE,
    ClipTeacher,
    embedded_arch_names,
    embedded_model_config,
    hub_offline,
    register_embedded_configs,
)
from fgkd.teachers.training import ClipTrainConfig, train_clip

EMBEDDED_TEACHERS = ("embedded-S", "embedded-M", "embedded-L")
# The OpenAI CLIP each embedded teacher stands in for (LEAD Table 3's backbones).
PAPER_ANALOGUES = {"embedded-S": "ViT-B-32/openai", "embedded-M": "ViT-B-16/openai", "embedded-L": "ViT-L-14/openai"}
WORLD_DOMAINS = ("bird", "car", "aircraft")

# Five epochs each keeps a cold `fgkd reproduce` of both papers within 30 minutes on two cores (the
# teachers were 12 / 12 / 16 epochs and L 6 layers with a 96 x 3 text tower before: L alone took
# ~43 min on one thread). Halving M's epochs cost about 5 points of zero-shot accuracy (M6 49.0 /
# 51.5 / 43.0 vs M12 54.5 / 56.5 / 47.7 % on bird / car / aircraft) while LEAD on bird still beat MoCo
# v2 (39.25 vs 33.25 Top-1). At 5 epochs the zero-shot Top-1 on world:bird is S 40.0, M 46.0, L 42.75 %
# (L no longer leads M: reported, not tuned). In the cold reproduce they train in L 476 s, M 345 s,
# S 163 s, one thread each. scripts/calibrate_teachers.py prints the zero-shot table and the times.
_DEFAULT_EPOCHS = {"embedded-S": 5, "embedded-M": 5, "embedded-L": 5}
# CPU threads that train every embedded teacher: fixed (not an option), since the weights depend on
# it and the cache key does not; one thread is also what `fgkd reproduce` gives each teacher job.
TRAIN_THREADS = SHARED_THREADS


@dataclass(frozen=True)
class EmbeddedTeacherConfig:
    """One embedded teacher: architecture, pre-training data and recipe (all enter the cache key)."""

    arch: str = "embedded-M"  # open_clip model config (fgkd/teachers/configs/<arch>.json)
    domains: tuple[str, ...] = WORLD_DOMAINS  # world domains whose pre-training pools are used
    image_size: int = 32  # world render size = model input size
    world_seed: int = 0  # the world the pools come from (its target classes stay unseen)
    world_options: tuple[tuple[str, Any], ...] = ()  # further WorldConfig fields, as (name, value) pairs
    train: ClipTrainConfig = field(default_factory=ClipTrainConfig)

    def __post_init__(self) -> None:
        if self.arch not in embedded_arch_names():
            raise ValueError(
                f"EmbeddedTeacherConfig.arch must be one of the shipped configs "
                f"{embedded_arch_names()}, got {self.arch!r}"
            )
        if isinstance(self.domains, str) or not self.domains:
            raise ValueError(f"EmbeddedTeacherConfig.domains must be a non-empty tuple of domains, got {self.domains!r}")
        object.__setattr__(self, "domains", tuple(self.domains))
        unknown = [d for d in self.domains if d not in WORLD_DOMAINS]
        if unknown or len(set(self.domains)) != len(self.domains):
            raise ValueError(f"EmbeddedTeacherConfig.domains must be distinct values of {WORLD_DOMAINS}, got {self.domains!r}")
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or not 32 <= self.image_size <= 128:
            raise ValueError(f"EmbeddedTeacherConfig.image_size must be an int in [32, 128], got {self.image_size!r}")
        vision = embedded_model_config(self.arch)["vision_cfg"]
        # A ViT needs whole patches; open_clip's ResNet downsamples 32x before its attention pool.
        stride = 32 if isinstance(vision["layers"], (list, tuple)) else vision["patch_size"]
        if self.image_size % stride:
            raise ValueError(
                f"EmbeddedTeacherConfig.image_size={self.image_size} is not a multiple of {self.arch}'s "
                f"input stride {stride}"
            )
        if isinstance(self.world_seed, bool) or not isinstance(self.world_seed, int):
            raise ValueError(f"EmbeddedTeacherConfig.world_seed must be an int, got {self.world_seed!r}")
        if isinstance(self.world_options, dict):
            object.__setattr__(self, "world_options", tuple(sorted(self.world_options.items())))
        reserved = {"domain", "image_size", "seed"} & {k for k, _ in self.world_options}
        if reserved:
            raise ValueError(
                f"EmbeddedTeacherConfig.world_options must not set {sorted(reserved)}: use the "
                f"domains / image_size / world_seed fields"
            )
        if not isinstance(self.train, ClipTrainConfig):
            raise ValueError(f"EmbeddedTeacherConfig.train must be a ClipTrainConfig, got {type(self.train).__name__}")
        try:
            self.world_configs()
        except TypeError as exc:  # an unknown WorldConfig field
            raise ValueError(f"EmbeddedTeacherConfig.world_options: {exc}") from None

    def world_configs(self) -> list[Any]:
        """The ``WorldConfig`` of each domain whose pre-training pool the teacher learns from."""
        from fgkd.data.world import WorldConfig

        return [
            WorldConfig(domain=d, image_size=self.image_size, seed=self.world_seed, **dict(self.world_options))
            for d in self.domains
        ]

    @functools.cached_property
    def key(self) -> str:
        """Hash of the config, the architecture JSON and the pools' render keys.

        An edited architecture JSON, or a world whose defaults or drawing changed, never reuses
        old weights.
        """
        from fgkd.data.world import World

        pools = [World(c).cache_key("pretrain") for c in self.world_configs()]
        return stable_hash({**asdict(self), "model_cfg": embedded_model_config(self.arch), "pools": pools})


def embedded_config(name: str = "embedded-M", **overrides: Any) -> EmbeddedTeacherConfig:
    """The default configuration of an embedded teacher, with overrides.

    Overrides name fields of :class:`EmbeddedTeacherConfig` (``domains``, ``image_size``,
    ``world_seed``, ``world_options``) or of :class:`~fgkd.teachers.training.ClipTrainConfig`
    (``epochs``, ``batch_size``, ``lr``, ``seed``...).
    """
    if name not in EMBEDDED_TEACHERS:
        raise ValueError(f"unknown embedded teacher {name!r}; known: {', '.join(EMBEDDED_TEACHERS)}")
    top = {f.name for f in dataclasses.fields(EmbeddedTeacherConfig)} - {"arch", "train"}
    train_fields = {f.name for f in dataclasses.fields(ClipTrainConfig)}
    unknown = set(overrides) - top - train_fields
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for embedded teacher {name!r}; allowed: "
            f"{sorted(top | train_fields)}"
        )
    train = ClipTrainConfig(
        **{"epochs": _DEFAULT_EPOCHS[name], **{k: v for k, v in overrides.items() if k in train_fields}}
    )
    return EmbeddedTeacherConfig(arch=name, train=train, **{k: v for k, v in overrides.items() if k in top})


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def pretraining_pool(config: EmbeddedTeacherConfig) -> tuple[np.ndarray, list[str]]:
    """Images (uint8 ``[N, S, S, 3]``) and captions of the world's pre-training splits, all domains."""
    from fgkd.data.world import World

    images, captions = [], []
    for world_config in config.world_configs():
        split = World(world_config).split("pretrain")
        if split.captions is None or len(split.captions) != len(split.images):
            raise RuntimeError(
                f"the {world_config.domain} world's pretrain split has no caption per image; cannot train a CLIP teacher"
            )
        images.append(np.asarray(split.images, dtype=np.uint8))
        captions.extend(split.captions)
    return np.concatenate(images), captions


# --------------------------------------------------------------------------------------------
# Training and loading
# --------------------------------------------------------------------------------------------


def teacher_folder(config: EmbeddedTeacherConfig) -> Path:
    return cache_dir("teachers") / f"{config.arch}-{config.key}"


def training_progress(config: EmbeddedTeacherConfig) -> tuple[int, int] | None:
    """``(epochs done, epochs)`` of a teacher being trained (from its progress file), or None
    before its first epoch ends."""
    from fgkd.teachers.training import progress_path, read_progress

    return read_progress(progress_path(teacher_folder(config) / "checkpoint.pt"))


@contextlib.contextmanager
def _quiet_random_init():
    """open_clip warns "No pretrained weights loaded ... initialized randomly" for every model built
    without weights; for an embedded teacher that is the plan (fgkd trains it, and says so), so
    that one record is dropped while the model is built."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def build_model(config: EmbeddedTeacherConfig, pretrained: str | Path | None = None) -> tuple[torch.nn.Module, Any, Any]:
    """``(model, tokenizer, preprocess)`` through open_clip; random init from ``train.seed`` if no weights."""
    import open_clip

    register_embedded_configs()
    # open_clip initialises from the global generator: seed it, and give the caller's state back.
    with torch.random.fork_rng(devices=[]), hub_offline(), _quiet_random_init():
        torch.manual_seed(config.train.seed)
        model, _, preprocess = open_clip.create_model_and_transforms(
            config.arch, pretrained=None if pretrained is None else str(pretrained), force_image_size=config.image_size
        )
        tokenizer = open_clip.get_tokenizer(config.arch)
    return model, tokenizer, preprocess


def training_cost(config: EmbeddedTeacherConfig) -> float:
    """Multiply-adds of the transformer blocks over the whole training run, roughly: image tokens x
    layers x width^2 plus text tokens x layers x width^2, per pool image and epoch. Only ratios
    matter (``fgkd reproduce`` starts the most expensive teacher first)."""
    model_cfg = embedded_model_config(config.arch)
    vision, text = model_cfg["vision_cfg"], model_cfg["text_cfg"]
    if isinstance(vision["layers"], (list, tuple)):  # open_clip's ModifiedResNet: 32x downsampling
        image = (config.image_size // 32) ** 2 * sum(vision["layers"]) * vision["width"] ** 2
    else:
        image = ((config.image_size // vision["patch_size"]) ** 2 + 1) * vision["layers"] * vision["width"] ** 2
    caption = text.get("context_length", 77) * text["layers"] * text["width"] ** 2
    pool = sum(w.pretrain_classes * w.pretrain_per_class for w in config.world_configs())
    return float(config.train.epochs * pool * (image + caption))


def count_parameters(arch: str) -> dict[str, int]:
    """Parameter counts of an embedded architecture (image tower, text tower, total)."""
    model, _, _ = build_model(embedded_config(arch))
    total = sum(p.numel() for p in model.parameters())
    visual = sum(p.numel() for p in model.visual.parameters())
    return {"visual": visual, "text": total - visual, "total": total}


def train_embedded_teacher(
    config: EmbeddedTeacherConfig,
    *,
    progress: bool = True,
    max_epochs_this_call: int | None = None,
    pool: tuple[np.ndarray, list[str]] | None = None,
) -> Path:
    """Train (or finish training) an embedded teacher; returns its weights file ``teacher.pt``.

    Args:
        config: the teacher.
        progress: tqdm bar over steps.
        max_epochs_this_call: stop after this many epochs (raises
            :class:`~fgkd.teachers.training.TrainingInterrupted`); the next call resumes.
        pool: ``(images, captions)`` to train on instead of the world's pre-training pool (tests).
    """
    folder = teacher_folder(config)
    final = folder / "teacher.pt"
    if final.exists():
        return final
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Notebooks run in parallel may ask for the same teacher: one trains it, the others wait.
    with FileLock(str(folder.parent / f"{folder.name}.lock")):
        if final.exists():
            return final
        return _train(config, folder, final, progress, max_epochs_this_call, pool)


def _train(config: EmbeddedTeacherConfig, folder: Path, final: Path, progress: bool,
           max_epochs_this_call: int | None, pool: tuple[np.ndarray, list[str]] | None) -> Path:
    # The caller's block (a run's threads, say) does not reach the teacher: it has its own.
    with deterministic(TRAIN_THREADS, "cpu"):
        return _train_deterministic(config, folder, final, progress, max_epochs_this_call, pool)


def _train_deterministic(config: EmbeddedTeacherConfig, folder: Path, final: Path, progress: bool,
                         max_epochs_this_call: int | None, pool: tuple[np.ndarray, list[str]] | None) -> Path:
    start = time.perf_counter()
    images, captions = pool if pool is not None else pretraining_pool(config)
    model, tokenizer, preprocess = build_model(config)
    pp = model.visual.preprocess_cfg
    if images.shape[1:] != (config.image_size, config.image_size, 3):
        raise ValueError(f"pool images are {images.shape[1:]}, expected ({config.image_size}, {config.image_size}, 3)")
    # Unique captions are tokenised once; many images share a caption.
    unique, inverse = np.unique(np.asarray(captions, dtype=object), return_inverse=True)
    tokens = tokenizer(list(unique))[torch.from_numpy(inverse.astype(np.int64))]
    data_seconds = time.perf_counter() - start
    state = train_clip(
        model,
        torch.from_numpy(images),
        tokens,
        config.train,
        folder / "checkpoint.pt",
        mean=tuple(pp["mean"]),
        std=tuple(pp["std"]),
        max_epochs_this_call=max_epochs_this_call,
        progress=progress,
        desc=f"training {config.arch}",
        threads=TRAIN_THREADS,
    )
    provenance = {
        "kind": "embedded",
        "arch": config.arch,
        "config": asdict(config),
        "config_hash": config.key,
        "paper_analogue": PAPER_ANALOGUES.get(config.arch),
        "pool_size": int(len(captions)),
        "unique_captions": int(len(unique)),
        "loss_history": state["history"],
        "train_seconds": round(state["seconds"], 2),
        "data_seconds": round(data_seconds, 2),
        "determinism": state["determinism"],
        "weights": {"arch": config.arch, "config_hash": config.key},
    }
    # open_clip's loader reads the weights from the "state_dict" key (factory.load_state_dict).
    atomic_torch_save({"state_dict": model.state_dict(), "provenance": provenance}, final)
    atomic_write_json(folder / "provenance.json", provenance)
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    return final


_IDENTITY_MEMO: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def _load_options() -> frozenset[str]:
    """:func:`load_embedded_teacher`'s own keywords: how the teacher is loaded, not which one."""
    params = inspect.signature(load_embedded_teacher).parameters.values()
    return frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def teacher_identity(name: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The cache key of embedded teacher ``name`` built with ``options``; None for other names.

    Runs that use an embedded teacher put this key in their own hash, so a changed recipe or
    architecture of the teacher never returns a run distilled from the old one. Pretrained
    teachers are identified by their name alone. ``options`` are :func:`load_embedded_teacher`'s:
    its own keywords (``device``, ``progress``...) do not change the weights; the rest are
    :func:`embedded_config` overrides and do (``batch_size`` is the training batch).
    """
    if name not in EMBEDDED_TEACHERS:
        return None
    overrides = {k: v for k, v in (options or {}).items() if k not in _load_options()}
    memo = f"{name}:{stable_hash(overrides)}"
    if memo not in _IDENTITY_MEMO:
        _IDENTITY_MEMO[memo] = embedded_config(name, **overrides).key
    return _IDENTITY_MEMO[memo]


def load_embedded_teacher(
    name: str = "embedded-M",
    *,
    device: str = "cpu",
    encode_batch_size: int = 256,
    temperature: float = LEAD_TEMPERATURE,
    progress: bool = True,
    **overrides: Any,
) -> ClipTeacher:
    """The embedded teacher ``name`` (trained first if it is not cached), frozen.

    Args:
        name: ``embedded-S``, ``embedded-M`` or ``embedded-L``.
        device: where the teacher runs (training always runs on CPU).
        encode_batch_size: images / texts per forward pass when encoding.
        temperature: default T of ``teacher.probs`` (LEAD: 0.02).
        progress: tqdm bar while training.
        **overrides: :func:`embedded_config` fields (e.g. ``epochs=4``, ``image_size=48``,
            ``batch_size=64`` for the training batch).
    """
    config = embedded_config(name, **overrides)
    weights = train_embedded_teacher(config, progress=progress)
    from fgkd.io import checked_torch_load

    # Checked before open_clip reads the file: flipped bytes must not load as a teacher.
    saved = checked_torch_load(weights, map_location="cpu", weights_only=True,
                               fix=f"delete the teacher folder {Path(weights).parent} to train it again")
    model, tokenizer, preprocess = build_model(config, pretrained=weights)
    return ClipTeacher(
        model, tokenizer, preprocess, name=name, provenance=saved["provenance"], device=device,
        batch_size=encode_batch_size, temperature=temperature,
    )
