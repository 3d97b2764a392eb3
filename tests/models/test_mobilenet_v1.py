import pytest
import torch
from torch import nn

from fgkd.models.mobilenet_v1 import MobileNetV1


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("width, millions", [(1.0, 4.2), (0.75, 2.6), (0.5, 1.3), (0.25, 0.47)])
def test_param_counts_match_howard_et_al_table_6(width, millions):
    assert n_params(MobileNetV1(num_classes=1000, width_mult=width)) / 1e6 == pytest.approx(millions, abs=0.05)


def test_depthwise_separable_structure():
    model = MobileNetV1(num_classes=10)
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 13 and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_features_only_and_small_input():
    model = MobileNetV1(num_classes=0, width_mult=0.5, small_input=True).eval()
    assert model.feature_dim == 512
    x = torch.randn(1, 3, 32, 32)
    assert model(x).shape == (1, 512)
    assert model.features(x).shape[-1] == 2  # total stride 16 instead of 32


def test_invalid_width():
    with pytest.raises(ValueError, match="width_mult"):
        MobileNetV1(width_mult=0.0)
