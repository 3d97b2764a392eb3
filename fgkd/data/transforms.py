"""Image transforms of the two papers, scaled to any image size (torchvision.transforms v1).

- :func:`moco_v2_augmentation`: MoCo v2 "aug-plus" (Chen et al., 2020), LEAD's student views.
- :func:`simclr_augmentation`: SimCLR's augmentation (Chen et al., 2020).
- :func:`classifier_train_transform`: resize, random crop and flip for MaKD's supervised training;
  :func:`authors_train_transform` / :func:`authors_test_transform`: the MaKD authors' instead
  (RandomResizedCrop + flip; shorter side to the size, centre crop).
- :func:`test_transform`: LEAD's test protocol, resize 256 then centre crop 224, scaled: resize to
  ``round(image_size * 256 / 224)`` then centre crop ``image_size``.
- :class:`TwoCrops`: two independent views of one image, ``(x_q, x_k)``.

All end with ``ToTensor`` and ImageNet mean/std normalisation, giving ``float32 [3, S, S]``.
"""

from __future__ import annotations

from typing import Any, Callable

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REFERENCE_SIZE = 224  # the image size the papers' hyper-parameters are given for
BLUR_SIGMA = (0.1, 2.0)  # MoCo v2 / SimCLR blur sigma range in pixels at 224 px


def _check_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8 (pixels), got {image_size!r}")


def normalize() -> T.Normalize:
    """ImageNet mean/std normalisation (what the torchvision and CLIP-era backbones expect)."""
    return T.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def resize_size(image_size: int) -> int:
    """The pre-crop size for ``image_size``: ``round(image_size * 256 / 224)`` (256 at 224)."""
    _check_size(image_size)
    return round(image_size * 256 / REFERENCE_SIZE)


def gaussian_blur(image_size: int) -> T.GaussianBlur:
    """SimCLR's blur scaled to the image: kernel ~10 % of ``image_size`` (odd, >= 3) and
    sigma drawn from ``(0.1, 2.0) * image_size / 224``; at 224 px this is kernel 23, sigma 0.1-2.

    Scaling sigma with the image keeps the blur the same relative to the object, so a 64 px world
    image is not blurred 3.5x harder than a 224 px photo.
    """
    _check_size(image_size)
    kernel = max(3, int(0.1 * image_size) // 2 * 2 + 1)
    scale = image_size / REFERENCE_SIZE
    return T.GaussianBlur(kernel, sigma=(BLUR_SIGMA[0] * scale, BLUR_SIGMA[1] * scale))


def moco_v2_augmentation(image_size: int = 224) -> T.Compose:
    """MoCo v2 "aug-plus": RandomResizedCrop (scale 0.2-1), ColorJitter(0.4, 0.4, 0.4, 0.1) with
    p=0.8, RandomGrayscale p=0.2, Gaussian blur p=0.5, horizontal flip, ToTensor, Normalize."""
    _check_size(image_size)
    return T.Compose([
        T.RandomResizedCrop(image_size, scale=(0.2, 1.0)),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([gaussian_blur(image_size)], p=0.5),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        normalize(),
    ])


def simclr_augmentation(image_size: int = 224, strength: float = 1.0) -> T.Compose:
    """SimCLR: RandomResizedCrop (scale 0.08-1), flip, ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) with
    p=0.8, RandomGrayscale p=0.2, Gaussian blur p=0.5, ToTensor, Normalize (s = ``strength``)."""
    _check_size(image_size)
    if not 0.0 < strength <= 1.25:
        raise ValueError(f"strength must be in (0, 1.25] (hue jitter 0.2*s must stay <= 0.25), got {strength!r}")
    s = strength
    return T.Compose([
        T.RandomResizedCrop(image_size, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([gaussian_blur(image_size)], p=0.5),
        T.ToTensor(),
        normalize(),
    ])


def _resize(image_size: int, keep_aspect: bool) -> T.Resize:
    # The LEAD paper resizes "to 256x256" (square); keep_aspect resizes the shorter side instead.
    size = resize_size(image_size)
    return T.Resize(size if keep_aspect else (size, size))


def classifier_train_transform(image_size: int = 224, keep_aspect: bool = False) -> T.Compose:
    """Supervised training (MaKD): resize to ``resize_size(image_size)``, random crop
    ``image_size``, horizontal flip, ToTensor, Normalize."""
    return T.Compose([
        _resize(image_size, keep_aspect),
        T.RandomCrop(image_size),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        normalize(),
    ])


def test_transform(image_size: int = 224, keep_aspect: bool = False) -> T.Compose:
    """Evaluation: resize to ``round(image_size * 256 / 224)`` (256x256 at 224, as in LEAD), centre
    crop ``image_size``, ToTensor, Normalize. ``keep_aspect=True`` resizes the shorter side."""
    return T.Compose([
        _resize(image_size, keep_aspect),
        T.CenterCrop(image_size),
        T.ToTensor(),
        normalize(),
    ])


def authors_train_transform(image_size: int = 224) -> T.Compose:
    """The MaKD authors' training transform (their ``tools/our_train.py``): RandomResizedCrop
    ``image_size`` (torchvision's default scale 0.08-1 and ratio 3/4-4/3), horizontal flip,
    ToTensor, Normalize."""
    _check_size(image_size)
    return T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), normalize()])


def authors_test_transform(image_size: int = 224) -> T.Compose:
    """The MaKD authors' test transform: resize the shorter side to ``image_size`` (no 256/224
    margin), centre crop ``image_size``, ToTensor, Normalize."""
    _check_size(image_size)
    return T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(), normalize()])


CLASSIFIER_TRANSFORMS = ("fgkd", "authors")  # MakdConfig.transforms


def classifier_transforms(kind: str, image_size: int) -> tuple[T.Compose, T.Compose]:
    """``(train, test)`` transforms of a supervised classifier: ``"fgkd"`` (square resize to
    ``resize_size``, random crop, flip / square resize, centre crop) or ``"authors"`` (MaKD's code)."""
    if kind == "authors":
        return authors_train_transform(image_size), authors_test_transform(image_size)
    if kind == "fgkd":
        return classifier_train_transform(image_size), test_transform(image_size)
    raise ValueError(f"unknown classifier transforms {kind!r}; choose one of {CLASSIFIER_TRANSFORMS}")


# The name starts with "test": tell pytest it is not a test where a test module imports it.
test_transform.__test__ = False


class TwoCrops:
    """Two independent draws of ``transform`` on one image: the query and key views of MoCo.

    ``TwoCrops(moco_v2_augmentation(224))(image)`` -> ``(x_q, x_k)``, each ``[3, 224, 224]``; a
    DataLoader batches them into ``[x_q [B,3,S,S], x_k [B,3,S,S]]``.
    """

    def __init__(self, transform: Callable[[Any], Any]):
        if not callable(transform):
            raise ValueError(f"TwoCrops needs a callable transform, got {transform!r}")
        self.transform = transform

    def __call__(self, image: Any) -> tuple[Any, Any]:
        return self.transform(image), self.transform(image)

    def __repr__(self) -> str:
        return f"TwoCrops({self.transform!r})"
