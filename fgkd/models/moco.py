"""MoCo v2 student for LEAD (He et al. 2020, https://arxiv.org/abs/1911.05722; Chen et al. 2020,
https://arxiv.org/abs/2003.04297), after facebookresearch/moco ``moco/builder.py``.

Device-agnostic (tensors follow the inputs), with the queue stored row-wise ``[K, dim]``. Shuffle-BN
and the all-gather of keys are active only when ``torch.distributed`` is initialised with world
size > 1; a single process (CPU or one GPU) runs the plain path. The loss is not computed here:
``forward`` returns what ``fgkd.losses.info_nce`` / ``lead_loss`` need (q, k and the queue of
negatives as it was before this batch's keys were enqueued).
"""

from __future__ import annotations

import os

import copy
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fgkd.models.backbones import get_backbone

HEADS = ("lead", "mocov2")


def projection_head(in_dim: int, hidden_dim: int, out_dim: int, kind: str = "lead") -> nn.Sequential:
    """The projection head g on top of the pooled backbone features.

    ``"lead"`` (LEAD supplement, section 11: "two fully connected layers with ReLU activation and a
    third linear layer with batch normalization"), read as
    ``Linear(in, hidden) - ReLU - Linear(hidden, hidden) - ReLU - Linear(hidden, out) - BN(out)``.
    ``"mocov2"``: MoCo v2's ``Linear(in, hidden) - ReLU - Linear(hidden, out)``, which is what
    LEAD's public code (HuiGuanLab/LEAD-pp) actually builds.
    """
    if kind == "lead":
        return nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim), nn.BatchNorm1d(out_dim),
        )
    if kind == "mocov2":
        return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))
    raise ValueError(f"head must be one of {HEADS}, got {kind!r}")


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """EMA of parameters: ``theta_k <- m * theta_k + (1 - m) * theta_q`` (buffers are not averaged)."""
    for p_q, p_k in zip(online.parameters(), target.parameters()):
        p_k.mul_(m).add_(p_q.detach(), alpha=1.0 - m)


def distributed_world_size() -> int:
    """World size when torch.distributed is initialised, else 1."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def concat_all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather ``[n, ...]`` from every rank into ``[world * n, ...]`` (no gradient); identity on one process."""
    world = distributed_world_size()
    if world == 1:
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(gathered, tensor.contiguous())
    return torch.cat(gathered, dim=0)


class Encoder(nn.Module):
    """Backbone f then projection head g: ``x -> g(f(x))``, ``[N, 3, H, W] -> [N, dim]``."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class MoCoOutput(NamedTuple):
    q: torch.Tensor  # [N, dim] normalised query projections (with gradient)
    k: torch.Tensor  # [N, dim] normalised key projections (no gradient)
    queue: torch.Tensor  # [K, dim] normalised negatives before this batch was enqueued (no gradient)


class MoCo(nn.Module):
    """MoCo v2: a query encoder, a momentum key encoder and a queue of negative keys.

    Args:
        backbone: a name for ``fgkd.models.get_backbone`` or a module returning ``[N, feature_dim]``.
        feature_dim: the backbone's output dimension; required when ``backbone`` is a module.
        dim: projection output dimension; for LEAD the teacher's embedding dimension (512 for CLIP
            ViT-B/16), since the projection is scored against the teacher's class prototypes.
        hidden_dim: width of the head's hidden layers (default: ``feature_dim``, as in MoCo v2).
        queue_size: K, the number of negative keys (default 65536).
        momentum: m of the key-encoder EMA (default 0.999).
        head: ``"lead"`` or ``"mocov2"``, see ``projection_head``.
        pretrained, small_input: passed to ``get_backbone`` when ``backbone`` is a name.
        bn_splits: in a single process, the substitute for shuffle-BN (MoCo's SplitBatchNorm
            ports): both encoders run on ``bn_splits`` sub-batches, each with its own BN
            statistics, and the keys' batch is shuffled first, so a key's statistics never come
            from its own query's sub-batch. 1 = off. Under DDP the real shuffle-BN runs instead.
    """

    def __init__(
        self,
        backbone: str | nn.Module,
        *,
        feature_dim: int | None = None,
        dim: int = 512,
        hidden_dim: int | None = None,
        queue_size: int = 65536,
        momentum: float = 0.999,
        head: str = "lead",
        pretrained: bool | str | os.PathLike = False,
        small_input: bool = False,
        bn_splits: int = 1,
    ) -> None:
        super().__init__()
        if bn_splits < 1:
            raise ValueError(f"bn_splits must be >= 1, got {bn_splits}")
        self.bn_splits = bn_splits
        if isinstance(backbone, str):
            backbone, feature_dim = get_backbone(backbone, pretrained=pretrained, small_input=small_input)
        elif feature_dim is None:
            raise ValueError("feature_dim is required when backbone is a module")
        if dim < 1 or queue_size < 1:
            raise ValueError(f"dim and queue_size must be >= 1, got dim={dim}, queue_size={queue_size}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.feature_dim = int(feature_dim)
        self.dim = dim
        self.queue_size = queue_size
        self.momentum = momentum

        self.encoder_q = Encoder(backbone, projection_head(self.feature_dim, hidden_dim or self.feature_dim, dim, head))
        self.encoder_k = copy.deepcopy(self.encoder_q)  # starts equal to the query encoder
        for p in self.encoder_k.parameters():
            p.requires_grad = False  # updated by EMA only

        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))  # [K, dim]
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @property
    def backbone(self) -> nn.Module:
        """The query backbone f (the representation that is evaluated)."""
        return self.encoder_q.backbone

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features for probing and retrieval: ``[N, 3, H, W] -> [N, feature_dim]``."""
        return self.encoder_q.backbone(x)

    @torch.no_grad()
    def momentum_update_key_encoder(self) -> None:
        momentum_update(self.encoder_q, self.encoder_k, self.momentum)

    @torch.no_grad()
    def dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest entries of the queue with ``keys`` [N, dim] (gathered over ranks).

        Indices wrap around, so K need not be a multiple of the batch size.
        """
        keys = concat_all_gather(keys)  # [world * N, dim]
        n = keys.shape[0]
        if n > self.queue_size:
            raise ValueError(f"a batch of {n} keys does not fit a queue of {self.queue_size}; raise queue_size")
        ptr = int(self.queue_ptr)
        idx = (ptr + torch.arange(n, device=keys.device)) % self.queue_size  # [n]
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + n) % self.queue_size)

    @torch.no_grad()
    def _batch_shuffle(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffle-BN: give each rank a random slice of the global batch (DDP only).

        Like MoCo, this assumes every rank has the same batch size (use ``drop_last=True``).
        """
        n_this = x.shape[0]
        x_all = concat_all_gather(x)  # [world * n, ...]
        idx_shuffle = torch.randperm(x_all.shape[0], device=x.device)
        dist.broadcast(idx_shuffle, src=0)  # every rank uses rank 0's permutation
        idx_unshuffle = torch.argsort(idx_shuffle)
        idx_this = idx_shuffle.view(-1, n_this)[dist.get_rank()]
        return x_all[idx_this], idx_unshuffle

    @torch.no_grad()
    def _batch_unshuffle(self, x: torch.Tensor, idx_unshuffle: torch.Tensor) -> torch.Tensor:
        n_this = x.shape[0]
        x_all = concat_all_gather(x)
        return x_all[idx_unshuffle.view(-1, n_this)[dist.get_rank()]]

    def forward(self, im_q: torch.Tensor, im_k: torch.Tensor) -> MoCoOutput:
        """Encode two views ``[N, 3, H, W]``.

        In training mode this also updates the key encoder by EMA (before encoding the keys, as MoCo
        does) and enqueues the new keys after reading the queue; in eval mode nothing changes.
        """
        distributed = distributed_world_size() > 1
        split = self.training and not distributed and self.bn_splits > 1
        if split:  # BN statistics per sub-batch of the queries
            q = torch.cat([self.encoder_q(part) for part in im_q.chunk(self.bn_splits)])
        else:
            q = self.encoder_q(im_q)
        q = F.normalize(q, dim=1)  # [N, dim]
        with torch.no_grad():
            if self.training:
                self.momentum_update_key_encoder()
            if distributed:
                im_k, idx_unshuffle = self._batch_shuffle(im_k)
            if split:  # keys shuffled into other sub-batches than their queries, then put back
                idx_shuffle = torch.randperm(im_k.shape[0], device=im_k.device)
                k = torch.cat([self.encoder_k(part) for part in im_k[idx_shuffle].chunk(self.bn_splits)])
                k = k[torch.argsort(idx_shuffle)]
            else:
                k = self.encoder_k(im_k)
            k = F.normalize(k, dim=1)  # [N, dim]
            if distributed:
                k = self._batch_unshuffle(k, idx_unshuffle)
            queue = self.queue.clone()  # [K, dim], the negatives for this step
            if self.training:
                self.dequeue_and_enqueue(k)
        return MoCoOutput(q=q, k=k, queue=queue)
