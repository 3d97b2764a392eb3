import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import entropy as scipy_entropy
from torch.distributions import Categorical, kl_divergence

from fgkd.eval import class_accuracy
from fgkd.losses import (
    category_kl,
    entropy_weights,
    info_nce,
    kd_loss,
    lead_loss,
    makd_loss,
    normalized_entropy,
    nt_xent,
    reference_beta_to_fgkd,
)

N, D, K, C, Q = 6, 5, 9, 4, 3


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def unit(*shape, g):
    return F.normalize(torch.randn(*shape, generator=g, dtype=torch.float64), dim=-1)


def lead_inputs(g):
    q = unit(N, D, g=g).requires_grad_()
    k = unit(N, D, g=g).requires_grad_()
    queue = unit(K, D, g=g).requires_grad_()
    feat = torch.randn(N, D, generator=g, dtype=torch.float64).requires_grad_()
    probs = torch.softmax(3 * torch.randn(N, C, generator=g, dtype=torch.float64), 1).requires_grad_()
    protos = unit(C, D, g=g).requires_grad_()
    return q, k, queue, feat, probs, protos


# --- info_nce -----------------------------------------------------------------------------------

def test_info_nce_matches_an_explicit_loop(g):
    q, k, queue, *_ = lead_inputs(g)
    tau = 0.2
    out = info_nce(q, k, queue, tau)
    q, k, queue = q.detach(), k.detach(), queue.detach()
    for n in range(N):
        pos = math.exp(float(q[n] @ k[n]) / tau)
        neg = sum(math.exp(float(q[n] @ queue[j]) / tau) for j in range(K))
        assert out[n].item() == pytest.approx(-math.log(pos / (pos + neg)), rel=1e-9)
    assert out.shape == (N,)


def test_info_nce_gradient_reaches_queries_only(g):
    q, k, queue, *_ = lead_inputs(g)
    info_nce(q, k, queue, 0.2).sum().backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None and queue.grad is None


# --- category_kl and entropy ----------------------------------------------------------------------

def test_category_kl_matches_torch_distributions(g):
    _, _, _, feat, probs, protos = lead_inputs(g)
    T = 0.05
    out = category_kl(feat, probs, protos, T)
    logits_s = F.normalize(feat, dim=1) @ protos.T / T
    expected = kl_divergence(Categorical(probs=probs), Categorical(logits=logits_s))
    assert torch.allclose(out, expected, rtol=1e-9)
    out.sum().backward()
    assert feat.grad is not None and probs.grad is None and protos.grad is None


def test_category_kl_is_zero_when_student_matches_teacher(g):
    feat = unit(N, D, g=g)
    protos = unit(C, D, g=g)
    p_s = torch.softmax(feat @ protos.T / 0.1, 1)
    assert torch.allclose(category_kl(feat, p_s, protos, 0.1), torch.zeros(N, dtype=torch.float64), atol=1e-12)


def test_category_kl_rejects_logits_as_teacher_probs(g):
    _, _, _, feat, probs, protos = lead_inputs(g)
    with pytest.raises(ValueError, match="softmax"):
        category_kl(feat, torch.log(probs.detach()), protos, 0.1)


def test_entropy_weights_match_scipy_and_are_detached(g):
    _, _, _, _, probs, _ = lead_inputs(g)
    w_cl, w_kd = entropy_weights(probs)
    h = scipy_entropy(probs.detach().numpy(), axis=1) / np.log(C)
    np.testing.assert_allclose(w_cl.numpy(), h**2, rtol=1e-9)
    np.testing.assert_allclose(w_kd.numpy(), 1 - h**2, rtol=1e-9)
    np.testing.assert_allclose(normalized_entropy(probs).numpy(), h, rtol=1e-9)
    assert not w_cl.requires_grad and not w_kd.requires_grad


def test_entropy_weights_extremes():
    one_hot = torch.eye(C)
    uniform = torch.full((2, C), 1.0 / C)
    w_cl, w_kd = entropy_weights(one_hot)  # confident teacher: all on distillation
    assert torch.equal(w_cl, torch.zeros(C)) and torch.equal(w_kd, torch.ones(C))
    w_cl, w_kd = entropy_weights(uniform)  # clueless teacher: all on contrastive learning
    assert torch.allclose(w_cl, torch.ones(2)) and torch.allclose(w_kd, torch.zeros(2), atol=1e-6)


# --- lead_loss ----------------------------------------------------------------------------------

HP = dict(alpha=0.5, beta=2.0, moco_temperature=0.2, category_temperature=0.05)


def expected_total(q, k, queue, feat, probs, protos, w):
    l_cl = info_nce(q, k, queue, HP["moco_temperature"]).detach()
    kl = category_kl(feat, probs, protos, HP["category_temperature"]).detach()
    h = torch.tensor(scipy_entropy(probs.detach().numpy(), axis=1) / np.log(C))
    w_cl, w_kd = w(h)
    return (w_cl * HP["alpha"] * l_cl + HP["beta"] * w_kd * kl).mean()


@pytest.mark.parametrize("weighting, w", [
    ("entropy", lambda h: (h**2, 1 - h**2)),
    ("linear", lambda h: (h, 1 - h)),
    ("fixed", lambda h: (torch.ones_like(h), torch.ones_like(h))),
    ("none", lambda h: (torch.ones_like(h), torch.zeros_like(h))),
])
def test_lead_loss_weightings(g, weighting, w):
    inputs = lead_inputs(g)
    terms = lead_loss(*inputs, weighting=weighting, **HP)
    assert terms["total"].item() == pytest.approx(expected_total(*inputs, w).item(), rel=1e-9)
    assert set(terms) == {"total", "contrastive", "kd", "entropy", "w_cl", "w_kd"}
    assert not any(v.requires_grad for name, v in terms.items() if name != "total")


def test_lead_loss_weightings_differ(g):
    inputs = lead_inputs(g)
    totals = {w: lead_loss(*inputs, weighting=w, **HP)["total"].item() for w in ("entropy", "linear", "fixed", "none")}
    assert len(set(round(v, 9) for v in totals.values())) == 4


def test_lead_loss_gradients(g):
    q, k, queue, feat, probs, protos = lead_inputs(g)
    lead_loss(q, k, queue, feat, probs, protos, **HP)["total"].backward()
    assert q.grad is not None and feat.grad is not None
    # teacher probs would get a gradient through H if the weights were not detached
    assert probs.grad is None and protos.grad is None and k.grad is None and queue.grad is None


def test_lead_loss_mocov2_needs_no_teacher(g):
    q, k, queue, *_ = lead_inputs(g)
    terms = lead_loss(q, k, queue, weighting="none", **HP)
    assert terms["total"].item() == pytest.approx(0.5 * info_nce(q, k, queue, 0.2).mean().item())
    assert "kd" not in terms and terms["w_kd"] == 0
    with pytest.raises(ValueError, match="teacher"):
        lead_loss(q, k, queue, weighting="entropy", **HP)
    with pytest.raises(ValueError, match="weighting"):
        lead_loss(q, k, queue, weighting="cosine", **HP)


def test_beta_mapping_reproduces_the_reference_code_scaling(g):
    """Reference: KLDivLoss(reduction='none') averaged over classes, times w_kd * beta_ref, summed
    over the batch; contrastive batch mean times alpha * w_cl."""
    q, k, queue, feat, probs, protos = lead_inputs(g)
    alpha, beta_ref, T = 0.5, 20.0, 0.02
    w_cl, w_kd = entropy_weights(probs)
    log_p_s = torch.log_softmax(F.normalize(feat, dim=1) @ protos.T / T, 1)
    kd_ref = (torch.nn.KLDivLoss(reduction="none")(log_p_s, probs.detach()).mean(1) * w_kd * beta_ref).sum()
    cl_ref = (info_nce(q, k, queue, 0.27) * alpha * w_cl).mean()
    beta = reference_beta_to_fgkd(beta_ref, N, C)
    assert beta == pytest.approx(beta_ref * N / C)
    ours = lead_loss(q, k, queue, feat, probs, protos, alpha=alpha, beta=beta, moco_temperature=0.27,
                     category_temperature=T)["total"]
    assert ours.item() == pytest.approx((kd_ref + cl_ref).item(), rel=1e-9)
    assert reference_beta_to_fgkd(20, 64, 200) == pytest.approx(6.4)


# --- MaKD ---------------------------------------------------------------------------------------

def makd_inputs(g):
    logits = torch.randn(N, C + Q, generator=g, dtype=torch.float64).requires_grad_()
    labels = torch.randint(0, C, (N,), generator=g)
    targets = torch.rand(N, Q, generator=g, dtype=torch.float64)
    return logits, labels, targets


def test_makd_bce_matches_equations_4_to_6(g):
    logits, labels, q = makd_inputs(g)
    terms = makd_loss(logits, labels, q, C, alpha=3.0)
    z = logits.detach()
    ce = np.mean([-math.log(math.exp(z[n, labels[n]]) / sum(math.exp(z[n, c]) for c in range(C))) for n in range(N)])
    sig = 1 / (1 + np.exp(-z[:, C:].numpy()))
    bce = np.mean(-(q.numpy() * np.log(sig) + (1 - q.numpy()) * np.log(1 - sig)))
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-9)
    assert terms["aspect"].item() == pytest.approx(bce, rel=1e-9)
    assert terms["total"].item() == pytest.approx(ce + 3.0 * bce, rel=1e-9)
    terms["total"].backward()
    assert logits.grad[:, C:].abs().sum() > 0


def test_makd_kl_variant(g):
    logits, labels, q = makd_inputs(g)
    terms = makd_loss(logits, labels, q, C, alpha=1.0, aspect_loss="kl")
    r = q / q.sum(1, keepdim=True)
    expected = kl_divergence(Categorical(probs=r), Categorical(logits=logits.detach()[:, C:])).mean()
    assert terms["aspect"].item() == pytest.approx(expected.item(), rel=1e-9)
    assert terms["aspect"].item() != pytest.approx(makd_loss(logits, labels, q, C, 1.0)["aspect"].item())


def test_makd_baseline_and_alpha_zero(g):
    logits, labels, q = makd_inputs(g)
    base = makd_loss(logits[:, :C], labels, None, C, alpha=5.0)
    assert base["aspect"] == 0 and base["total"].item() == pytest.approx(F.cross_entropy(logits[:, :C], labels).item())
    assert makd_loss(logits, labels, q, C, alpha=0.0)["total"].item() == pytest.approx(base["total"].item())


def test_makd_checks_targets(g):
    logits, labels, q = makd_inputs(g)
    with pytest.raises(ValueError, match="aspect_targets"):
        makd_loss(logits, labels, q[:, :2], C, 1.0)
    with pytest.raises(ValueError, match="P\\(yes\\)"):
        makd_loss(logits, labels, q + 1, C, 1.0)
    with pytest.raises(ValueError, match="aspect_loss"):
        makd_loss(logits, labels, q, C, 1.0, aspect_loss="mse")


def test_class_accuracy_ignores_aspect_logits(g):
    logits, labels, _ = makd_inputs(g)
    logits = logits.detach()
    acc = class_accuracy(logits, labels, C, topk=(1, 2))
    loud = logits.clone()
    loud[:, C:] = 100.0  # aspect logits dominating every class logit
    assert class_accuracy(loud, labels, C, topk=(1, 2)) == acc
    top1 = 100 * np.mean([int(logits[n, :C].argmax()) == int(labels[n]) for n in range(N)])
    assert acc["top1"] == pytest.approx(top1)
    all_logits = class_accuracy(loud, labels, C + Q, topk=(1,))  # counting aspects (the anti-pattern)
    assert all_logits["top1"] == 0.0


def test_topk_larger_than_num_classes_counts_all():
    logits = torch.randn(4, 3)
    assert class_accuracy(logits, torch.tensor([0, 1, 2, 0]), 3)["top5"] == 100.0


# --- KD and NT-Xent -----------------------------------------------------------------------------

def test_kd_loss_matches_hinton(g):
    s = torch.randn(N, C, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.randn(N, C, generator=g, dtype=torch.float64).requires_grad_()
    T = 4.0
    out = kd_loss(s, t, T)
    expected = T**2 * kl_divergence(Categorical(logits=t / T), Categorical(logits=s / T)).mean()
    assert out.item() == pytest.approx(expected.item(), rel=1e-9)
    out.backward()
    assert s.grad is not None and t.grad is None


def test_nt_xent_matches_an_explicit_loop(g):
    z1 = torch.randn(N, D, generator=g, dtype=torch.float64)
    z2 = torch.randn(N, D, generator=g, dtype=torch.float64)
    tau = 0.5
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    losses = []
    for i in range(2 * N):
        partner = (i + N) % (2 * N)
        denom = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(2 * N) if j != i)
        losses.append(-math.log(math.exp(float(z[i] @ z[partner]) / tau) / denom))
    assert nt_xent(z1, z2, tau).item() == pytest.approx(np.mean(losses), rel=1e-9)
