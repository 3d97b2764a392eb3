"""Models: backbones, the MoCo v2 student (LEAD), SimCLR and iBOT-style baselines, MaKD's classifier."""

from fgkd.models.backbones import get_backbone, list_backbones, register_backbone
from fgkd.models.classifier import AspectClassifier
from fgkd.models.ibot import IBOT, TinyViT
from fgkd.models.mobilenet_v1 import MobileNetV1
from fgkd.models.moco import MoCo, MoCoOutput, momentum_update, projection_head
from fgkd.models.simclr import SimCLR

__all__ = [
    "AspectClassifier",
    "IBOT",
    "MoCo",
    "MoCoOutput",
    "MobileNetV1",
    "SimCLR",
    "TinyViT",
    "get_backbone",
    "list_backbones",
    "momentum_update",
    "projection_head",
    "register_backbone",
]
