"""Batched view augmentation on uint8 tensors (``augment: "batched"`` of LEAD's family).

MoCo v2's and SimCLR's views are a RandomResizedCrop followed by colour jitter, grayscale, blur
and a flip. torchvision applies all of them per image, about ten Python-level calls per view; at
32 px the model's own step is so cheap that those calls were a quarter of a MoCo v2 run's time
(``benchmarks/data_pipeline.py``). Here only the crop stays per image, in the dataset (where image
sizes may differ), ending in a ``uint8 [3, S, S]`` tensor; the rest runs once per batch on
``[B, 3, S, S]`` with *per-image* random parameters, drawn from torch's global generator as
torchvision's transforms draw theirs (so a run is as deterministic as before: same seed, same
views). Each stage computes what torchvision's tensor op of the same name computes for that
image's parameters (the tests compare them image by image):

- ColorJitter with probability ``jitter_p``: brightness, contrast, saturation and hue factors drawn
  as torchvision draws them, applied in a random order per image, each clamped to [0, 1];
- RandomGrayscale with probability ``gray_p`` (ITU-R 601 luma, as ``rgb_to_grayscale``);
- Gaussian blur with probability ``blur_p``: sigma uniform in ``blur_sigma``, kernel ``blur_kernel``,
  reflect padding (``gaussian_blur``);
- a horizontal flip with probability 1/2; then ImageNet normalisation.

The flip commutes with the colour stages and the blur (its kernel is symmetric), so SimCLR's order
(flip before jitter) and MoCo v2's (flip last) give the same distribution of views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

from fgkd.data.transforms import IMAGENET_MEAN, IMAGENET_STD, TwoCrops, gaussian_blur


@dataclass(frozen=True)
class ViewRecipe:
    """One augmented view: crop scale range, jitter strengths (brightness, contrast, saturation,
    hue as ColorJitter takes them) and the stages' probabilities; blur kernel and sigma in pixels."""

    image_size: int
    crop_scale: tuple[float, float]
    jitter: tuple[float, float, float, float]
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.5
    blur_kernel: int = 0
    blur_sigma: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def moco_v2(cls, image_size: int) -> "ViewRecipe":
        """:func:`fgkd.data.transforms.moco_v2_augmentation`'s parameters."""
        return cls(image_size, (0.2, 1.0), (0.4, 0.4, 0.4, 0.1), **_blur(image_size))

    @classmethod
    def simclr(cls, image_size: int, strength: float = 1.0) -> "ViewRecipe":
        """:func:`fgkd.data.transforms.simclr_augmentation`'s parameters."""
        s = strength
        return cls(image_size, (0.08, 1.0), (0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), **_blur(image_size))

    def crop(self) -> T.Compose:
        """The per-image stage: RandomResizedCrop on the PIL image, then a ``uint8 [3, S, S]`` tensor."""
        return T.Compose([T.RandomResizedCrop(self.image_size, scale=self.crop_scale), T.PILToTensor()])


def _blur(image_size: int) -> dict[str, Any]:
    blur = gaussian_blur(image_size)  # one definition of the scaled kernel and sigma (it checks the size)
    return {"blur_kernel": int(blur.kernel_size[0]), "blur_sigma": (float(blur.sigma[0]), float(blur.sigma[1]))}


@dataclass
class ViewParams:
    """Per-image parameters of a batch of ``B`` views (what :func:`sample_params` draws)."""

    jitter: torch.Tensor  # [B] bool: colour jitter applied
    factors: torch.Tensor  # [B, 4] brightness, contrast, saturation, hue factors
    order: torch.Tensor  # [B, 4] the jitter stages' order (0 brightness, 1 contrast, 2 saturation, 3 hue)
    gray: torch.Tensor  # [B] bool
    blur: torch.Tensor  # [B] bool
    sigma: torch.Tensor  # [B] blur sigma
    flip: torch.Tensor  # [B] bool


def sample_params(batch: int, recipe: ViewRecipe) -> ViewParams:
    """Draw every image's parameters from torch's global generator: factors uniform in
    ``[max(0, 1 - s), 1 + s]`` (hue ``[-h, h]``), as ``ColorJitter`` draws them."""
    b, c, s, h = recipe.jitter
    low = torch.tensor([max(0.0, 1 - b), max(0.0, 1 - c), max(0.0, 1 - s), -h])
    high = torch.tensor([1 + b, 1 + c, 1 + s, h])
    return ViewParams(
        jitter=torch.rand(batch) < recipe.jitter_p,
        factors=low + (high - low) * torch.rand(batch, 4),
        order=torch.argsort(torch.rand(batch, 4), dim=1),
        gray=torch.rand(batch) < recipe.gray_p,
        blur=torch.rand(batch) < recipe.blur_p,
        sigma=recipe.blur_sigma[0] + (recipe.blur_sigma[1] - recipe.blur_sigma[0]) * torch.rand(batch),
        flip=torch.rand(batch) < 0.5,
    )


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    return (ratio * x + (1 - ratio) * other).clamp_(0, 1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(-3)
    maxc, _ = x.max(-3)
    minc, _ = x.min(-3)
    delta = maxc - minc
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    d = torch.where(delta == 0, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    hue = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((hue, s, maxc), dim=-3)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(-3)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p = (v * (1.0 - s)).clamp(0, 1)
    q = (v * (1.0 - s * f)).clamp(0, 1)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
    table = torch.stack((torch.stack((v, q, p, p, t, v), -3), torch.stack((t, v, v, q, p, p), -3),
                         torch.stack((p, p, t, v, v, q), -3)), -4)  # [B, 3, 6, H, W]
    return table.gather(-3, i.unsqueeze(-3).unsqueeze(-4).expand(*table.shape[:-3], 1, *table.shape[-2:])).squeeze(-3)


def _adjust(x: torch.Tensor, stage: int, factor: torch.Tensor) -> torch.Tensor:
    """One jitter stage on ``x [n, 3, H, W]`` in [0, 1] with per-image ``factor [n]``, as
    torchvision's adjust_brightness / _contrast / _saturation / _hue."""
    f = factor.view(-1, 1, 1, 1)
    if stage == 0:
        return _blend(x, torch.zeros_like(x), f)
    if stage == 1:
        mean = TF.rgb_to_grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
        return _blend(x, mean, f)
    if stage == 2:
        return _blend(x, TF.rgb_to_grayscale(x), f)
    hsv = _rgb_to_hsv(x)
    hue = torch.remainder(hsv[:, 0] + factor.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(torch.stack((hue, hsv[:, 1], hsv[:, 2]), dim=1))


def _gaussian_blur(x: torch.Tensor, kernel: int, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with per-image ``sigma [n]``, reflect padding (``TF.gaussian_blur``)."""
    n, c, height, width = x.shape
    half = (kernel - 1) * 0.5
    grid = torch.linspace(-half, half, kernel)
    k = torch.exp(-0.5 * (grid / sigma.view(-1, 1)).pow(2))
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # [n*c, kernel]
    pad = kernel // 2
    y = F.pad(x.reshape(1, n * c, height, width), [pad, pad, pad, pad], mode="reflect")
    y = F.conv2d(y, k.view(n * c, 1, 1, kernel), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, kernel, 1), groups=n * c)
    return y.view(n, c, height, width)


def apply_views(views: torch.Tensor, params: ViewParams, recipe: ViewRecipe) -> torch.Tensor:
    """``uint8 [B, 3, S, S]`` crops -> normalised ``float32 [B, 3, S, S]`` views under ``params``."""
    if views.dtype != torch.uint8 or views.dim() != 4 or views.shape[1] != 3:
        raise ValueError(f"apply_views needs uint8 [B, 3, S, S] crops, got {views.dtype} {tuple(views.shape)}")
    x = views.float().div_(255)
    for position in range(4):  # each image runs its own order of the four jitter stages
        for stage in range(4):
            rows = torch.nonzero(params.jitter & (params.order[:, position] == stage)).flatten()
            if len(rows):
                x[rows] = _adjust(x[rows], stage, params.factors[rows, stage])
    rows = torch.nonzero(params.gray).flatten()
    if len(rows):
        x[rows] = TF.rgb_to_grayscale(x[rows], num_output_channels=3)
    rows = torch.nonzero(params.blur).flatten()
    if len(rows) and recipe.blur_kernel > 1:
        x[rows] = _gaussian_blur(x[rows], recipe.blur_kernel, params.sigma[rows])
    x = torch.where(params.flip.view(-1, 1, 1, 1), x.flip(-1), x)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


class TwoViewCollate:
    """``collate_fn`` of a two-view loader whose samples are ``((crop_q, crop_k), target, index)``
    with uint8 crops: stacks them and augments each view batch with fresh per-image parameters."""

    def __init__(self, recipe: ViewRecipe) -> None:
        self.recipe = recipe

    def __call__(self, samples: Sequence[Any]) -> list[Any]:
        (crops_q, crops_k), targets, index = default_collate(samples)
        views = [apply_views(c, sample_params(len(c), self.recipe), self.recipe) for c in (crops_q, crops_k)]
        return [views, targets, index]

    def __repr__(self) -> str:
        return f"TwoViewCollate({self.recipe!r})"


def two_view_pipeline(recipe: ViewRecipe) -> tuple[Callable[[Any], Any], TwoViewCollate]:
    """``(per-image transform, collate_fn)`` of the batched pipeline: two independent crops of each
    image in the dataset, the rest of both views per batch."""
    return TwoCrops(recipe.crop()), TwoViewCollate(recipe)


__all__ = ["TwoViewCollate", "ViewParams", "ViewRecipe",
           "apply_views", "sample_params", "two_view_pipeline"]
