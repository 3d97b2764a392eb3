"""MaKD's classifier: one linear head with D = C + Q outputs (MaKD eq. 2).

Outputs ``1..C`` are the class logits, ``C+1..D`` the aspect logits, one per multi-aspect question;
``fgkd.losses.makd_loss`` trains them with CE and BCE. With ``num_aspects=0`` it is the plain
cross-entropy baseline ("Base" in MaKD Tables 1-2), so both share one code path.
"""

from __future__ import annotations

import torch
from torch import nn

from fgkd.models.backbones import get_backbone


class AspectClassifier(nn.Module):
    """Backbone + ``Linear(feature_dim, C + Q)``.

    Args:
        backbone_name: a name from ``fgkd.models.list_backbones()``.
        num_classes: C.
        num_aspects: Q (0 = the cross-entropy baseline).
        pretrained, small_input: passed to ``get_backbone``.
        dropout: dropout before the head (0; torchvision's EfficientNet-B0 classifier uses 0.2).
    """

    def __init__(self, backbone_name: str, num_classes: int, num_aspects: int = 0, *, pretrained: bool = False,
                 small_input: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if num_aspects < 0:
            raise ValueError(f"num_aspects must be >= 0, got {num_aspects}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.backbone, self.feature_dim = get_backbone(backbone_name, pretrained=pretrained, small_input=small_input)
        self.num_classes = num_classes
        self.num_aspects = num_aspects
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(self.feature_dim, num_classes + num_aspects)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``[N, feature_dim]``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All logits ``[N, C + Q]``: class logits first, then aspect logits."""
        return self.head(self.dropout(self.backbone(x)))

    def class_logits(self, out: torch.Tensor) -> torch.Tensor:
        """The C class logits ``[N, C]`` of an output ``[N, C + Q]``."""
        return out[:, : self.num_classes]

    def aspect_logits(self, out: torch.Tensor) -> torch.Tensor:
        """The Q aspect logits ``[N, Q]`` of an output ``[N, C + Q]``."""
        return out[:, self.num_classes:]
