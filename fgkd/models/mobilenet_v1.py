"""MobileNet V1 (Howard et al. 2017, https://arxiv.org/abs/1704.04861).

torchvision ships MobileNet V2/V3 only; MaKD's "MobileNet-V1" student is this network. It follows
Table 1 of the paper: a full 3x3 convolution, then 13 depthwise-separable blocks (3x3 depthwise conv
-> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU), global average pooling and one linear layer.
At width multiplier 1.0 and 1000 classes it has 4.23M parameters (the paper's 4.2M).
"""

from __future__ import annotations

import torch
from torch import nn

# (output channels, stride) of the 13 depthwise-separable blocks, Table 1 of the paper.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
STEM_CHANNELS = 32


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def scaled(channels: int, width_mult: float) -> int:
    """Channels under the width multiplier alpha (the paper's alpha * M, at least 1)."""
    return max(1, int(round(channels * width_mult)))


class DepthwiseSeparable(nn.Sequential):
    """3x3 depthwise conv (one filter per input channel) then a 1x1 pointwise conv, each BN+ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(
            _conv_bn_relu(cin, cin, 3, stride, groups=cin),
            _conv_bn_relu(cin, cout, 1, 1),
        )


class MobileNetV1(nn.Module):
    """MobileNet V1.

    Args:
        num_classes: outputs of the final linear layer; 0 replaces it with ``nn.Identity`` so the
            network returns pooled features ``[N, feature_dim]``.
        width_mult: the width multiplier alpha in (0, 1] of the paper (1.0, 0.75, 0.5, 0.25).
        small_input: stride 1 instead of 2 in the first convolution, for 32-64 px images
            (total down-sampling 16 instead of 32).
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, small_input: bool = False) -> None:
        super().__init__()
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = no classifier), got {num_classes}")
        if not 0.0 < width_mult <= 4.0:
            raise ValueError(f"width_mult must be in (0, 4], got {width_mult}")
        cin = scaled(STEM_CHANNELS, width_mult)
        layers: list[nn.Module] = [_conv_bn_relu(3, cin, 3, 1 if small_input else 2)]
        for cout, stride in BLOCKS:
            cout = scaled(cout, width_mult)
            layers.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = cin
        self.fc: nn.Module = nn.Linear(cin, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # [N, feature_dim, H/32, W/32] (H/16 with small_input)
        x = torch.flatten(self.avgpool(x), 1)  # [N, feature_dim]
        return self.fc(x)  # [N, num_classes] or [N, feature_dim]
