"""iBOT-style baseline of LEAD Table 5 (Zhou et al. 2022, https://arxiv.org/abs/2111.07832).

A small ViT student and its EMA teacher (``fgkd.models.IBOT``): a DINO-style [CLS] objective
between two views plus masked image modelling on the patch tokens against the teacher's online
tokenizer. The model computes its own loss (``{"total", "cls", "mim"}``). At the embedded scale it
is fgkd's tiny ViT (4 blocks, 192 wide, 4-pixel patches), not the paper's ViT-S/16; it has no
named backbone, so the run has no ``backbone`` / ``pretrained`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from fgkd.methods.base import RunConfig, SSLConfig, SSLMethod


@dataclass(frozen=True, eq=True)
class IbotConfig(SSLConfig):
    """One iBOT-style run: the shared SSL fields; the ViT's own sizes are ``fgkd.models.IBOT``'s defaults."""

    method: ClassVar[str] = "ibot"
    __hash__ = RunConfig.__hash__


class IbotMethod(SSLMethod):
    name = "ibot"

    @classmethod
    def build_module(cls, cfg: IbotConfig) -> nn.Module:
        from fgkd.models.ibot import IBOT

        return IBOT(image_size=cfg.image_size)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        (x1, x2), _, _ = batch
        out = self.forward_module(x1, x2)
        return {"loss": out["total"], "cls": out["cls"], "mim": out["mim"]}
