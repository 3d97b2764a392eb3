"""Contrastive image-text training of an open_clip model, resumable epoch by epoch.

The embedded teachers (:mod:`fgkd.teachers.embedded`) are trained here with open_clip's
``ClipLoss`` (Radford et al. 2021, symmetric InfoNCE over a batch of image-caption pairs)::

    L = ( CE(s * F_img . F_txt^T, I) + CE(s * F_txt . F_img^T, I) ) / 2,   s = exp(t) learned

AdamW with linear warm-up and cosine decay per step; weight decay on matrices only (open_clip's
rule: not on gains, biases, logit scale). Each epoch's shuffling and augmentation
draw from a generator seeded by ``(seed, epoch)``, and the checkpoint (model, optimiser, epoch,
history) is written atomically after every epoch, so an interrupted run resumed from its
checkpoint ends with exactly the weights of an uninterrupted one. Training runs with a fixed number
of CPU threads and deterministic algorithms (:func:`fgkd.determinism.deterministic`), so the weights
do not depend on the environment's thread settings either.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from fgkd.determinism import deterministic
from fgkd.io import atomic_torch_save, atomic_write_json


@dataclass(frozen=True)
class ClipTrainConfig:
    """How an embedded teacher is trained (one value per field; all enter the cache key)."""

    epochs: int = 10  # passes over the pre-training pool
    batch_size: int = 128  # image-caption pairs per step (the contrastive negatives)
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.1  # on weight matrices only
    warmup_steps: int = 50  # linear warm-up, then cosine decay to 0
    max_shift: int = 2  # augmentation: random translation of up to this many pixels (0: none)
    flip: bool = True  # augmentation: random horizontal flip
    seed: int = 0  # initialisation, shuffling and augmentation

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ClipTrainConfig.{name} must be a positive int, got {value!r}")
        for name in ("warmup_steps", "max_shift", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ClipTrainConfig.{name} must be an int >= 0, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"ClipTrainConfig.lr must be > 0, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ValueError(f"ClipTrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.flip, bool):
            raise ValueError(f"ClipTrainConfig.flip must be a bool, got {self.flip!r}")


def progress_path(checkpoint: str | Path) -> Path:
    """``<checkpoint>.progress.json``: the epochs done so far, written after every epoch."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".progress.json")


def read_progress(path: Path) -> tuple[int, int] | None:
    """``(epochs done, epochs)`` from a progress file :func:`save_checkpoint` wrote, or None when
    there is none yet (or it cannot be read: a display must never fail on it)."""
    import json

    try:
        record = json.loads(Path(path).read_text())
        return int(record["epoch"]), int(record["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def resume_checkpoint(checkpoint: Path, config: dict[str, Any], model: torch.nn.Module,
                      optimizer: torch.optim.Optimizer, state: dict[str, Any], what: str) -> dict[str, Any]:
    """Load model and optimiser from ``checkpoint`` (checked against its checksum and against
    ``config``, the training's ``asdict``) and return its saved ``state`` keys; without a
    checkpoint, ``state`` as given. ``what`` completes the fix: "delete it to <what> from its first epoch"."""
    if not checkpoint.exists():
        return state
    from fgkd.io import checked_torch_load

    saved = checked_torch_load(checkpoint, map_location="cpu", weights_only=True,
                               fix=f"delete it ({checkpoint}) to {what} from its first epoch")
    if saved.get("config") != config:
        raise ValueError(f"checkpoint {checkpoint} was written for another training config ({saved.get('config')}); "
                         "delete it or use the config it was made with")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    return {k: saved[k] for k in state}


def save_checkpoint(checkpoint: Path, progress: Path, config: dict[str, Any], model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, state: dict[str, Any], epochs: int) -> None:
    """One epoch's checkpoint (model, optimiser, ``config``, ``state``), written atomically, and a
    tiny progress file others poll cheaply (``fgkd reproduce`` shows each model's epoch from it)."""
    atomic_torch_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": config, **state},
                      checkpoint)
    atomic_write_json(progress, {"epoch": state["epoch"], "epochs": epochs, "seconds": state["seconds"]})


class TrainingInterrupted(RuntimeError):
    """Training stopped early on purpose (``max_epochs_this_call``); the checkpoint holds the progress."""


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # open_clip's training rule (training/main.py): no decay on gains, biases and the logit scale.
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def lr_at(step: int, total_steps: int, config: ClipTrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    warmup = min(config.warmup_steps, max(total_steps - 1, 0))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def augment(x: torch.Tensor, config: ClipTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and integer translations (edge pixels repeated), ``[B,3,S,S]``."""
    b, _, h, w = x.shape
    if config.flip:
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if config.max_shift:
        k = config.max_shift
        shifts = torch.randint(-k, k + 1, (b, 2), generator=generator)
        padded = F.pad(x, (k, k, k, k), mode="replicate")
        rows = (torch.arange(h)[None, :] + k + shifts[:, :1]).clamp(0, h + 2 * k - 1)  # B x H
        cols = (torch.arange(w)[None, :] + k + shifts[:, 1:]).clamp(0, w + 2 * k - 1)  # B x W
        batch = torch.arange(b)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return x.contiguous()


def _normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B,H,W,3]`` -> float ``[B,3,H,W]``, ``(x/255 - mean)/std`` (open_clip's ToTensor+Normalize)."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean[:, None, None]) / std[:, None, None]


def train_clip(
    model: torch.nn.Module,
    images: torch.Tensor,
    tokens: torch.Tensor,
    config: ClipTrainConfig,
    checkpoint: str | Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    max_epochs_this_call: int | None = None,
    progress: bool = True,
    desc: str = "clip",
    threads: int = 1,
) -> dict[str, Any]:
    """Train ``model`` contrastively on image-caption pairs, resuming from ``checkpoint`` if present.

    Args:
        model: an open_clip CLIP model, freshly built (its weights are replaced on resume).
        images: uint8 ``[N, S, S, 3]`` at the model's input size.
        tokens: ``[N, L]`` token ids of each image's caption.
        config: the recipe.
        checkpoint: file written atomically after every epoch.
        mean, std: the model's preprocess normalisation (open_clip's ``Normalize``).
        max_epochs_this_call: stop after this many epochs in this call and raise
            :class:`TrainingInterrupted` (for tests and time-sliced runs); None: train to the end.
        progress: show a tqdm bar.
        threads: CPU intra-op threads (:func:`fgkd.determinism.deterministic`); the weights depend
            on it, so keep it fixed for a given config (the embedded teachers use one).

    Returns:
        ``{"epoch": int, "history": [mean loss per epoch], "seconds": float, "determinism": what
        was in force}``.
    """
    n = images.shape[0]
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"train_clip: images must be uint8 [N, S, S, 3], got {images.dtype} {tuple(images.shape)}")
    if tokens.shape[0] != n:
        raise ValueError(f"train_clip: {n} images but {tokens.shape[0]} captions")
    if n < 2:
        raise ValueError("train_clip: a contrastive loss needs at least 2 image-caption pairs")
    with deterministic(threads, "cpu") as determinism:
        state = _train_clip(model, images, tokens, config, Path(checkpoint), mean, std, max_epochs_this_call,
                            progress, desc)
    return {**state, "determinism": determinism}


def _train_clip(model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, config: ClipTrainConfig,
                checkpoint: Path, mean: tuple[float, ...], std: tuple[float, ...], max_epochs_this_call: int | None,
                progress: bool, desc: str) -> dict[str, Any]:
    n = images.shape[0]
    batch_size = min(config.batch_size, n)
    steps_per_epoch = n // batch_size  # the last incomplete batch is dropped: fewer negatives there
    total_steps = steps_per_epoch * config.epochs
    mean_t, std_t = torch.tensor(mean), torch.tensor(std)

    model.train()
    # The fused CPU kernel is several times faster than the default loop over tensors (the 49k-token
    # embedding table dominates the parameter count); betas and eps are open_clip's defaults.
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.lr, betas=(0.9, 0.98), eps=1e-6, fused=True
    )
    import open_clip  # here, not at module import: see fgkd.teachers.clip.embedded_model_config

    loss_fn = open_clip.ClipLoss()
    state = resume_checkpoint(checkpoint, asdict(config), model, optimizer,
                              {"epoch": 0, "history": [], "seconds": 0.0}, "train the teacher")

    done_this_call = 0
    bar = tqdm(total=total_steps, initial=state["epoch"] * steps_per_epoch, desc=desc, disable=not progress,
               unit="step", leave=False)
    try:
        while state["epoch"] < config.epochs:
            if max_epochs_this_call is not None and done_this_call >= max_epochs_this_call:
                raise TrainingInterrupted(
                    f"stopped after {state['epoch']} of {config.epochs} epochs (max_epochs_this_call="
                    f"{max_epochs_this_call}); call again to resume from {checkpoint}"
                )
            start = time.perf_counter()
            epoch = state["epoch"]
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=generator)
            losses = []
            for i in range(steps_per_epoch):
                idx = order[i * batch_size : (i + 1) * batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(epoch * steps_per_epoch + i, total_steps, config)
                x = augment(_normalise(images[idx], mean_t, std_t), config, generator)
                f_img = model.encode_image(x, normalize=True)  # B x d
                f_txt = model.encode_text(tokens[idx], normalize=True)  # B x d
                loss = loss_fn(f_img, f_txt, model.logit_scale.exp())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():  # open_clip clamps the logit scale at 100
                    model.logit_scale.clamp_(0, math.log(100))
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3f}")
            state["epoch"] = epoch + 1
            state["history"] = [*state["history"], sum(losses) / len(losses)]
            state["seconds"] = state["seconds"] + time.perf_counter() - start
            save_checkpoint(checkpoint, progress_path(checkpoint), asdict(config), model, optimizer, state,
                            config.epochs)
            done_this_call += 1
    finally:
        bar.close()
    model.eval()
    return dict(state)
