"""LEAD's verdicts: does the paper's direction hold in a table, given the seed-to-seed spread?

Each function reads a table of :func:`fgkd.experiments.lead.run_table` (per-seed columns
``"<metric> per seed"``) and returns :class:`~fgkd.experiments.common.Verdict` records whose
per-seed values are oriented so that positive is the paper's direction (paired differences, or
rank correlations for trends); the status comes from the 95 % t interval over seeds.
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np

from fgkd.experiments.common import PER_SEED, Verdict


def _fmt(x: float) -> str:
    # Percent metrics read well with 2 decimals; scores in [-1, 1] (silhouette, entropy) need 3.
    return f"{x:.3f}" if abs(x) < 1 else f"{x:.2f}"


def _per_seed(table: Any, metric: str) -> Any:
    column = metric + PER_SEED
    if column not in table.columns:
        raise KeyError(f"the table has no per-seed column {column!r}: pass the table of lead.run_table")
    return table[column]


def verdict_beats(table: Any, better: str, worse: str, *, level: str = "method", metric: str = "Top-1",
                  paper: dict[Hashable, float] | None = None) -> list[Verdict]:
    """``better`` > ``worse`` in ``metric``, one verdict per value of the table's other index level
    (e.g. LEAD vs MoCo v2 on each benchmark, or at each training-set size): the paired per-seed
    difference. ``paper``: the paper's difference per row value, where it has one."""
    values = _per_seed(table, metric)
    if table.index.nlevels == 1:
        groups = {None: values}
    else:
        groups = {k: values.xs(k, level=[n for n in table.index.names if n != level][0])
                  for k in table.index.droplevel(level).unique()}
    out = []
    for where, rows in groups.items():
        b, w = list(rows.loc[better]), list(rows.loc[worse])
        at = f" on {where}" if where is not None else ""
        text = f"{better} {_fmt(float(np.mean(b)))} vs {worse} {_fmt(float(np.mean(w)))} (means over seeds)."
        out.append(Verdict.paired(f"{better} beats {worse} in {metric}{at}", b, w, unit=f"{metric} points",
                                  paper=None if paper is None else paper.get(where), text=text))
    return out


def verdict_trend(table: Any, metric: str, *, decreasing: bool, what: str,
                  order: Sequence[Hashable] | None = None) -> Verdict:
    """Whether ``metric`` falls (``decreasing``) or rises with the table's index (numeric), or along
    ``order`` (e.g. teachers from weakest to strongest): Spearman's rho within each seed."""
    values = _per_seed(table, metric)
    if order is not None:
        values = values.loc[list(order)]
        x = list(range(len(values)))
    else:
        values = values.sort_index()
        x = [float(v) for v in values.index]
    per_seed = np.array([list(v) for v in values]).T  # [seeds, points]
    means = ", ".join(f"{i}: {_fmt(float(np.mean(v)))}" for i, v in values.items())
    direction = "falls" if decreasing else "rises"
    return Verdict.trend(f"{metric} {direction} with {what}", x, per_seed.tolist(), increasing=not decreasing,
                         text=f"Means over seeds: {means}.")


def verdict_best(table: Any, metric: str, expected: Hashable, *, what: str) -> Verdict:
    """Whether ``expected`` has the best ``metric`` among the table's rows: per seed, its value
    minus the best other row's."""
    values = _per_seed(table, metric)
    mine = np.array(values.loc[expected], dtype=float)
    others = np.array([list(v) for k, v in values.items() if k != expected], dtype=float)  # [rows, seeds]
    lead = mine - others.max(axis=0)
    means = ", ".join(f"{k}: {_fmt(float(np.mean(v)))}" for k, v in values.items())
    return Verdict(f"{expected} has the best {metric} among {what}", tuple(lead), unit=f"{metric} points",
                   text=f"Means over seeds: {means}.")


def verdict_close(table: Any, metric: str, a: Hashable, b: Hashable, *, reference_gap: float,
                  reference: str) -> Verdict:
    """Whether two arms differ by less than ``reference_gap`` points (e.g. LEAD's gain over MoCo v2):
    per seed, ``reference_gap - |a_s - b_s|``."""
    values = _per_seed(table, metric)
    gaps = np.abs(np.array(values.loc[a], dtype=float) - np.array(values.loc[b], dtype=float))
    return Verdict(f"{a} and {b} differ by less than {reference} in {metric}", tuple(reference_gap - gaps),
                   unit=f"{metric} points",
                   text=f"Mean |gap| {_fmt(float(gaps.mean()))} against {reference} {_fmt(reference_gap)}.")
