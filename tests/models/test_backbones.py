import functools

import pytest
import torch
import torchvision
from torch import nn

from fgkd.models import backbones
from fgkd.models.backbones import cached_weights_path, get_backbone, list_backbones, register_backbone

EXPECTED_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "mobilenet_v1": 1024, "efficientnet_b0": 1280}


@functools.cache
def built(name: str, small_input: bool) -> tuple[nn.Module, int]:
    """Each backbone is built once per session (tests only read it)."""
    model, dim = get_backbone(name, small_input=small_input)
    return model.eval(), dim


def test_builtin_names_are_registered():
    assert set(EXPECTED_DIMS) <= set(list_backbones())


@pytest.mark.parametrize("name", sorted(EXPECTED_DIMS))
def test_small_input_backbones_return_pooled_features_at_32px(name):
    model, dim = built(name, True)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert dim == EXPECTED_DIMS[name] and out.shape == (2, dim)


def test_small_input_removes_early_downsampling():
    std, small = built("resnet18", False)[0], built("resnet18", True)[0]
    assert std.conv1.stride == (2, 2) and isinstance(std.maxpool, nn.MaxPool2d)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    assert built("efficientnet_b0", True)[0].features[0][0].stride == (1, 1)
    assert built("efficientnet_b0", False)[0].features[0][0].stride == (2, 2)
    assert built("mobilenet_v1", True)[0].features[0][0].stride == (1, 1)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ValueError, match="resnet18"):
        get_backbone("resnet19")


def test_register_backbone(monkeypatch):
    monkeypatch.setattr(backbones, "_REGISTRY", dict(backbones._REGISTRY))

    @register_backbone("tiny")
    def build(pretrained, small_input):
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), 4

    model, dim = get_backbone("tiny")
    assert "tiny" in list_backbones()
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, dim)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny", build)
    register_backbone("tiny", build, overwrite=True)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case something called torch.hub.set_dir
    return tmp_path


def test_pretrained_offline_without_cache_raises_one_clear_error(torch_home):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    expected = torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(FileNotFoundError) as info:
        get_backbone("resnet18", pretrained=True)
    assert url in str(info.value) and str(expected) in str(info.value)
    assert not expected.exists()  # nothing was downloaded


@pytest.mark.parametrize("small_input", [False, True])
def test_pretrained_loads_from_the_hub_cache(torch_home, small_input):
    reference = torchvision.models.resnet18()  # random init stands in for the ImageNet file
    path = cached_weights_path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)

    model, _ = get_backbone("resnet18", pretrained=True, small_input=small_input)
    assert torch.equal(model.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    assert torch.equal(model.bn1.running_var, reference.bn1.running_var)
    if small_input:  # the 3x3 stem is new, the 7x7 ImageNet kernel cannot fill it
        assert model.conv1.weight.shape == (64, 3, 3, 3)
    else:
        assert torch.equal(model.conv1.weight, reference.conv1.weight)


def test_corrupt_cached_weights_say_which_file(torch_home):
    path = cached_weights_path(torchvision.models.ResNet34_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), path)  # wrong architecture
    with pytest.raises(RuntimeError, match="resnet34-"):
        get_backbone("resnet34", pretrained=True)


def test_mobilenet_v1_has_no_pretrained_weights():
    with pytest.raises(ValueError, match="pretrained=False"):
        get_backbone("mobilenet_v1", pretrained=True)


def test_builder_returning_the_wrong_thing_is_named(monkeypatch):
    monkeypatch.setattr(backbones, "_REGISTRY", dict(backbones._REGISTRY))
    register_backbone("broken", lambda pretrained, small_input: nn.Identity())
    with pytest.raises(TypeError, match="broken"):
        get_backbone("broken")
