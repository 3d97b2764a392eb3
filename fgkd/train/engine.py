"""One training loop for both methods.

A :class:`Method` says *what* to train (its model, data and loss terms); :func:`train` says *how*:
SGD with the method's schedule, epochs, mixed precision and channels-last on CUDA, DDP under
torchrun, a tqdm bar (epoch, loss, images/s) and an atomic checkpoint after every epoch.

Resuming gives the same weights as never stopping. The checkpoint holds the module (MoCo's queue
and key encoder are buffers/parameters of it), optimizer, scheduler, grad scaler, the finished
epoch count and the RNG states of torch (CPU and CUDA), numpy and Python for every rank; the data
order and the loader workers' seeds come from a generator seeded by ``(seed, epoch, rank)``, so an
epoch's batches do not depend on how the process got there. Training runs with the config's fixed
CPU threads and deterministic algorithms (:mod:`fgkd.determinism`), so neither do its sums.
"""

from __future__ import annotations

import abc
import hashlib
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from fgkd.determinism import deterministic
from fgkd.io import atomic_torch_save
from fgkd.train import ddp

CHECKPOINT = "checkpoint.pt"


# --- seeds and RNG state ------------------------------------------------------------------------

def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any JSON-able parts, stable across processes (``derive_seed(0, "epoch", 3)``)."""
    blob = repr(parts).encode()
    return int(hashlib.sha256(blob).hexdigest()[:15], 16)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global RNG and Python's ``random``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu' or 'auto'")
    return torch.device("cuda", ddp.current().local_rank)


# --- data ---------------------------------------------------------------------------------------

class IndexedDataset(Dataset):
    """Items ``(*item, index)``: the dataset index travels with each sample so per-image targets
    (cached teacher outputs, MLLM P(yes)) can be looked up for a shuffled, augmented batch."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, target = self.dataset[index]
        return image, target, index


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move (nested lists/tuples of) tensors to ``device``; 4-D float tensors (images) optionally
    to channels-last."""
    if torch.is_tensor(batch):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):  # detection targets: {"boxes", "labels", ...}
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def _seed_worker(worker_id: int) -> None:  # numpy/random in workers follow torch's per-worker seed
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# --- the method interface -----------------------------------------------------------------------

class Method(abc.ABC):
    """What one training method provides to :func:`train`.

    ``build`` sets ``module`` (the trainable ``nn.Module``; its ``state_dict`` is the checkpoint)
    and, for training, ``train_set`` (items ``(inputs, target, index)``). The engine then sets
    ``forward_module``: ``module`` itself, or its DDP wrapper, which ``training_step`` must call so
    gradients are synchronised.
    """

    name: str = "method"
    # how the loader stacks items into a batch: None is torch's default; detection keeps lists
    collate_fn: Callable[[list[Any]], Any] | None = None

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.device = torch.device("cpu")
        self.module: nn.Module | None = None
        self.forward_module: nn.Module | None = None
        self.train_set: Dataset | None = None
        self.meta: dict[str, Any] = {}  # JSON-able facts needed to rebuild the model (classes, Q...)

    @abc.abstractmethod
    def build(self, device: torch.device, for_training: bool = True) -> None:
        """Build data, model and (when ``for_training``) everything the loss needs."""

    @abc.abstractmethod
    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Named loss terms of one batch; ``"loss"`` is the one to minimise (others are logged)."""

    def on_after_step(self) -> None:
        """Called after each optimizer step (e.g. an EMA update done outside the forward)."""

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """Numbers to record in the epoch's history entry after it trained (on the main process),
        e.g. MaKD's test accuracy per epoch; default none."""
        return {}

    def num_images(self, batch: Any) -> int:
        """Dataset images in ``batch`` (for images/s); the last element is the index tensor."""
        return len(batch[-1])

    def parameters(self) -> list[nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    @abc.abstractmethod
    def make_scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule, stepped once per epoch."""

    @abc.abstractmethod
    def extract(self, split: str) -> dict[str, np.ndarray]:
        """Arrays computed once per split for evaluation and figures (features, logits...)."""

    @abc.abstractmethod
    def evaluate(self, features: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """Metrics from the arrays ``features(split)`` (computed by :meth:`extract`, cached)."""


# --- the loop -----------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What one call of :func:`train` did."""

    history: list[dict[str, float]] = field(default_factory=list)  # one entry per finished epoch
    resumed_from_epoch: int = 0
    rank_digests: list[str] = field(default_factory=list)  # DDP: weight digest per rank (all equal)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else float("nan")

    @property
    def images_per_second(self) -> float:
        return float(np.mean([h["images_per_second"] for h in self.history])) if self.history else float("nan")


def autocast_settings(device: torch.device, amp: bool) -> tuple[bool, torch.dtype | None]:
    """(enabled, dtype): bf16 where the GPU has it, else fp16 with loss scaling; never on CPU."""
    if not amp or device.type != "cuda":
        return False, None
    return True, (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def make_loader(method: Method, epoch: int, info: ddp.DistInfo) -> DataLoader:
    """The epoch's loader: order and worker seeds are a function of ``(seed, epoch, rank)`` only."""
    cfg = method.cfg
    generator = torch.Generator().manual_seed(derive_seed(cfg.seed, "epoch", epoch, info.rank))
    if info.distributed:
        sampler = DistributedSampler(method.train_set, num_replicas=info.world_size, rank=info.rank,
                                     shuffle=True, seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(method.train_set, generator=generator)
    return DataLoader(method.train_set, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                      collate_fn=method.collate_fn,
                      num_workers=cfg.num_workers, generator=generator, worker_init_fn=_seed_worker,
                      pin_memory=method.device.type == "cuda", persistent_workers=False)


def has_depthwise_conv(module: nn.Module) -> bool:
    """True if ``module`` has a depthwise convolution (MobileNet, EfficientNet).

    On CPU, oneDNN's depthwise kernels run about twice as fast on channels-last tensors
    (EfficientNet-B0 at 32 px: 9.4 vs 19.8 ms per training image, one thread), while ResNet's dense
    convolutions run slightly slower (8.0 vs 7.3): so CPU training goes channels-last only for these.
    """
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in module.modules())


def train(method: Method, run_dir: str | Path, *,
          on_epoch_end: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train ``method`` for ``cfg.epochs`` epochs, resuming from ``run_dir/checkpoint.pt`` if present.

    ``on_epoch_end(epoch, record)`` runs after each epoch's checkpoint is written (tests raise from
    it to simulate a kill). Returns the per-epoch history of every epoch, resumed ones included.

    Runs inside :func:`fgkd.determinism.deterministic` with the config's ``threads`` (1 for a
    config without the field): the weights do not depend on the environment's thread settings.
    """
    device = resolve_device(method.cfg.device)
    with deterministic(getattr(method.cfg, "threads", 1), device):
        return _train(method, Path(run_dir), device, on_epoch_end)


def _train(method: Method, run_dir: Path, device: torch.device,
           on_epoch_end: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
    cfg = method.cfg
    info = ddp.current()
    expected = getattr(cfg, "world_size", 1)
    if info.world_size != expected:
        raise ValueError(f"this run is keyed for world_size={expected} process(es) but {info.world_size} are "
                         f"training it; set world_size: {info.world_size} in its config (the run key holds the "
                         f"process count and the global batch), or start it with torchrun --nproc-per-node {expected}")
    seed_everything(cfg.seed)  # the same initial weights on every rank
    method.build(device, for_training=True)
    module = method.module.to(device)
    channels_last = cfg.channels_last and (device.type == "cuda" or has_depthwise_conv(module))
    if channels_last:
        module.to(memory_format=torch.channels_last)
    method.device = device
    method.forward_module = ddp.wrap(module, device)
    n_train = len(method.train_set)
    if n_train < cfg.batch_size * info.world_size:
        raise ValueError(f"the training set has {n_train} images, fewer than one batch of {cfg.batch_size} "
                         f"per rank x {info.world_size} ranks; lower batch_size or use more images")

    optimizer = torch.optim.SGD(method.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    scheduler = method.make_scheduler(optimizer)
    amp_on, amp_dtype = autocast_settings(device, cfg.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_on and amp_dtype == torch.float16)

    # Training randomness (augmentation, shuffle-BN, masks) differs per rank but not per restart.
    seed_everything(derive_seed(cfg.seed, "train", info.rank))
    result = TrainResult()
    ckpt_path = run_dir / CHECKPOINT
    start_epoch = 0
    if ckpt_path.exists():
        from fgkd.io import DamagedFileError, checksum_path

        try:
            start_epoch = _load_checkpoint(ckpt_path, method, optimizer, scheduler, scaler, result, info)
            result.resumed_from_epoch = start_epoch
        except DamagedFileError as exc:  # a damaged checkpoint must never be resumed from
            import warnings

            warnings.warn(str(exc))
            if info.is_main:
                ckpt_path.unlink(missing_ok=True)
                checksum_path(ckpt_path).unlink(missing_ok=True)
            ddp.barrier()

    for epoch in range(start_epoch, cfg.epochs):
        record = _run_epoch(method, epoch, optimizer, scaler, amp_on, amp_dtype, channels_last, info)
        record["lr"] = optimizer.param_groups[0]["lr"]
        if info.is_main:
            record.update(method.epoch_metrics(epoch))
        scheduler.step()
        result.history.append(record)
        _save_checkpoint(ckpt_path, method, optimizer, scheduler, scaler, epoch + 1, result, info)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    if info.distributed:
        ddp.sync_buffers(method.module)
        result.rank_digests = ddp.check_in_step(method.module)
    method.forward_module = method.module
    return result


def _run_epoch(method: Method, epoch: int, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               amp_on: bool, amp_dtype: torch.dtype | None, channels_last: bool,
               info: ddp.DistInfo) -> dict[str, float]:
    from tqdm.auto import tqdm

    cfg = method.cfg
    loader = make_loader(method, epoch, info)
    method.module.train()
    sums: dict[str, torch.Tensor] = {}
    steps = images = 0
    start = time.perf_counter()
    # A bar fed by hand: tqdm.auto would call iter(loader) once more itself, which restarts the
    # loader (another draw from its generator, and a second set of worker processes).
    bar = tqdm(total=len(loader), desc=f"{method.name} epoch {epoch + 1}/{cfg.epochs}", leave=False,
               disable=not (cfg.progress and info.is_main), dynamic_ncols=True)
    for batch in loader:
        batch = to_device(batch, method.device, channels_last)
        autocast = torch.autocast("cuda", dtype=amp_dtype) if amp_on else nullcontext()
        with autocast:
            terms = method.training_step(batch)
        loss = terms["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        method.on_after_step()
        for k, v in terms.items():
            v = v.detach().float()
            sums[k] = sums[k] + v if k in sums else v
        steps += 1
        images += method.num_images(batch)
        bar.update(1)
        if not bar.disable and (steps % 10 == 1 or steps == len(loader)):  # .item() syncs the GPU
            rate = images * info.world_size / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{rate:.0f}")
    bar.close()
    if method.device.type == "cuda":
        torch.cuda.synchronize(method.device)
    seconds = time.perf_counter() - start
    record = {k: float(v) / steps for k, v in sums.items()}
    if not all(math.isfinite(v) for v in record.values()):
        raise FloatingPointError(f"{method.name} epoch {epoch + 1}: a loss term is not finite ({record}); "
                                 "lower the learning rate or check the inputs")
    record.update(epoch=epoch + 1, seconds=seconds, images_per_second=images * info.world_size / seconds)
    return record


def _save_checkpoint(path: Path, method: Method, optimizer, scheduler, scaler, epochs_done: int,
                     result: TrainResult, info: ddp.DistInfo) -> None:
    rng = ddp.gather_objects(rng_state())  # every rank's RNG, written once by rank 0
    if info.is_main:
        atomic_torch_save({
            "epoch": epochs_done,
            "config_hash": method.cfg.config_hash(),
            "world_size": info.world_size,
            "module": method.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng,
            "history": result.history,
        }, path)
    ddp.barrier()


def _load_checkpoint(path: Path, method: Method, optimizer, scheduler, scaler, result: TrainResult,
                     info: ddp.DistInfo) -> int:
    # weights_only=False: the file holds numpy/Python RNG states, and fgkd wrote it itself.
    from fgkd.io import checked_torch_load

    state = checked_torch_load(path, map_location="cpu", weights_only=False,
                               fix="it is removed and the run trains again from its first epoch")
    if state["config_hash"] != method.cfg.config_hash():
        raise ValueError(f"{path} belongs to config {state['config_hash']}, not {method.cfg.config_hash()}; "
                         "delete it or use the run folder of that config")
    if state["world_size"] != info.world_size:
        raise ValueError(f"{path} was written by {state['world_size']} process(es) but this run has "
                         f"{info.world_size}; resume with the same number of processes (or delete it)")
    method.module.load_state_dict(state["module"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"][info.rank])
    result.history = list(state["history"])
    return int(state["epoch"])
