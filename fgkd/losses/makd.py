"""MaKD's loss (eq. 4-6) and Hinton's logit distillation (MaKD's KD extensions, Table 4 and 6).

Symbols: N batch size, C classes, Q aspect questions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ASPECT_LOSSES = ("bce", "kl")


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


def makd_detection_loss(detector_losses: dict[str, torch.Tensor], aspect_logits: torch.Tensor | None,
                        aspect_targets: torch.Tensor | None, alpha: float) -> dict[str, torch.Tensor]:
    """MaKD's detection extension (section 4.4, Table 7): ``L = L_det + alpha * L_MaKD``.

    ``L_det = sum_k L_k`` over the Faster R-CNN's own terms (RPN objectness and box regression,
    RoI classification and box regression); ``L_MaKD = mean_{n, i} BCE(y_hat[n, i], q[n, i])`` on
    the ``[N, Q]`` aspect logits against the MLLM's image-level P(yes) ``q`` (eq. 5, averaged as in
    :func:`makd_loss`). ``aspect_logits`` None (``Q = 0``) is the plain detector ("Base").

    Returns ``{"total", "detector", "aspect", <each detector term>}``; only total has the gradient.
    """
    detector = sum(detector_losses.values())
    terms = {k: v.detach() for k, v in detector_losses.items()}
    if aspect_logits is None:
        return {"total": detector, "detector": detector.detach(), **terms}
    if aspect_targets is None or aspect_targets.shape != aspect_logits.shape:
        got = None if aspect_targets is None else tuple(aspect_targets.shape)
        raise ValueError(f"aspect_targets must match the aspect logits {tuple(aspect_logits.shape)}, got {got}")
    aspect = F.binary_cross_entropy_with_logits(aspect_logits.float(), aspect_targets.detach().float())
    return {"total": detector + alpha * aspect, "detector": detector.detach(), "aspect": aspect.detach(), **terms}
