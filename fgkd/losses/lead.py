"""LEAD's losses (supplement, section 11): MoCo's InfoNCE, the category-wise KL from the CLIP
teacher's distribution over the description prototypes, and the entropy-adaptive weights.

Symbols: N batch size, D embedding dim, K queue size, C categories. Teacher outputs, prototypes,
keys and the queue never receive gradients: each function detaches them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WEIGHTINGS = ("entropy", "fixed", "linear", "none")


def _check_probs(probs: torch.Tensor, name: str) -> None:
    if probs.dim() != 2 or probs.shape[1] < 2:
        raise ValueError(f"{name} must be [N, C] with C >= 2, got shape {tuple(probs.shape)}")
    sums = probs.detach().sum(1)
    if (probs.detach() < 0).any() or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise ValueError(f"{name} must be probabilities (non-negative rows summing to 1); pass softmax "
                         "outputs, not logits")


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


def reference_beta_to_fgkd(beta_ref: float, batch_size: int, num_classes: int, world_size: int = 1) -> float:
    """``beta = beta_ref * (N / W) / C``: the ``lead_loss`` beta whose gradient equals the reference code's.

    The reference (HuiGuanLab/LEAD-pp) runs W data-parallel processes; each SUMS its KD term over
    its N / W samples (KD itself averaged over the C classes) and DDP averages the gradients over
    the W processes, so its KD gradient is ``beta_ref / (W C) * sum over all N samples``, while
    ``lead_loss`` takes ``beta / N * sum over the N samples``. ``batch_size`` is the global N.
    E.g. the run script's beta_ref = 20, N = 64 over its default W = 2 processes, C = 200 (CUB):
    beta = 3.2; on one process, 6.4. It scales with 1 / C, so it differs per dataset and with the
    number of categories (Figure 3).
    """
    if batch_size < 1 or num_classes < 1 or world_size < 1:
        raise ValueError(f"batch_size, num_classes and world_size must be >= 1, got {batch_size}, {num_classes}, "
                         f"{world_size}")
    if batch_size % world_size:
        raise ValueError(f"batch_size {batch_size} does not split evenly over world_size {world_size} processes")
    return beta_ref * (batch_size / world_size) / num_classes


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
    category_temperature: float,
    weighting: str = "entropy",
) -> dict[str, torch.Tensor]:
    """LEAD's objective: ``L = mean_n [ w_cl(n) * alpha * L_cl(n) + beta * w_kd(n) * KL(n) ]``.

    ``L_cl`` is ``info_nce`` (tau = moco_temperature), ``KL`` is ``category_kl`` (T = category_temperature).
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
    for ``alpha = alpha_ref`` and ``beta = beta_ref * N / C`` on one process, ``beta_ref * (N / W) / C``
    over W data-parallel processes (``reference_beta_to_fgkd``); the reference's KD strength grows
    with its per-process batch size, ours does not.

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
        kl = category_kl(student_feat, teacher_probs, prototypes, category_temperature)  # [N]
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
