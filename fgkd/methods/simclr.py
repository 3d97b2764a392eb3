"""SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709): LEAD Table 5's contrastive baseline.

A backbone and a two-layer MLP projection (``fgkd.models.SimCLR``) see two SimCLR-augmented views
of each image; the loss is NT-Xent over the 2N views (``fgkd.losses.nt_xent``)::

    l(i) = -log( exp(s(i, p(i))) / sum_{j != i} exp(s(i, j)) ),  s(i, j) = z_i . z_j / tau
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from fgkd.config import check
from fgkd.methods.base import BackboneSSLConfig, RunConfig, SSLMethod


@dataclass(frozen=True, eq=True)
class SimclrConfig(BackboneSSLConfig):
    """One SimCLR run."""

    method: ClassVar[str] = "simclr"
    __hash__ = RunConfig.__hash__

    simclr_dim: int = 128  # projection dim (the paper's 128)
    simclr_temperature: float = 0.5  # tau of NT-Xent

    def validate(self) -> None:
        super().validate()
        n = type(self).__name__
        check(self.simclr_dim >= 1, n, "simclr_dim", self.simclr_dim, "must be >= 1")
        check(self.simclr_temperature > 0, n, "simclr_temperature", self.simclr_temperature, "must be > 0")


class SimclrMethod(SSLMethod):
    name = "simclr"

    @staticmethod
    def augmentation(image_size: int) -> Callable:
        from fgkd.data.transforms import simclr_augmentation

        return simclr_augmentation(image_size)

    @staticmethod
    def view_recipe(image_size: int):
        from fgkd.data.batch_augment import ViewRecipe

        return ViewRecipe.simclr(image_size)

    @classmethod
    def build_module(cls, cfg: SimclrConfig) -> nn.Module:
        from fgkd.models.simclr import SimCLR

        return SimCLR(cfg.backbone, dim=cfg.simclr_dim, pretrained=cfg.backbone_weights(cfg.progress), small_input=cfg.small_input)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import nt_xent

        (x1, x2), _, _ = batch
        z1, z2 = self.forward_module(x1, x2)
        with torch.autocast(x1.device.type, enabled=False):
            return {"loss": nt_xent(z1.float(), z2.float(), self.cfg.simclr_temperature)}
