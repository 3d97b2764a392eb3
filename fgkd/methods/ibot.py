"""iBOT-style baseline of LEAD Table 5 (Zhou et al. 2022, https://arxiv.org/abs/2111.07832).

A small ViT student and its EMA teacher (``fgkd.models.IBOT``): a DINO-style [CLS] objective
between two views plus masked image modelling on the patch tokens against the teacher's online
tokenizer. The model computes its own loss (``{"total", "cls", "mim"}``). ``vit`` names the ViT
(``fgkd.models.ibot.VITS``): ``tiny`` at the embedded scale (4 blocks, 192 wide, 4-pixel patches)
and iBOT's ``vit_small_16`` (ViT-S/16, 224 px) at the paper scale. Kept simpler than iBOT: two
global views without local crops, random rather than block-wise masks, a fixed teacher temperature.
It has no named CNN backbone, so the run has no ``backbone`` / ``pretrained`` fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from fgkd.config import check
from fgkd.methods.base import SSL_HASHED_WHEN_SET, RunConfig, SSLConfig, SSLMethod


@dataclass(frozen=True, eq=True)
class IbotConfig(SSLConfig):
    """One iBOT-style run: the shared SSL fields; the ViT's own sizes are ``fgkd.models.IBOT``'s defaults."""

    method: ClassVar[str] = "ibot"
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = SSL_HASHED_WHEN_SET | {"vit"}
    __hash__ = RunConfig.__hash__

    vit: str = "tiny"  # fgkd.models.ibot.VITS name: tiny | vit_small_16 (iBOT's ViT-S/16)

    def validate(self) -> None:
        super().validate()
        from fgkd.models.ibot import VITS

        n = type(self).__name__
        check(self.vit in VITS, n, "vit", self.vit, f"choose one of {sorted(VITS)}")
        patch = VITS.get(self.vit, {}).get("patch_size", 1)
        check(self.image_size % patch == 0, n, "image_size", self.image_size,
              f"must be a multiple of the {self.vit} ViT's patch size {patch}")


class IbotMethod(SSLMethod):
    name = "ibot"

    @classmethod
    def build_module(cls, cfg: IbotConfig) -> nn.Module:
        from fgkd.models.ibot import IBOT, VITS

        return IBOT(image_size=cfg.image_size, **VITS[cfg.vit])

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        (x1, x2), _, _ = batch
        out = self.forward_module(x1, x2)
        return {"loss": out["total"], "cls": out["cls"], "mim": out["mim"]}
