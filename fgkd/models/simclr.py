"""SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709), the weak SSL baseline of LEAD Table 5.

A backbone f and a two-layer MLP projection g; the loss is ``fgkd.losses.nt_xent(z1, z2, temperature)``
on the projections of two augmented views of each image.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from fgkd.models.backbones import get_backbone


class SimCLR(nn.Module):
    """Backbone + projection ``Linear(F, hidden) - ReLU - Linear(hidden, dim)``.

    Args:
        backbone: a name for ``get_backbone`` or a module returning ``[N, feature_dim]``.
        feature_dim: required when ``backbone`` is a module.
        dim: projection output dimension (128 in the paper).
        hidden_dim: hidden width (default ``feature_dim``, as in the paper).
        pretrained, small_input: passed to ``get_backbone`` when ``backbone`` is a name.
    """

    def __init__(
        self,
        backbone: str | nn.Module,
        *,
        feature_dim: int | None = None,
        dim: int = 128,
        hidden_dim: int | None = None,
        pretrained: bool | str | os.PathLike = False,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(backbone, str):
            backbone, feature_dim = get_backbone(backbone, pretrained=pretrained, small_input=small_input)
        elif feature_dim is None:
            raise ValueError("feature_dim is required when backbone is a module")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.backbone = backbone
        self.feature_dim = int(feature_dim)
        hidden = hidden_dim or self.feature_dim
        self.head = nn.Sequential(nn.Linear(self.feature_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features for probing and retrieval: ``[N, 3, H, W] -> [N, feature_dim]``."""
        return self.backbone(x)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projections ``z1, z2`` [N, dim] (not normalised; ``nt_xent`` normalises) of two views."""
        z = self.head(self.backbone(torch.cat([x1, x2])))  # [2N, dim], one pass so BN sees both views
        return z[: x1.shape[0]], z[x1.shape[0]:]
