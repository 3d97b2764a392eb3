import pytest
import torch
from torch import nn

from fgkd.losses import nt_xent
from fgkd.models import SimCLR


def test_simclr_projects_two_views_and_trains():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = SimCLR(backbone, feature_dim=8, dim=4)
    x1, x2 = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    z1, z2 = model(x1, x2)
    assert z1.shape == z2.shape == (5, 4)
    assert torch.allclose(z1, model.head(model.backbone(x1)), atol=1e-6)
    assert model.encode(x1).shape == (5, 8)
    nt_xent(z1, z2, 0.5).backward()
    assert backbone[0].weight.grad is not None


def test_simclr_named_backbone_and_validation():
    model = SimCLR("resnet18", small_input=True)
    assert model.encode(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError, match="dim"):
        SimCLR("resnet18", dim=0)
