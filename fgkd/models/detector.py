"""Faster R-CNN with FPN and MaKD's aspect head (MaKD section 4.4, Table 7).

"We add features to the backbone network of Faster R-CNN-FPN and apply a multi-aspect logit
loss": :class:`AspectDetector` runs torchvision's Faster R-CNN step by step (transform, backbone
with FPN, RPN, RoI heads, as ``GeneralizedRCNN.forward`` does) and adds one linear head on the
pooled FPN features of the whole image, with Q aspect logits. ``Q = 0`` is the plain detector.

Detectors (:data:`DETECTORS`):

- ``resnet50_fpn``: torchvision's ``fasterrcnn_resnet50_fpn``, the paper's (ImageNet backbone
  weights with ``pretrained``: ``resnet50-0676ba61.pth`` in torch's hub cache, never downloaded).
- ``resnet18_fpn``: a ResNet18 with an FPN on its last three stages and a light box head (64 FPN
  channels, a 128-wide two-layer head, fewer proposals): the embedded scale's CPU detector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

DETECTORS = ("resnet50_fpn", "resnet18_fpn")


def _imagenet_resnet(arch: str, pretrained: bool, frozen_bn: bool) -> nn.Module:
    """A torchvision ResNet, with its ImageNet weights from torch's hub cache when ``pretrained``
    (``fgkd.models.backbones.load_cached_weights``: never downloaded; a clear error names the file)."""
    import torchvision
    from torchvision.ops import FrozenBatchNorm2d

    from fgkd.models.backbones import imagenet_weights, load_cached_weights

    norm = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
    body = getattr(torchvision.models, arch)(weights=None, norm_layer=norm)
    if pretrained:
        load_cached_weights(body, imagenet_weights(arch))
    return body


def _resnet18_fpn(num_classes: int, image_size: int, pretrained: bool) -> nn.Module:
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    body = _imagenet_resnet("resnet18", pretrained, frozen_bn=False)
    channels = 64
    backbone = BackboneWithFPN(body, {"layer2": "0", "layer3": "1", "layer4": "2"}, [128, 256, 512], channels)
    # anchors from a quarter to three quarters of the image side, on every level
    sides = tuple(int(image_size * f) for f in (0.25, 0.375, 0.5, 0.75))
    anchors = AnchorGenerator((sides,) * 4, ((0.5, 1.0, 2.0),) * 4)
    return FasterRCNN(backbone, num_classes=None, min_size=image_size, max_size=image_size,
                      rpn_anchor_generator=anchors, box_roi_pool=MultiScaleRoIAlign(["0", "1", "2"], 7, 1),
                      box_head=TwoMLPHead(channels * 7 * 7, 128), box_predictor=FastRCNNPredictor(128, num_classes),
                      rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=100,
                      rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64, box_batch_size_per_image=32,
                      box_detections_per_img=20)


def _resnet50_fpn(num_classes: int, image_size: int, pretrained: bool) -> nn.Module:
    """torchvision's ``fasterrcnn_resnet50_fpn`` as its builder makes it: with ImageNet weights the
    batch norms are frozen and the last 3 stages train; the shorter side is ``image_size`` (800 in
    torchvision's recipe) and the longer one at most 1333/800 of it."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor

    body = _imagenet_resnet("resnet50", pretrained, frozen_bn=pretrained)
    backbone = _resnet_fpn_extractor(body, 3 if pretrained else 5)
    return FasterRCNN(backbone, num_classes=num_classes, min_size=image_size,
                      max_size=max(image_size, round(image_size * 1333 / 800)))


def build_detector(name: str, num_classes: int, image_size: int, pretrained: bool) -> nn.Module:
    """A torchvision Faster R-CNN ``name`` with ``num_classes`` foreground classes (+ background)."""
    builders = {"resnet50_fpn": _resnet50_fpn, "resnet18_fpn": _resnet18_fpn}
    if name not in builders:
        raise ValueError(f"unknown detector {name!r}; choose one of {DETECTORS}")
    return builders[name](num_classes + 1, image_size, pretrained)


class AspectDetector(nn.Module):
    """A Faster R-CNN-FPN ``detector`` with an aspect head of ``num_aspects`` logits.

    ``forward(images, targets)`` returns ``(losses, detections, aspect_logits)``: the detector's
    loss dict (training) or its detections per image (eval), and ``[N, Q]`` aspect logits
    (None when ``Q = 0``) from ``Linear(concat_l avgpool(P_l))`` over the FPN levels.
    """

    def __init__(self, detector: nn.Module, num_aspects: int = 0) -> None:
        super().__init__()
        self.detector = detector
        self.num_aspects = num_aspects
        self.num_classes = detector.roi_heads.box_predictor.cls_score.out_features - 1
        channels = detector.backbone.out_channels
        with torch.no_grad():  # the number of FPN levels, from a tiny probe of the backbone
            was_training = detector.backbone.training
            levels = len(detector.backbone.eval()(torch.zeros(1, 3, 64, 64)))
            detector.backbone.train(was_training)
        self.aspect_head = nn.Linear(channels * levels, num_aspects) if num_aspects > 0 else None

    def forward(self, images: list[torch.Tensor], targets: list[dict[str, Any]] | None = None):
        d = self.detector
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        image_list, targets = d.transform(images, targets)
        features = d.backbone(image_list.tensors)
        proposals, rpn_losses = d.rpn(image_list, features, targets)
        detections, roi_losses = d.roi_heads(features, proposals, image_list.image_sizes, targets)
        detections = d.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        aspects = None
        if self.aspect_head is not None:
            pooled = torch.cat([f.mean(dim=(2, 3)) for f in features.values()], dim=1)  # [N, L * channels]
            aspects = self.aspect_head(pooled)
        return {**rpn_losses, **roi_losses}, detections, aspects
