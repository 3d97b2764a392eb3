"""Losses of LEAD, MaKD and the baselines, each a short pure function on tensors whose docstring
gives the formula in the paper's symbols (one file per paper: ``lead``, ``makd``, ``simclr``).

Accuracy metrics live in :mod:`fgkd.eval`.
"""

from fgkd.losses.lead import (WEIGHTINGS, category_kl, category_log_probs, entropy_weights, info_nce, lead_loss,
                              normalized_entropy, reference_beta_to_fgkd)
from fgkd.losses.makd import ASPECT_LOSSES, kd_loss, makd_detection_loss, makd_loss
from fgkd.losses.simclr import nt_xent

__all__ = ["ASPECT_LOSSES", "WEIGHTINGS", "category_kl", "category_log_probs", "entropy_weights", "info_nce",
           "kd_loss", "lead_loss", "makd_detection_loss", "makd_loss", "normalized_entropy", "nt_xent", "reference_beta_to_fgkd"]
