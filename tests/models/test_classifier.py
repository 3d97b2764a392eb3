import pytest
import torch

from fgkd.models import AspectClassifier


def test_output_is_class_then_aspect_logits():
    model = AspectClassifier("resnet18", num_classes=7, num_aspects=3, small_input=True).eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.equal(model.class_logits(out), out[:, :7])
    assert torch.equal(model.aspect_logits(out), out[:, 7:])
    assert model.encode(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_aspects_add_one_linear_output_each():
    # MaKD 5.5: ResNet18 + 50 aspects is 11.25M parameters against 11.23M.
    base = AspectClassifier("resnet18", num_classes=196, num_aspects=0)
    makd = AspectClassifier("resnet18", num_classes=196, num_aspects=50)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(makd) - count(base) == 50 * (512 + 1)
    assert base.aspect_logits(torch.zeros(1, 196)).shape == (1, 0)


def test_invalid_sizes():
    with pytest.raises(ValueError, match="num_classes"):
        AspectClassifier("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="num_aspects"):
        AspectClassifier("resnet18", num_classes=3, num_aspects=-1)
