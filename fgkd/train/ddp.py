"""Distributed data parallel plumbing: one entry point for one process and for ``torchrun``.

``torchrun --nproc_per_node N -m fgkd.train --config cfg.json`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_from_env` then starts the process group (``nccl`` on GPUs, ``gloo`` on
CPU). Without those variables everything runs as a single process and these helpers are no-ops.
MoCo's shuffle-BN and key all-gather live in the model (``fgkd.models.moco``); this module only
starts the group, wraps the trainable module and checks that the ranks stayed in step.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistInfo:
    """The initialised process group's view of this process (a single process when none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_from_env(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (``WORLD_SIZE`` > 1); else do nothing.

    The backend is ``nccl`` when the run uses CUDA and ``gloo`` otherwise. Each rank then uses
    ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed; run one process")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return current()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if current().distributed:
        dist.barrier()


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` in a process group, else ``module`` itself.

    ``broadcast_buffers`` stays on: rank 0's BN statistics and MoCo queue reach every rank each step.
    """
    if not current().distributed:
        return module
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def broadcast_object(obj):
    """``obj`` from rank 0 on every rank (identity for one process)."""
    if not current().distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` for one process)."""
    info = current()
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


@torch.no_grad()
def sync_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BN running statistics, MoCo's queue) to every rank.

    DDP does this at the start of every forward; after the last step each rank still holds the BN
    statistics of its own last batch, so a finished run syncs once more, as the next forward would.
    """
    if not current().distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def state_digest(module: nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes, in ``state_dict`` order: equal digests mean
    bit-identical weights."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        flat = tensor.detach().cpu().reshape(-1).contiguous()  # 1-D: 0-d tensors cannot be re-viewed
        h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_in_step(module: nn.Module) -> list[str]:
    """Digests of ``module`` on every rank; raises if the ranks' weights differ (a DDP bug or a
    rank-dependent update). Returns the list so callers can record it."""
    digests = gather_objects(state_digest(module))
    if len(set(digests)) > 1:
        raise RuntimeError(f"distributed ranks ended with different weights (digests {digests}); "
                           "a rank-dependent update escaped DistributedDataParallel")
    return digests
