import pytest
import torch
from torch import nn

from fgkd.losses import info_nce
from fgkd.models import MoCo, momentum_update, projection_head


def tiny_backbone() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def tiny_moco(**kw) -> MoCo:
    torch.manual_seed(0)
    args = dict(feature_dim=8, dim=6, hidden_dim=10, queue_size=10, momentum=0.9)
    args.update(kw)
    return MoCo(tiny_backbone(), **args)


def images(n=4, seed=1):
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_lead_head_is_linear_relu_linear_relu_linear_bn():
    head = projection_head(16, 32, 512, "lead")
    kinds = [type(m) for m in head]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.BatchNorm1d]
    assert head[4].out_features == 512
    assert [type(m) for m in projection_head(16, 32, 8, "mocov2")] == [nn.Linear, nn.ReLU, nn.Linear]
    with pytest.raises(ValueError, match="head"):
        projection_head(16, 32, 8, "byol")


def test_forward_shapes_and_normalisation():
    model = tiny_moco()
    out = model(images(), images(seed=2))
    assert out.q.shape == out.k.shape == (4, 6) and out.queue.shape == (10, 6)
    assert torch.allclose(out.q.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(out.k.norm(dim=1), torch.ones(4), atol=1e-5)
    assert model.encode(images()).shape == (4, 8)
    assert model.backbone is model.encoder_q.backbone


def test_key_encoder_gets_no_gradient():
    model = tiny_moco()
    out = model(images(), images(seed=2))
    info_nce(out.q, out.k, out.queue, 0.2).mean().backward()
    assert all(not p.requires_grad and p.grad is None for p in model.encoder_k.parameters())
    assert all(p.grad is not None for p in model.encoder_q.parameters())


def test_momentum_update_is_an_ema_of_parameters():
    model = tiny_moco(momentum=0.9)
    with torch.no_grad():
        for p in model.encoder_q.parameters():
            p.add_(1.0)  # make query and key encoders differ
    before_q = [p.clone() for p in model.encoder_q.parameters()]
    before_k = [p.clone() for p in model.encoder_k.parameters()]
    model.train()
    model(images(), images(seed=2))
    for q, k_old, k_new in zip(before_q, before_k, model.encoder_k.parameters()):
        assert torch.allclose(k_new, 0.9 * k_old + 0.1 * q, atol=1e-6)


def test_momentum_update_function():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    expected = [0.5 * pb + 0.5 * pa for pa, pb in zip(a.parameters(), b.parameters())]
    momentum_update(a, b, 0.5)
    assert all(torch.allclose(e, p) for e, p in zip(expected, b.parameters()))


def test_queue_returns_old_negatives_then_enqueues_keys_with_wraparound():
    model = tiny_moco(queue_size=10).train()
    old = model.queue.clone()
    out1 = model(images(4, 1), images(4, 2))
    assert torch.equal(out1.queue, old)  # negatives exclude this batch's keys
    assert torch.allclose(model.queue[:4], out1.k) and torch.equal(model.queue[4:], old[4:])
    assert int(model.queue_ptr) == 4
    model(images(4, 3), images(4, 4))
    out3 = model(images(4, 5), images(4, 6))  # ptr 8: fills rows 8, 9, 0, 1
    assert torch.allclose(model.queue[[8, 9, 0, 1]], out3.k)
    assert int(model.queue_ptr) == 2


def test_eval_mode_changes_nothing():
    model = tiny_moco().eval()
    queue, k_params = model.queue.clone(), [p.clone() for p in model.encoder_k.parameters()]
    with torch.no_grad():
        for p in model.encoder_q.parameters():
            p.add_(1.0)
    model(images(), images(seed=2))
    assert torch.equal(model.queue, queue) and int(model.queue_ptr) == 0
    assert all(torch.equal(a, b) for a, b in zip(k_params, model.encoder_k.parameters()))


def test_batch_larger_than_queue_is_rejected():
    model = tiny_moco(queue_size=3).train()
    with pytest.raises(ValueError, match="queue_size"):
        model(images(4), images(4))


def test_named_backbone_and_validation():
    model = MoCo("resnet18", small_input=True, dim=512, queue_size=16)
    out = model(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32))
    assert out.q.shape == (2, 512) and model.feature_dim == 512
    with pytest.raises(ValueError, match="feature_dim"):
        MoCo(tiny_backbone())
    with pytest.raises(ValueError, match="momentum"):
        tiny_moco(momentum=1.5)


def test_split_bn_gives_each_sub_batch_its_own_statistics_and_keys_other_sub_batches():
    import copy

    model = tiny_moco(bn_splits=2, momentum=1.0)  # momentum 1: the key encoder stays a copy
    reference = copy.deepcopy(model)
    im_q, im_k = images(8, seed=1), images(8, seed=2)
    torch.manual_seed(7)
    out = model(im_q, im_k)
    torch.manual_seed(7)
    perm = torch.randperm(8)  # the shuffle the forward drew
    # queries: BN statistics of their own half; keys: of a half of the shuffled batch
    q = torch.cat([reference.encoder_q(part) for part in im_q.chunk(2)])
    k_shuffled = torch.cat([reference.encoder_k(part) for part in im_k[perm].chunk(2)])
    k = k_shuffled[torch.argsort(perm)]
    assert torch.allclose(out.q, nn.functional.normalize(q, dim=1), atol=1e-6)
    assert torch.allclose(out.k, nn.functional.normalize(k, dim=1), atol=1e-6)
    # ... which differ from whole-batch statistics: the substitute does something
    whole = nn.functional.normalize(reference.encoder_k(im_k), dim=1)
    assert not torch.allclose(out.k, whole, atol=1e-4)
    # in eval mode (running statistics) the split changes nothing
    model.eval(), reference.eval()
    assert torch.allclose(model(im_q, im_k).q, reference(im_q, im_k).q, atol=1e-6)
    with pytest.raises(ValueError, match="bn_splits"):
        tiny_moco(bn_splits=0)
