"""Losses of LEAD, MaKD and the baselines, each a short pure function on tensors.

Symbols: N batch size, D embedding dim, K queue size, C classes, Q aspect questions.
Teacher outputs, prototypes, keys and the queue never receive gradients: each function detaches them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WEIGHTINGS = ("entropy", "fixed", "linear", "none")
ASPECT_LOSSES = ("bce", "kl")


def _check_probs(probs: torch.Tensor, name: str) -> None:
    if probs.dim() != 2 or probs.shape[1] < 2:
        raise ValueError(f"{name} must be [N, C] with C >= 2, got shape {tuple(probs.shape)}")
    sums = probs.detach().sum(1)
    if (probs.detach() < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise ValueError(f"{name} must be probabilities (non-negative rows summing to 1); pass softmax "
                         "outputs, not logits")


# --- LEAD ---------------------------------------------------------------------------------------

def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo's InfoNCE loss per sample, ``[N]``.

    ``L_cl(n) = -log( exp(q_n . k_n / tau) / (exp(q_n . k_n / tau) + sum_j exp(q_n . u_j / tau)) )``

    Args:
        q: [N, D] normalised queries (gradient flows here only).
        k: [N, D] normalised positive keys (detached).
        queue: [K, D] normalised negative keys u_j (detached).
        temperature: tau.
    """
    k, queue = k.detach(), queue.detach()
    l_pos = (q * k).sum(1, keepdim=True)  # [N, 1]
    l_neg = q @ queue.T  # [N, K]
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature  # [N, 1 + K]
    return torch.logsumexp(logits, dim=1) - logits[:, 0]  # [N] = CE with the positive at index 0


def category_log_probs(student_feat: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """``log p_s = log_softmax(normalise(f_s) @ normalise(P)^T / T)``, ``[N, C]``; P gets no gradient."""
    logits = F.normalize(student_feat, dim=1) @ F.normalize(prototypes.detach(), dim=1).T  # [N, C] cosines
    return F.log_softmax(logits / temperature, dim=1)


def category_kl(student_feat: torch.Tensor, teacher_probs: torch.Tensor, prototypes: torch.Tensor,
                temperature: float) -> torch.Tensor:
    """LEAD's category-wise distillation term per sample, ``[N]``.

    ``KL(p_t || p_s)(n) = sum_c p_t(n, c) (log p_t(n, c) - log p_s(n, c))``,
    ``p_s = softmax(normalise(f_s) @ P^T / T)`` with P the [C, D] class prototypes (the teacher's text
    embeddings of the LLM descriptions; rows are normalised here too) and T the KD temperature.

    Args:
        student_feat: [N, D] student projection f_s (normalised inside).
        teacher_probs: [N, C] p_t (detached).
        prototypes: [C, D] P (detached).
        temperature: T.
    """
    _check_probs(teacher_probs, "teacher_probs")
    p_t = teacher_probs.detach()
    log_p_s = category_log_probs(student_feat, prototypes, temperature)  # [N, C]
    return (torch.special.xlogy(p_t, p_t) - p_t * log_p_s).sum(1)  # [N], 0 log 0 = 0


@torch.no_grad()
def normalized_entropy(probs: torch.Tensor) -> torch.Tensor:
    """``H(n) = -sum_c p(n, c) log p(n, c) / log C`` in [0, 1], ``[N]``, without gradient."""
    _check_probs(probs, "teacher_probs")
    h = -torch.special.xlogy(probs, probs).sum(1) / math.log(probs.shape[1])
    return h.clamp(0.0, 1.0)


@torch.no_grad()
def entropy_weights(teacher_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LEAD's entropy-adaptive weights ``(w_cl, w_kd) = (H^2, 1 - H^2)``, each ``[N]``, detached.

    A confident teacher (low H) shifts weight to distillation, an unsure one to contrastive learning.
    """
    h = normalized_entropy(teacher_probs)
    return h**2, 1.0 - h**2


def reference_beta_to_fgkd(beta_ref: float, batch_size: int, num_classes: int) -> float:
    """``beta = beta_ref * N / C``: the ``lead_loss`` beta equal to the reference code's beta.

    See ``lead_loss``. E.g. the reference run script's beta_ref = 20 at N = 64, C = 200 is beta = 6.4.
    """
    if batch_size < 1 or num_classes < 1:
        raise ValueError(f"batch_size and num_classes must be >= 1, got {batch_size}, {num_classes}")
    return beta_ref * batch_size / num_classes


def lead_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    student_feat: torch.Tensor | None = None,
    teacher_probs: torch.Tensor | None = None,
    prototypes: torch.Tensor | None = None,
    *,
    alpha: float,
    beta: float,
    moco_temperature: float,
    kd_temperature: float,
    weighting: str = "entropy",
) -> dict[str, torch.Tensor]:
    """LEAD's objective: ``L = mean_n [ w_cl(n) * alpha * L_cl(n) + beta * w_kd(n) * KL(n) ]``.

    ``L_cl`` is ``info_nce`` (tau = moco_temperature), ``KL`` is ``category_kl`` (T = kd_temperature).
    Weightings ``(w_cl, w_kd)``, all without gradient:

    - ``"entropy"``: ``(H^2, 1 - H^2)`` (LEAD), H the normalised teacher entropy;
    - ``"linear"``: ``(H, 1 - H)``;
    - ``"fixed"``: ``(1, 1)`` (distillation without the entropy module);
    - ``"none"``: ``(1, 0)``, MoCo v2 without distillation (use alpha = 1 for plain MoCo v2);
      the teacher arguments may then be None.

    Scaling against the reference code (HuiGuanLab/LEAD-pp): it averages the KD term over the C
    classes and SUMS it over the batch, while the contrastive term is a batch mean:
    ``L_ref = alpha_ref * mean_n w_cl(n) L_cl(n) + sum_n beta_ref * w_kd(n) * KL(n) / C``.
    Ours is ``alpha * mean_n w_cl(n) L_cl(n) + (beta / N) * sum_n w_kd(n) KL(n)``, so the two are equal
    for ``alpha = alpha_ref`` and ``beta = beta_ref * N / C`` (``reference_beta_to_fgkd``); the
    reference's KD strength grows with its batch size, ours does not.

    Returns:
        ``{"total", "contrastive", "w_cl", "w_kd"}`` and, when teacher_probs is given, ``"kd"`` and
        ``"entropy"``: total has the gradient; the others are detached batch means of the
        unweighted per-sample terms L_cl, KL, H and of the weights.
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    has_teacher = teacher_probs is not None
    if weighting != "none" and (student_feat is None or teacher_probs is None or prototypes is None):
        raise ValueError(f"weighting={weighting!r} distils from the teacher: pass student_feat, teacher_probs "
                         "and prototypes (or use weighting='none' for MoCo v2)")
    if has_teacher and (student_feat is None or prototypes is None):
        raise ValueError("teacher_probs was given without student_feat and prototypes")

    l_cl = info_nce(q, k, queue, moco_temperature)  # [N]
    terms: dict[str, torch.Tensor] = {}
    if has_teacher:
        kl = category_kl(student_feat, teacher_probs, prototypes, kd_temperature)  # [N]
        h = normalized_entropy(teacher_probs)  # [N]
        terms["kd"] = kl.detach().mean()
        terms["entropy"] = h.mean()

    ones = torch.ones_like(l_cl)
    if weighting == "none":
        w_cl, w_kd = ones, torch.zeros_like(l_cl)
        total = (alpha * l_cl).mean()
    else:
        if weighting == "entropy":
            w_cl, w_kd = h**2, 1.0 - h**2
        elif weighting == "linear":
            w_cl, w_kd = h, 1.0 - h
        else:  # fixed
            w_cl, w_kd = ones, ones
        total = (w_cl * alpha * l_cl + beta * w_kd * kl).mean()
    terms.update(total=total, contrastive=l_cl.detach().mean(), w_cl=w_cl.mean(), w_kd=w_kd.mean())
    return terms


# --- MaKD ---------------------------------------------------------------------------------------

def makd_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    aspect_targets: torch.Tensor | None,
    num_classes: int,
    alpha: float,
    aspect_loss: str = "bce",
) -> dict[str, torch.Tensor]:
    """MaKD's objective (eq. 6): ``L = L_CE + alpha * L_MaKD``.

    With ``y_hat = logits`` [N, C + Q] (class logits first), labels y [N] and the MLLM's
    P(yes) targets q [N, Q] in [0, 1]:

    - ``L_CE = mean_n CE(y_hat[n, :C], y_n)`` (eq. 4);
    - ``"bce"`` (eq. 5): ``L_MaKD = mean_{n, i} -[q_i log s(y_hat[n, C+i]) + (1 - q_i) log(1 - s(y_hat[n, C+i]))]``,
      s the sigmoid. Eq. 5 sums over the Q aspects; we average (BCE-with-logits' default), so our
      alpha is Q times the alpha of a summed eq. 5. MaKD's alpha ablation (Table 3c, up to 50)
      fits the averaged form.
    - ``"kl"`` (the Table 3a ablation, "KL-divergence loss on the multi-aspect logit"): the Q aspect
      scores are read as one distribution, ``L_MaKD = mean_n KL(r_n || softmax(y_hat[n, C:]))`` with
      ``r_n = q_n / sum_i q_n,i``. (A per-aspect Bernoulli KL would differ from BCE only by the
      constant entropy of q, i.e. give the same gradients, so it could not be the variant the paper
      reports as different.) A row with all q = 0 contributes 0.

    ``num_aspects = 0`` (``logits`` [N, C], ``aspect_targets`` None) is the cross-entropy baseline.

    Returns:
        ``{"total", "ce", "aspect"}``; total has the gradient, the others are detached.
    """
    if aspect_loss not in ASPECT_LOSSES:
        raise ValueError(f"aspect_loss must be one of {ASPECT_LOSSES}, got {aspect_loss!r}")
    if logits.dim() != 2 or logits.shape[1] < num_classes:
        raise ValueError(f"logits must be [N, C + Q] with C = {num_classes}, got shape {tuple(logits.shape)}")
    num_aspects = logits.shape[1] - num_classes
    ce = F.cross_entropy(logits[:, :num_classes], labels)
    if num_aspects == 0:
        aspect = torch.zeros((), device=logits.device, dtype=logits.dtype)
    else:
        if aspect_targets is None or aspect_targets.shape != (logits.shape[0], num_aspects):
            got = None if aspect_targets is None else tuple(aspect_targets.shape)
            raise ValueError(f"aspect_targets must be [N, Q] = [{logits.shape[0]}, {num_aspects}] "
                             f"(logits have {num_aspects} aspect columns), got {got}")
        q = aspect_targets.detach().to(logits.dtype)
        if (q < 0).any() or (q > 1).any():
            raise ValueError("aspect_targets must be probabilities P(yes) in [0, 1]")
        z = logits[:, num_classes:]  # [N, Q]
        if aspect_loss == "bce":
            aspect = F.binary_cross_entropy_with_logits(z, q)
        else:
            r = q / q.sum(1, keepdim=True).clamp(min=torch.finfo(q.dtype).tiny)  # [N, Q]
            aspect = (torch.special.xlogy(r, r) - r * F.log_softmax(z, dim=1)).sum(1).mean()
    total = ce + alpha * aspect
    return {"total": total, "ce": ce.detach(), "aspect": aspect.detach()}


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s logit distillation, a scalar:
    ``T^2 * mean_n KL(softmax(z_t(n) / T) || softmax(z_s(n) / T))``; the teacher gets no gradient.

    The T^2 factor keeps gradient magnitudes comparable across temperatures. Used for MaKD's
    extensions (distilling MLLM class logits; classical teacher KD).
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits differ in shape: {tuple(student_logits.shape)} vs "
                         f"{tuple(teacher_logits.shape)}")
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2


# --- SimCLR -------------------------------------------------------------------------------------

def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss, a scalar (mean over the 2N views).

    With z = normalise([z1; z2]) [2N, D] and s(i, j) = z_i . z_j / tau, for view i with partner p(i):
    ``l(i) = -log( exp(s(i, p(i))) / sum_{j != i} exp(s(i, j)) )``.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 differ in shape: {tuple(z1.shape)} vs {tuple(z2.shape)}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # [2N, D]
    sim = z @ z.T / temperature  # [2N, 2N]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)  # [2N]
    return F.cross_entropy(sim, partner)


# --- metrics ------------------------------------------------------------------------------------

@torch.no_grad()
def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, topk: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy in percent, ``{"top1": ..., "top5": ...}``; k larger than C counts as C."""
    num_classes = logits.shape[1]
    kmax = min(max(topk), num_classes)
    pred = logits.topk(kmax, dim=1).indices  # [N, kmax]
    hit = pred == labels.view(-1, 1)  # [N, kmax]
    return {f"top{k}": 100.0 * hit[:, : min(k, num_classes)].any(1).double().mean().item() for k in topk}


@torch.no_grad()
def class_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int,
                   topk: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy (percent) on the C class logits only; MaKD's aspect logits never compete."""
    if not 1 <= num_classes <= logits.shape[1]:
        raise ValueError(f"num_classes must be in [1, {logits.shape[1]}] for logits {tuple(logits.shape)}, "
                         f"got {num_classes}")
    return topk_accuracy(logits[:, :num_classes], labels, topk)
