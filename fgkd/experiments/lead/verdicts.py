"""LEAD's verdicts: does the paper's direction hold in a table? One :class:`Verdict` each, its
sentence computed from the numbers."""

from __future__ import annotations

import math
from typing import Hashable, Sequence

import numpy as np

from fgkd.experiments.common import Verdict


def _fmt(x: float) -> str:
    # Percent metrics read well with 2 decimals; scores in [-1, 1] (silhouette, entropy) need 3.
    return f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}"



def verdict_beats(table, better: str, worse: str, *, level: str = "method", metric: str = "Top-1") -> Verdict:
    """``better`` > ``worse`` in ``metric`` for every value of the table's other index level
    (e.g. LEAD vs MoCo v2 per benchmark, or per training-set size)."""
    wide = table[metric].unstack(level)
    wins = wide[better] > wide[worse]
    n, k = len(wide), int(wins.sum())
    what = wide.index.name or "row"
    what = what if n == 1 or what.endswith("s") else what + "s"
    gaps = ", ".join(f"{i}: {_fmt(b)} vs {_fmt(w)}" for i, b, w in zip(wide.index, wide[better], wide[worse]))
    if k == n:
        text = f"{better} beats {worse} on {k}/{n} {what} in {metric} ({gaps})."
    elif k:
        text = f"{better} beats {worse} on only {k}/{n} {what} in {metric} ({gaps})."
    else:
        text = f"{better} does NOT beat {worse} on any of {n} {what} in {metric} ({gaps})."
    # kit: the smallest gap, > 0 exactly when ``better`` wins on every row
    return Verdict(f"{better} beats {worse} in {metric} on every {wide.index.name or 'row'}",
                   float((wide[better] - wide[worse]).min()), unit=f"{metric} points", text=text)



def verdict_trend(series, *, decreasing: bool, what: str, order: Sequence[Hashable] | None = None) -> Verdict:
    """Whether ``series`` ends lower (``decreasing``) or higher than it starts, in index order or in
    ``order`` (e.g. teachers from weakest to strongest); the sentence also says whether every step
    goes that way (monotonic)."""
    s = series.sort_index() if order is None else series.loc[list(order)]
    steps = np.diff(s.to_numpy(dtype=float))
    monotonic = bool(np.all(steps <= 0)) if decreasing else bool(np.all(steps >= 0))
    first, last = float(s.iloc[0]), float(s.iloc[-1])
    holds = last < first if decreasing else last > first
    direction = "decreases" if decreasing else "increases"
    values = ", ".join(f"{i}: {_fmt(v)}" for i, v in s.items())
    if holds and monotonic:
        text = f"{s.name} {direction} monotonically with {what} here ({values})."
    elif holds:
        text = f"{s.name} {direction} overall with {what} but NOT monotonically here ({values})."
    else:
        text = f"{s.name} does NOT {direction[:-1]} with {what} here ({values})."
    return Verdict(f"{s.name} {direction} with {what}", first - last if decreasing else last - first,
                   unit=f"{s.name} points", text=text)



def verdict_best(series, expected: Hashable, *, what: str) -> Verdict:
    """Whether the best row of ``series`` is ``expected`` (e.g. LEAD in Table 5)."""
    best = series.idxmax()
    values = ", ".join(f"{i}: {_fmt(v)}" for i, v in series.sort_values(ascending=False).items())
    others = series.drop(index=expected)
    claim = f"{expected} has the best {series.name} among {what}"
    # kit: the lead over the best other row (> 0 exactly when ``expected`` is the best; a tie is no lead)
    lead = float(series[expected] - others.max()) if len(others) else 1.0
    if best == expected:
        return Verdict(claim, lead if lead > 0 else math.ulp(0.0), unit=f"{series.name} points",
                       text=f"{expected} has the best {series.name} among {what} here ({values}).")
    return Verdict(claim, min(lead, 0.0), unit=f"{series.name} points",
                   text=f"{expected} does NOT have the best {series.name} among {what} here; {best} does ({values}).")



def verdict_close(a: float, b: float, *, names: tuple[str, str], reference_gap: float, reference: str,
                  metric: str = "Top-1") -> Verdict:
    """Whether two arms differ by less than ``reference_gap`` points (e.g. LEAD's gain over MoCo v2)."""
    gap = abs(a - b)
    holds = gap < reference_gap
    word = "smaller" if holds else "NOT smaller"
    return Verdict(f"{names[0]} and {names[1]} differ by less than {reference}", reference_gap - gap,
                   unit=f"{metric} points",
                   text=f"{names[0]} and {names[1]} differ by {_fmt(gap)} {metric} points ({_fmt(a)} vs {_fmt(b)}), "
                        f"{word} than {reference} ({_fmt(reference_gap)} points).")
