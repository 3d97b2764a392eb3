"""Image backbones that return pooled features ``[N, feature_dim]`` (classifier head removed).

``get_backbone(name, pretrained=False, small_input=False) -> (module, feature_dim)`` builds one from a
registry; ``register_backbone`` adds more. Built in: resnet18/34/50 and efficientnet_b0 from
torchvision, and mobilenet_v1 (fgkd's own, torchvision has none).

``small_input=True`` adapts the stem to the embedded world's 32-64 px images by removing its early
down-sampling (CIFAR style), for every family:

- ResNet: ``conv1`` becomes a 3x3 stride-1 convolution and the max-pool is dropped (total stride
  8 instead of 32). With ``pretrained=True`` every weight is loaded except this new ``conv1``, which
  keeps its fresh initialisation (a 7x7 ImageNet kernel has no 3x3 counterpart).
- EfficientNet-B0 and MobileNet V1: the first convolution gets stride 1 (total stride 16);
  pretrained weights still fit and are all kept.

``pretrained=True`` reads torchvision's ImageNet weights from the local torch hub cache only
(``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``). fgkd never downloads:
a missing file raises one ``FileNotFoundError`` naming the URL and the place to put it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from fgkd.models.mobilenet_v1 import MobileNetV1

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

BackboneBuilder = Callable[[bool, bool], tuple[nn.Module, int]]
"""``builder(pretrained, small_input) -> (module returning [N, feature_dim], feature_dim)``."""


_REGISTRY: dict[str, BackboneBuilder] = {}


def register_backbone(
    name: str, builder: BackboneBuilder | None = None, *, overwrite: bool = False
) -> BackboneBuilder | Callable[[BackboneBuilder], BackboneBuilder]:
    """Register ``builder(pretrained, small_input) -> (module, feature_dim)`` under ``name``.

    Use directly (``register_backbone("mine", build_mine)``) or as a decorator
    (``@register_backbone("mine")``). Re-registering a name needs ``overwrite=True``.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"backbone name must be a non-empty string, got {name!r}")

    def _register(fn: BackboneBuilder) -> BackboneBuilder:
        if name in _REGISTRY and not overwrite:
            raise ValueError(f"backbone {name!r} is already registered; pass overwrite=True to replace it")
        _REGISTRY[name] = fn
        return fn

    return _register(builder) if builder is not None else _register


def list_backbones() -> list[str]:
    """Names accepted by ``get_backbone``, sorted."""
    return sorted(_REGISTRY)


def get_backbone(name: str, pretrained: bool | str | os.PathLike = False,
                 small_input: bool = False) -> tuple[nn.Module, int]:
    """Build backbone ``name``; returns ``(module, feature_dim)``, ``module(x) -> [N, feature_dim]``.

    ``pretrained``: True loads torchvision's ImageNet weights from the hub cache; a path loads a
    file of this backbone's own weights (a state dict, or ``{"state_dict": ...}`` as the embedded
    ImageNet saves it: :mod:`fgkd.models.embedded_imagenet`), every key required.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; choose one of {list_backbones()} or register it "
                         "with fgkd.models.register_backbone")
    weights_file = None if isinstance(pretrained, bool) else Path(pretrained)
    built = _REGISTRY[name](pretrained if weights_file is None else False, small_input)
    if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], nn.Module)
            and isinstance(built[1], int)):
        raise TypeError(f"the builder registered as {name!r} must return (nn.Module, feature_dim: int), "
                        f"got {type(built).__name__}")
    if weights_file is not None:
        load_weights_file(built[0], weights_file, name)
    return built


def load_weights_file(model: nn.Module, path: Path, name: str) -> None:
    """Load a backbone's own weights file (checked against its stored checksum), all keys."""
    from fgkd.io import checked_torch_load

    fix = f"delete {path} (the embedded ImageNet pre-trains it again on first use) or pass the right file"
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file {path} does not exist. Fix: {fix}")
    saved = checked_torch_load(path, fix=fix, map_location="cpu", weights_only=True)
    state = saved.get("state_dict", saved) if isinstance(saved, dict) else saved
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise RuntimeError(f"{path} does not hold weights of backbone {name!r}: {str(exc)[:300]}. Fix: {fix}") from exc


# --- pretrained weights from the local torch hub cache --------------------------------------------

def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torch hub keeps ``weights``: ``torch.hub.get_dir()/checkpoints/<file name of the URL>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def load_cached_weights(model: nn.Module, weights: WeightsEnum) -> None:
    """Load torchvision ``weights`` into ``model`` from the hub cache; never downloads."""
    path = cached_weights_path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights not found at {path}. fgkd never downloads weights: download "
            f"{weights.url} and save it as {path} (the folder is torch.hub.get_dir()/checkpoints; "
            f"set TORCH_HOME to use another cache), or use pretrained=False."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated download or a file for another architecture
        raise RuntimeError(f"could not load pretrained weights from {path}: {exc}. Delete the file and "
                           f"download {weights.url} again.") from exc


# --- built-in families (torchvision is imported on first build: it is slow to import) ------------

def _resnet(arch: str, dim: int) -> BackboneBuilder:
    def build(pretrained: bool, small_input: bool) -> tuple[nn.Module, int]:
        import torchvision

        model = getattr(torchvision.models, arch)(weights=None)
        if pretrained:
            load_cached_weights(model, imagenet_weights(arch))
        if small_input:
            model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
            model.maxpool = nn.Identity()
        model.fc = nn.Identity()  # [N, dim] pooled features
        return model, dim

    return build


def _efficientnet_b0(pretrained: bool, small_input: bool) -> tuple[nn.Module, int]:
    import torchvision

    model = torchvision.models.efficientnet_b0(weights=None)
    if pretrained:
        load_cached_weights(model, imagenet_weights("efficientnet_b0"))
    if small_input:
        model.features[0][0].stride = (1, 1)
    model.classifier = nn.Identity()  # drops torchvision's Dropout(0.2) + Linear
    return model, 1280


def _mobilenet_v1(pretrained: bool, small_input: bool) -> tuple[nn.Module, int]:
    if pretrained:
        raise ValueError("mobilenet_v1 has no torchvision ImageNet weights; use pretrained=False, or "
                         "register a backbone that loads your own (fgkd.models.register_backbone)")
    model = MobileNetV1(num_classes=0, width_mult=1.0, small_input=small_input)
    return model, model.feature_dim


# torchvision's ImageNet weights of each built-in backbone that has them. V1 for ResNet-50: the
# classic 76.1 % model that MoCo/LEAD-era work starts from.
IMAGENET_WEIGHTS = {"resnet18": "ResNet18_Weights.IMAGENET1K_V1", "resnet34": "ResNet34_Weights.IMAGENET1K_V1",
                    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
                    "efficientnet_b0": "EfficientNet_B0_Weights.IMAGENET1K_V1"}


def imagenet_weights(name: str) -> WeightsEnum:
    """torchvision's ImageNet weights entry of backbone ``name`` (:data:`IMAGENET_WEIGHTS`)."""
    import torchvision

    enum_name, member = IMAGENET_WEIGHTS[name].split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


def imagenet_weights_problem(name: str) -> str | None:
    """Why ``pretrained=True`` would fail for backbone ``name`` before any training: no torchvision
    weights exist for it, or their file is not in the hub cache (the message names it); else None."""
    if name not in IMAGENET_WEIGHTS:
        # a backbone registered by the user loads its own weights; mobilenet_v1 has none to load
        return ("backbone 'mobilenet_v1' has no torchvision ImageNet weights. Fix: set pretrained to false"
                if name == "mobilenet_v1" else None)
    weights = imagenet_weights(name)
    path = cached_weights_path(weights)
    if path.is_file():
        return None
    return (f"the ImageNet weights of {name} are not at {path} (fgkd never downloads weights). Fix: download "
            f"{weights.url} and save it as {path} (TORCH_HOME moves the cache), or set pretrained to false")


register_backbone("resnet18", _resnet("resnet18", 512))
register_backbone("resnet34", _resnet("resnet34", 512))
register_backbone("resnet50", _resnet("resnet50", 2048))
register_backbone("efficientnet_b0", _efficientnet_b0)
register_backbone("mobilenet_v1", _mobilenet_v1)
