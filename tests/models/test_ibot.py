import pytest
import torch

from fgkd.models import IBOT


def tiny_ibot(**kw) -> IBOT:
    torch.manual_seed(0)
    args = dict(image_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, out_dim=64,
                head_hidden_dim=32, bottleneck_dim=16)
    args.update(kw)
    return IBOT(**args)


def views(n=3):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randn(n, 3, 16, 16, generator=g)


def test_masked_objective_depends_on_the_mask():
    model = tiny_ibot().eval()  # eval: no EMA or centre update between the calls
    x1, x2 = views()
    none = torch.zeros(3, 16, dtype=torch.bool)
    first = none.clone()
    first[:, :6] = True
    last = none.clone()
    last[:, -6:] = True
    out_none = model(x1, x2, masks=(none, none))
    out_a = model(x1, x2, masks=(first, first))
    out_b = model(x1, x2, masks=(last, last))
    assert out_none["mim"] == 0.0  # nothing masked: no MIM signal
    assert out_a["mim"] > 0 and out_b["mim"] > 0
    assert not torch.isclose(out_a["mim"], out_b["mim"])
    assert not torch.isclose(out_a["cls"], out_none["cls"])  # masking also changes the student's [CLS]


def test_mim_matches_an_explicit_computation():
    model = tiny_ibot().eval()
    x1, x2 = views()
    m = torch.zeros(3, 16, dtype=torch.bool)
    m[0, [1, 5]] = True
    m[2, 7] = True  # image 1 unmasked: contributes 0
    out = model(x1, x2, masks=(m, m))
    expected = 0.0
    for x in (x1, x2):
        t = torch.softmax((model.teacher(x)[:, 1:] - model.center_patch) / model.teacher_temperature, -1)
        s = torch.log_softmax(model.student(x, m)[:, 1:] / model.student_temperature, -1)
        per_image = [-(t[n][m[n]] * s[n][m[n]]).sum(-1).mean() if m[n].any() else torch.tensor(0.0)
                     for n in range(3)]
        expected += 0.5 * torch.stack(per_image).mean()
    assert out["mim"] == pytest.approx(expected.item(), rel=1e-5)


def test_gradients_reach_the_student_and_mask_token_only():
    model = tiny_ibot().train()
    x1, x2 = views()
    m = torch.zeros(3, 16, dtype=torch.bool)
    m[:, ::3] = True
    model(x1, x2, masks=(m, m))["total"].backward()
    assert model.student.vit.mask_token.grad is not None and model.student.vit.mask_token.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_training_step_updates_teacher_and_centres():
    model = tiny_ibot(teacher_momentum=0.5).train()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(0.1)
    t_before = [p.clone() for p in model.teacher.parameters()]
    s_params = [p.clone() for p in model.student.parameters()]
    model(*views())
    for t_old, s, t_new in zip(t_before, s_params, model.teacher.parameters()):
        assert torch.allclose(t_new, 0.5 * t_old + 0.5 * s, atol=1e-6)
    assert model.center_cls.abs().sum() > 0 and model.center_patch.abs().sum() > 0


def test_random_masks_follow_probability_and_ratio():
    model = tiny_ibot(mask_probability=1.0, mask_ratio=(0.25, 0.5))
    masks = model.random_masks(200, generator=torch.Generator().manual_seed(0))
    frac = masks.float().mean(1)
    assert masks.shape == (200, 16) and masks.dtype == torch.bool
    assert frac.min() >= 0.25 and frac.max() <= 0.5 and frac.std() > 0
    again = model.random_masks(200, generator=torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)  # seeded
    never = tiny_ibot(mask_probability=0.0).random_masks(10)
    assert not never.any()


def test_encode_uses_the_teacher_cls_feature_and_checks_inputs():
    model = tiny_ibot().eval()
    x1, _ = views()
    assert torch.allclose(model.encode(x1), model.teacher.vit.tokens(x1)[:, 0])
    assert model.backbone is model.teacher.vit
    with pytest.raises(ValueError, match="16 px"):
        model.encode(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="mask"):
        model(x1, x1, masks=(torch.zeros(3, 15, dtype=torch.bool),) * 2)
