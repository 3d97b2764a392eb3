"""MoCo v2 (Chen et al. 2020, https://arxiv.org/abs/2003.04297): LEAD's student without the teacher.

A query encoder and a momentum key encoder (``fgkd.models.MoCo``) see two augmented views of each
image; the loss is InfoNCE against a queue of K negative keys (``fgkd.losses.info_nce``)::

    L = mean_n -log( exp(q_n . k_n / tau) / (exp(q_n . k_n / tau) + sum_j exp(q_n . u_j / tau)) )

It is LEAD Table 5's "MoCo v2" row and every LEAD table's baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from fgkd.config import check
from fgkd.methods.base import SSL_HASHED_WHEN_SET, BackboneSSLConfig, RunConfig, SSLMethod

PROJ_HEADS = ("lead", "mocov2")


@dataclass(frozen=True, eq=True)
class MocoConfig(BackboneSSLConfig):
    """One MoCo v2 run (the student's fields; :class:`~fgkd.methods.lead.LeadConfig` adds the teacher's)."""

    method: ClassVar[str] = "moco"
    HASH_NAMES: ClassVar[dict[str, str]] = {"proj_dim": "moco_dim"}
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = SSL_HASHED_WHEN_SET | {"shuffle_bn_splits"}
    __hash__ = RunConfig.__hash__

    proj_head: str = "lead"  # "lead": 2 FC + ReLU + linear + BN (section 11); "mocov2": MoCo v2's
    proj_hidden_dim: int | None = None  # head width; None = backbone feature dim (as MoCo v2)
    proj_dim: int = 512  # projection dim; for LEAD the teacher's embedding dim (CLIP ViT-B/16: 512)
    queue_size: int = 65536  # K
    moco_momentum: float = 0.999  # m of the key-encoder EMA
    moco_temperature: float = 0.2  # tau of InfoNCE (MoCo v2; LEAD-pp uses 0.27)
    # single process: shuffle-BN's substitute over this many sub-batches (fgkd.models.MoCo bn_splits;
    # LEAD-pp's 2 GPUs of 32 images are 2 at batch 64); 1 = off. Under torchrun, real shuffle-BN.
    shuffle_bn_splits: int = 1

    def validate(self) -> None:
        super().validate()
        n = type(self).__name__
        check(self.proj_head in PROJ_HEADS, n, "proj_head", self.proj_head, f"choose one of {PROJ_HEADS}")
        check(self.proj_hidden_dim is None or self.proj_hidden_dim >= 1, n, "proj_hidden_dim",
              self.proj_hidden_dim, "must be >= 1 or None")
        check(self.proj_dim >= 1, n, "proj_dim", self.proj_dim, "must be >= 1")
        check(self.queue_size >= self.batch_size, n, "queue_size", self.queue_size,
              f"must be >= batch_size={self.batch_size} so one batch of keys fits the queue")
        check(0 <= self.moco_momentum <= 1, n, "moco_momentum", self.moco_momentum, "must be in [0, 1]")
        check(self.moco_temperature > 0, n, "moco_temperature", self.moco_temperature, "must be > 0")
        check(self.shuffle_bn_splits >= 1 and self.batch_size % self.shuffle_bn_splits == 0, n, "shuffle_bn_splits",
              self.shuffle_bn_splits, f"must be >= 1 and divide batch_size={self.batch_size} (equal sub-batches)")


class MocoMethod(SSLMethod):
    """MoCo v2 through the shared engine; ``training_step`` returns InfoNCE."""

    name = "moco"

    @classmethod
    def build_module(cls, cfg: MocoConfig) -> nn.Module:
        from fgkd.models.moco import MoCo

        return MoCo(cfg.backbone, dim=cfg.proj_dim, hidden_dim=cfg.proj_hidden_dim, queue_size=cfg.queue_size,
                    momentum=cfg.moco_momentum, head=cfg.proj_head, pretrained=cfg.backbone_weights(cfg.progress),
                    small_input=cfg.small_input, bn_splits=cfg.shuffle_bn_splits)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import info_nce

        (x_q, x_k), _, _ = batch
        out = self.forward_module(x_q, x_k)
        # The loss runs in float32: bf16 logits at tau = 0.2 lose the small differences InfoNCE ranks.
        with torch.autocast(x_q.device.type, enabled=False):
            l_cl = info_nce(out.q.float(), out.k.float(), out.queue.float(), self.cfg.moco_temperature)  # [N]
        return {"loss": l_cl.mean(), "contrastive": l_cl.detach().mean()}
