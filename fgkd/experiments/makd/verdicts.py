"""MaKD's verdicts: does the paper's direction hold at this scale? One :class:`Verdict` per claim,
from per-seed paired differences (the same seed on both sides) and their 95 % interval over seeds."""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np
import pandas as pd

from fgkd.experiments.common import PER_SEED, Verdict, is_nan, num_classes
from fgkd.experiments.makd.grids import Source
from fgkd.experiments.makd.recipe import BASE, OURS
from fgkd.experiments.makd.tables import alpha_curve


def main_verdicts(table: pd.DataFrame, paper: pd.DataFrame) -> list[Verdict]:
    """Per row of :func:`main_table`: MaKD beats Base (the paper's gap beside it), and the trained
    Base beats the zero-shot "MLLM" (the paper's section 5.1 on fine-grained data)."""
    out = []
    for key, row in table.iterrows():
        dataset, paper_dataset, backbone = key
        where = f"{dataset}, {backbone}"
        paper_gap = paper.loc[key, "Gap"] if key in paper.index else None
        out.append(Verdict(f"MaKD beats Base ({where})", tuple(row["Gap" + PER_SEED]),
                           paper=None if paper_gap is None or is_nan(float(paper_gap)) else float(paper_gap)))
    for dataset in dict.fromkeys(table.index.get_level_values("dataset")):
        rows = table.xs(dataset, level="dataset")
        mllm = float(rows["MLLM"].iloc[0])
        if not is_nan(mllm):
            key = rows.index[0]
            paper_row = paper.xs(dataset, level="dataset") if dataset in paper.index.get_level_values("dataset") else None
            paper_diff = None
            if paper_row is not None and not paper_row.empty and not is_nan(float(paper_row["MLLM"].iloc[0])):
                paper_diff = float(paper_row["Base"].iloc[0] - paper_row["MLLM"].iloc[0])
            base = rows[BASE + PER_SEED].iloc[0]
            out.append(Verdict(f"Base ({key[1]}) beats the zero-shot MLLM stand-in on {dataset}",
                               tuple(b - mllm for b in base), paper=paper_diff,
                               text=f"The zero-shot stand-in is one fixed model: {mllm:.2f} % on every seed."))
    return out


TRAINED_FACTOR = 3.0  # a gap is read on a Base at least this many times chance (issue 18)


def chance_top1(cfg) -> float:
    """Top-1 (%) of guessing on ``cfg``'s dataset: 100 / its number of classes."""
    return 100.0 / num_classes(cfg)


def trained_verdicts(table: pd.DataFrame, chance: dict[str, float], factor: float = TRAINED_FACTOR) -> list[Verdict]:
    """Per row of :func:`main_table`: is Base trained well above chance (``factor`` x ``chance[dataset]``
    per seed) so that its gap to MaKD can be read? A precondition of the main table's claims, not a
    paper claim: where it fails, the gap beside it compares two barely trained classifiers."""
    out = []
    for (dataset, _, backbone), row in table.iterrows():
        bar = factor * chance[dataset]
        out.append(Verdict(f"Base is trained above {factor:g}x chance ({dataset}, {backbone}; precondition, not a "
                           "paper claim)", tuple(b - bar for b in row[BASE + PER_SEED]),
                           text=f"Chance {chance[dataset]:.2f} %, so the bar is {bar:.2f} %."))
    return out


def beats(table: pd.DataFrame, winner: Hashable, loser: Hashable, claim: str, *, column: str = "top1",
          paper: float | None = None) -> Verdict:
    """Verdict of ``winner`` > ``loser`` in ``column``: the paired per-seed differences."""
    return Verdict.paired(claim, table.loc[winner, column + PER_SEED], table.loc[loser, column + PER_SEED],
                          paper=paper)


def alpha_drop(curve: pd.DataFrame, at: float = 50.0) -> Verdict:
    """The paper's "performance decreases when alpha reaches 50": best accuracy below ``at`` minus
    the accuracy at ``at`` (positive = it drops)."""
    if at not in curve.index:
        raise KeyError(f"alpha {at} is not in the sweep {list(curve.index)}; add it to alphas")
    below = curve.loc[(curve.index > 0) & (curve.index < at), "top1" + PER_SEED]
    if below.empty:
        raise ValueError(f"the sweep needs an alpha between 0 and {at} to compare with")
    best_below = np.array([list(v) for v in below]).max(axis=0)  # per seed, the best alpha below ``at``
    return Verdict(f"accuracy drops at alpha = {at:g} (vs the best alpha below)",
                   tuple(best_below - np.array(curve.loc[at, "top1" + PER_SEED])))


def ablation_verdicts(runs: pd.DataFrame, sources: Sequence[Source] = (), drop_alpha: float = 50.0) -> list[Verdict]:
    """Table 3's directions on one backbone's runs (indexed ``(part, setting)``): MaKD beats Base,
    BCE beats KL (3a), real targets beat random ones (3b), accuracy drops at ``drop_alpha`` (3c, if
    swept) and each other question writer / scorer beats Base (3d); an upper-bound source (one
    whose note says so) is checked against Ours instead: a headroom check, not a paper claim."""
    verdicts = [beats(runs, ("base", OURS), ("base", BASE), "MaKD beats Base"),
                beats(runs, ("a", "BCE"), ("a", "KL"), "BCE beats KL on the aspect logits (3a)"),
                beats(runs, ("b", "real"), ("b", "random"), "the scorer's targets beat random ones (3b)")]
    curve = alpha_curve(runs)
    if drop_alpha in curve.index and ((curve.index > 0) & (curve.index < drop_alpha)).any():
        verdicts.append(alpha_drop(curve, drop_alpha))
    for source in sources:
        if "upper bound" in source.note:
            verdicts.append(beats(runs, ("d", source.label), ("base", OURS),
                                  f"{source.label} beats the scorer's targets (headroom check, not a paper claim)"))
        else:
            verdicts.append(beats(runs, ("d", source.label), ("base", BASE), f"{source.label} beats Base (3d)"))
    return verdicts


def trend(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of ``y`` with ``x`` (+1: rises monotonically), NaN if undefined."""
    if len(x) < 3 or np.std(y) == 0 or np.std(x) == 0:
        return float("nan")
    # Pearson correlation of the ranks (ties get their mean rank): Spearman's rho.
    return float(np.corrcoef(pd.Series(x).rank(), pd.Series(y).rank())[0, 1])


def trend_verdict(claim: str, table: pd.DataFrame, *, increasing: bool = True, column: str = "top1") -> Verdict:
    """Whether ``column`` rises (or falls) with the table's numeric index: Spearman's rho within
    each seed, its interval over seeds."""
    values = table[column + PER_SEED].sort_index()
    x = [float(v) for v in values.index]
    per_seed = np.array([list(v) for v in values]).T.tolist()  # [seeds, points]
    return Verdict.trend(claim, x, per_seed, increasing=increasing)
