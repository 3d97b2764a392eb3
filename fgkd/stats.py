"""Uncertainty over seeds: the statistics every verdict of fgkd is read from.

A claim of a paper is checked on per-seed values of one measured quantity, oriented so that a
positive value is the paper's direction:

- a **difference** claim ("LEAD beats MoCo v2"): the paired difference ``a_s - b_s`` of the two
  arms trained with the same seed ``s`` (the same data order and initialisation);
- a **trend** claim ("more words removed, lower accuracy"): the Spearman rank correlation of the
  metric with the varied quantity, computed within each seed, signed so that the paper's
  direction is positive.

The 95 % interval is a paired t interval over the seeds (``mean +- t_{0.975, n-1} * sd / sqrt(n)``,
``scipy.stats.t``). The status is ``holds`` when the interval excludes 0 on the positive side,
``contradicted`` when it excludes 0 on the negative side, ``inconclusive`` otherwise (also with a
single seed, which has no interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

LEVEL = 0.95
METHOD_T = "paired t interval over seeds"
METHOD_SPEARMAN = "per-seed Spearman rank correlation, t interval over seeds"
STATUSES = ("holds", "contradicted", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """Mean of per-seed values with its two-sided ``level`` t interval (NaN ends with one seed)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def status(self) -> str:
        if self.n >= 2 and self.low > 0:
            return "holds"
        if self.n >= 2 and self.high < 0:
            return "contradicted"
        return "inconclusive"


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The t interval of the mean of ``values`` (one per seed; NaN values are an error)."""
    from scipy import stats

    x = np.asarray(list(values), dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"t_interval needs a non-empty list of per-seed values, got {values!r}")
    if np.isnan(x).any():
        raise ValueError(f"t_interval: a per-seed value is NaN ({x.tolist()}); check the runs behind it")
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan, len(x), level)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(mean, mean - half, mean + half, len(x), level)


def paired_differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``a_s - b_s`` per seed (the two lists in the same seed order)."""
    if len(a) != len(b):
        raise ValueError(f"paired differences need the same seeds on both sides, got {len(a)} and {len(b)} values")
    return [float(x) - float(y) for x, y in zip(a, b)]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``y`` with ``x`` (``scipy.stats.spearmanr``); 0 when ``y`` is constant."""
    from scipy import stats

    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"spearman needs two equally long lists of >= 2 values, got {len(x)} and {len(y)}")
    if np.ptp(np.asarray(y, dtype=float)) == 0:
        return 0.0
    return float(stats.spearmanr(x, y).statistic)
