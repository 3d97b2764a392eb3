import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

from fgkd.data.batch_augment import TwoViewCollate, ViewParams, ViewRecipe, apply_views, sample_params
from fgkd.data.transforms import IMAGENET_MEAN, IMAGENET_STD, moco_v2_augmentation, simclr_augmentation


def crops(n=6, size=32, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def per_image_reference(view: torch.Tensor, p: ViewParams, i: int, recipe: ViewRecipe) -> torch.Tensor:
    """What torchvision's tensor ops give for image ``i`` under the same parameters."""
    x = view.float() / 255
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    if p.jitter[i]:
        for stage in p.order[i].tolist():
            x = ops[stage](x, float(p.factors[i, stage]))
    if p.gray[i]:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if p.blur[i]:
        x = TF.gaussian_blur(x, [recipe.blur_kernel] * 2, [float(p.sigma[i])] * 2)
    if p.flip[i]:
        x = TF.horizontal_flip(x)
    return TF.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))


@pytest.mark.parametrize("recipe", [ViewRecipe.moco_v2(32), ViewRecipe.simclr(32), ViewRecipe.moco_v2(64)])
def test_each_image_gets_what_torchvisions_ops_give_for_its_parameters(recipe):
    torch.manual_seed(3)
    views = crops(n=24, size=recipe.image_size)
    params = sample_params(len(views), recipe)
    # every stage is exercised on some images and skipped on others
    for flag in (params.jitter, params.gray, params.blur, params.flip):
        assert 0 < int(flag.sum()) < len(views)
    got = apply_views(views, params, recipe)
    want = torch.stack([per_image_reference(views[i], params, i, recipe) for i in range(len(views))])
    assert got.dtype == torch.float32 and got.shape == (24, 3, recipe.image_size, recipe.image_size)
    assert torch.allclose(got, want, atol=2e-5)


def test_the_recipes_are_the_per_image_pipelines_parameters():
    """One recipe, two pipelines: the batched view recipe reads the PIL pipeline's numbers."""
    for recipe, compose in ((ViewRecipe.moco_v2(32), moco_v2_augmentation(32)),
                            (ViewRecipe.simclr(32), simclr_augmentation(32))):
        steps = {type(t).__name__: t for t in compose.transforms}
        crop = steps["RandomResizedCrop"]
        assert tuple(crop.scale) == recipe.crop_scale
        jitter_apply = next(t for t in compose.transforms if isinstance(t, T.RandomApply)
                            and isinstance(t.transforms[0], T.ColorJitter))
        jitter = jitter_apply.transforms[0]
        assert jitter_apply.p == recipe.jitter_p
        assert (jitter.brightness[1] - 1, jitter.contrast[1] - 1, jitter.saturation[1] - 1,
                jitter.hue[1]) == pytest.approx(recipe.jitter)
        assert steps["RandomGrayscale"].p == recipe.gray_p
        blur_apply = next(t for t in compose.transforms if isinstance(t, T.RandomApply)
                          and isinstance(t.transforms[0], T.GaussianBlur))
        assert blur_apply.p == recipe.blur_p
        assert blur_apply.transforms[0].kernel_size[0] == recipe.blur_kernel
        assert tuple(blur_apply.transforms[0].sigma) == pytest.approx(recipe.blur_sigma)


def test_parameters_follow_the_recipes_probabilities_and_ranges():
    torch.manual_seed(0)
    recipe = ViewRecipe.moco_v2(32)
    p = sample_params(20000, recipe)
    assert float(p.jitter.float().mean()) == pytest.approx(0.8, abs=0.015)
    assert float(p.gray.float().mean()) == pytest.approx(0.2, abs=0.015)
    assert float(p.blur.float().mean()) == pytest.approx(0.5, abs=0.015)
    assert float(p.flip.float().mean()) == pytest.approx(0.5, abs=0.015)
    assert p.factors[:, :3].min() >= 0.6 and p.factors[:, :3].max() <= 1.4
    assert p.factors[:, 3].abs().max() <= 0.1
    assert torch.equal(p.order.sort(dim=1).values, torch.arange(4).expand(20000, 4))
    # each of the 24 orders is drawn
    assert len({tuple(o) for o in p.order.tolist()}) == 24


def test_batched_views_match_the_per_image_pipelines_statistics():
    """Same distribution of views: per-channel mean and spread of MoCo v2's views of one image,
    batched against torchvision's per-image pipeline (2,000 draws each)."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    recipe = ViewRecipe.moco_v2(32)
    torch.manual_seed(1)
    pil = moco_v2_augmentation(32)
    reference = torch.stack([pil(image) for _ in range(2000)])
    crop = recipe.crop()
    batched = apply_views(torch.stack([crop(image) for _ in range(2000)]), sample_params(2000, recipe), recipe)
    for stat in (lambda v: v.mean(dim=(0, 2, 3)), lambda v: v.std(dim=(2, 3)).mean(dim=0)):
        assert torch.allclose(stat(batched), stat(reference), atol=0.03)


def test_collate_augments_both_views_independently_and_is_seeded():
    recipe = ViewRecipe.moco_v2(32)
    samples = [((c, c.clone()), 0, i) for i, c in enumerate(crops(n=8))]
    torch.manual_seed(5)
    (q, k), targets, index = TwoViewCollate(recipe)(samples)
    assert q.shape == k.shape == (8, 3, 32, 32) and index.tolist() == list(range(8))
    assert not torch.allclose(q, k)  # two draws of parameters from the same crops
    torch.manual_seed(5)
    (q2, k2), _, _ = TwoViewCollate(recipe)(samples)
    assert torch.equal(q, q2) and torch.equal(k, k2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="uint8"):
        apply_views(torch.zeros(2, 3, 8, 8), sample_params(2, ViewRecipe.moco_v2(32)), ViewRecipe.moco_v2(32))
