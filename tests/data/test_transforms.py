import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from fgkd.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TwoCrops,
    classifier_train_transform,
    gaussian_blur,
    moco_v2_augmentation,
    resize_size,
    simclr_augmentation,
    test_transform,
)


def photo(width=300, height=200, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "make", [moco_v2_augmentation, simclr_augmentation, classifier_train_transform, test_transform])
@pytest.mark.parametrize("size", [32, 224])
def test_output_shape_and_dtype(make, size):
    torch.manual_seed(0)
    out = make(size)(photo())
    assert out.shape == (3, size, size) and out.dtype == torch.float32


def test_resize_then_centre_crop_is_the_paper_protocol_scaled():
    assert resize_size(224) == 256 and resize_size(64) == 73 and resize_size(32) == 37
    steps = test_transform(224).transforms
    assert isinstance(steps[0], T.Resize) and tuple(steps[0].size) == (256, 256)
    assert isinstance(steps[1], T.CenterCrop) and tuple(steps[1].size) == (224, 224)
    assert test_transform(224, keep_aspect=True).transforms[0].size == 256


def test_test_transform_is_deterministic_and_centred():
    image = photo(64, 64)
    a, b = test_transform(32)(image), test_transform(32)(image)
    assert torch.equal(a, b)
    # a constant image normalises to (v - mean) / std per channel
    grey = Image.new("RGB", (40, 40), (128, 128, 128))
    out = test_transform(32)(grey)
    expected = (128 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out.mean(dim=(1, 2)), expected, atol=1e-5)


def test_moco_v2_aug_plus_recipe():
    steps = moco_v2_augmentation(224).transforms
    crop, jitter, grey, blur, flip = steps[:5]
    assert isinstance(crop, T.RandomResizedCrop) and crop.scale == (0.2, 1.0)
    assert jitter.p == 0.8 and isinstance(jitter.transforms[0], T.ColorJitter)
    assert jitter.transforms[0].hue == (-0.1, 0.1) and jitter.transforms[0].brightness == (0.6, 1.4)
    assert isinstance(grey, T.RandomGrayscale) and grey.p == 0.2
    assert blur.p == 0.5 and isinstance(blur.transforms[0], T.GaussianBlur)
    assert isinstance(flip, T.RandomHorizontalFlip)
    assert isinstance(steps[-1], T.Normalize) and tuple(steps[-1].mean) == IMAGENET_MEAN


def test_blur_kernel_and_sigma_scale_with_the_image():
    full, small = gaussian_blur(224), gaussian_blur(64)
    assert full.kernel_size == (23, 23) and full.sigma == pytest.approx((0.1, 2.0))
    assert small.kernel_size == (7, 7) and small.sigma == pytest.approx((0.1 * 64 / 224, 2.0 * 64 / 224))
    assert gaussian_blur(16).kernel_size == (3, 3)  # never below 3


def test_augmentations_are_random_but_seeded():
    image = photo()
    aug = moco_v2_augmentation(32)
    torch.manual_seed(1)
    a = aug(image)
    torch.manual_seed(1)
    assert torch.equal(a, aug(image))
    assert not torch.equal(a, aug(image))


def test_two_crops_gives_two_different_views():
    torch.manual_seed(0)
    q, k = TwoCrops(moco_v2_augmentation(32))(photo())
    assert q.shape == k.shape == (3, 32, 32)
    assert not torch.equal(q, k)
    batch = torch.utils.data.default_collate([TwoCrops(test_transform(32))(photo()) for _ in range(4)])
    assert len(batch) == 2 and batch[0].shape == (4, 3, 32, 32)


@pytest.mark.parametrize("bad", [0, 4, 32.0, True, "224"])
def test_bad_image_size_is_rejected(bad):
    with pytest.raises(ValueError, match="image_size"):
        moco_v2_augmentation(bad)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="strength"):
        simclr_augmentation(32, strength=2.0)
    with pytest.raises(ValueError, match="callable"):
        TwoCrops(None)


def test_the_makd_authors_transforms_by_their_torchvision_types_and_parameters():
    from torchvision import transforms as T

    from fgkd.data.transforms import classifier_transforms

    train, test = classifier_transforms("authors", 224)
    crop, flip = train.transforms[0], train.transforms[1]
    assert isinstance(crop, T.RandomResizedCrop) and crop.size == (224, 224)
    assert crop.scale == (0.08, 1.0) and crop.ratio == pytest.approx((3 / 4, 4 / 3))  # torchvision's defaults
    assert isinstance(flip, T.RandomHorizontalFlip) and flip.p == 0.5
    resize, centre = test.transforms[0], test.transforms[1]
    assert isinstance(resize, T.Resize) and resize.size == 224  # an int: the shorter side, aspect kept
    assert isinstance(centre, T.CenterCrop) and centre.size == (224, 224)
    fgkd_train, fgkd_test = classifier_transforms("fgkd", 224)
    assert fgkd_train.transforms[0].size == (256, 256) and isinstance(fgkd_train.transforms[1], T.RandomCrop)
    assert fgkd_test.transforms[0].size == (256, 256)
    with pytest.raises(ValueError, match="choose one of"):
        classifier_transforms("timm", 224)
