"""Figures drawn from the tables every notebook builds, each with the seed spread it rests on.

A table from ``run_table`` has, per metric ``m``, the mean over seeds (``m``), its sample s.d.
(``"m sd"``) and the per-seed values (``"m per seed"``, in the order of the ``seeds`` column).
The figures show exactly that: the mean, a band or error bar of one s.d. over the seeds
(labelled as such, never a test-set standard error) and every seed as a dot.

- :func:`seed_curves`: a metric against a swept value (word removal, text length, aspect count).
- :func:`paired_bars`: methods side by side per benchmark, each seed's values joined by a line so
  the pairing a verdict tests is visible.
- :func:`training_curves`: the loss terms per epoch from each run's ``history.json``.
- :func:`describe`: the alternative text of a figure (its titles, axes and legend), which
  :func:`enable_alt_text` attaches to every figure a notebook shows, so the HTML reports carry it.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

SD = " sd"
PER_SEED = " per seed"
TIMING_TERMS = frozenset({"epoch", "seconds", "images_per_second", "lr"})  # history keys that are not losses
KIT_COLOUR, PAPER_COLOUR = "tab:blue", "0.45"
MAX_PANELS = 4  # training curves: the total loss and at most three of its terms


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def n_seeds(table: Any) -> int:
    """How many seeds a table's means are over (1 when it has no ``seeds`` column)."""
    return len(table["seeds"].iloc[0]) if "seeds" in table.columns and len(table) else 1


def spread_label(n: int) -> str:
    return f"±1 s.d. over {n} seeds" if n > 1 else "one seed (no spread)"


def _column(table: Any, name: str) -> np.ndarray:
    if name not in table.columns:
        return np.full(len(table), np.nan)
    return table[name].to_numpy(dtype=np.float64)


def _per_seed(table: Any, metric: str) -> list[tuple[float, ...]]:
    column = metric + PER_SEED
    return [tuple(v) for v in table[column]] if column in table.columns else [() for _ in range(len(table))]


def _check_metrics(table: Any, metrics: Sequence[str]) -> list[str]:
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in metrics if m not in table.columns]
    if missing or not metrics:
        raise KeyError(f"metrics {missing or metrics} are not columns of the table; it has {list(table.columns)}")
    return metrics


def seed_curves(table: Any, metrics: str | Sequence[str], *, x_label: str, paper: Any = None,
                paper_label: str = "paper", title: str | None = None, increasing_x: bool = True):
    """One panel per metric: its mean over seeds against the table's (numeric) index, a band of
    ±1 s.d. over seeds and each seed's value as a dot; the paper's values, where ``paper`` (a
    DataFrame on the same index values) has the metric, on a second y axis (another scale)."""
    plt = _pyplot()
    metrics = _check_metrics(table, metrics)
    order = np.argsort(np.asarray(table.index, dtype=np.float64))
    if not increasing_x:
        order = order[::-1]
    table = table.iloc[order]
    x = np.asarray(table.index, dtype=np.float64)
    n = n_seeds(table)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.3 * len(metrics), 3.3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        mean, sd = _column(table, metric), _column(table, metric + SD)
        ax.plot(x, mean, "o-", color=KIT_COLOUR, label="fgkd, mean")
        if n > 1:
            ax.fill_between(x, mean - sd, mean + sd, color=KIT_COLOUR, alpha=0.2, label=spread_label(n))
        for xi, values in zip(x, _per_seed(table, metric)):
            ax.plot([xi] * len(values), values, ".", color=KIT_COLOUR, alpha=0.45, ms=4)
        handles, labels = ax.get_legend_handles_labels()
        if paper is not None and metric in getattr(paper, "columns", ()):
            known = paper[metric].dropna()
            if len(known):
                twin = ax.twinx()
                twin.plot(np.asarray(known.index, dtype=np.float64), known.to_numpy(dtype=np.float64), "s--",
                          color=PAPER_COLOUR, label=paper_label)
                twin.set_ylabel(f"paper {metric}", color=PAPER_COLOUR)
                more_handles, more_labels = twin.get_legend_handles_labels()
                handles, labels = handles + more_handles, labels + more_labels
        ax.set_xlabel(x_label)
        ax.set_ylabel(f"fgkd {metric}")
        ax.set_title(f"{metric} against {x_label}")
        ax.legend(handles, labels, fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _labels(index: Any) -> list[str]:
    return [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in index]


def paired_bars(table: Any, metric: str, *, hue: str | None = None, title: str | None = None,
                ylabel: str | None = None, paper: Mapping[Hashable, float] | None = None):
    """Bars of ``metric`` (mean over seeds, error bar ±1 s.d.), grouped by the table's first index
    level when ``hue`` names its second (e.g. benchmark x method), and each seed's values joined
    by a thin line across a group so the paired differences are visible. ``paper`` maps row keys
    to the paper's value, drawn as a marker on a second axis (another scale)."""
    plt = _pyplot()
    _check_metrics(table, [metric])
    n = n_seeds(table)
    if hue is not None:
        if hue not in (table.index.names or []) or table.index.nlevels != 2:
            raise KeyError(f"hue={hue!r}: the table needs a two-level index with that level; it has {table.index.names}")
        level = list(table.index.names).index(hue)
        groups = list(dict.fromkeys(k[1 - level] for k in table.index))
        hues = list(dict.fromkeys(k[level] for k in table.index))
        key = (lambda g, h: (g, h)) if level == 1 else (lambda g, h: (h, g))
    else:
        groups, hues, key = [None], list(table.index), (lambda g, h: h)
    width = 0.8 / max(len(hues), 1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) * len(hues) + 1.5), 3.4))
    twin = None
    for gi, group in enumerate(groups):
        seed_x, seed_y = [], []
        for hi, name in enumerate(hues):
            k = key(group, name)
            if k not in table.index:
                continue
            row = table.loc[[k]]
            x = gi + (hi - (len(hues) - 1) / 2) * width
            sd = float(row[metric + SD].iloc[0]) if metric + SD in row.columns else math.nan
            ax.bar(x, float(row[metric].iloc[0]), width * 0.9, color=colours[hi % len(colours)],
                   yerr=sd if n > 1 and math.isfinite(sd) else None, capsize=3,
                   label=str(name) if gi == 0 else None)
            values = _per_seed(row, metric)[0]
            seed_x.append(x)
            seed_y.append(values)
            if paper is not None and paper.get(k) is not None and math.isfinite(float(paper[k])):
                twin = twin or ax.twinx()
                twin.plot([x], [float(paper[k])], "D", color=PAPER_COLOUR, ms=5,
                          label="paper" if not twin.get_legend_handles_labels()[0] else None)
        if len(seed_x) > 1 and seed_y and all(len(v) == len(seed_y[0]) for v in seed_y):
            for s in range(len(seed_y[0])):
                ax.plot(seed_x, [v[s] for v in seed_y], "-", color="0.2", alpha=0.35, lw=0.8)
        for x, values in zip(seed_x, seed_y):
            ax.plot([x] * len(values), values, ".", color="0.15", ms=4)
    if hue is not None:
        ax.set_xticks(range(len(groups)), [str(g) for g in groups])
    else:
        ax.set_xticks([(hi - (len(hues) - 1) / 2) * width for hi in range(len(hues))], _labels(hues),
                      rotation=20 if len(hues) > 4 else 0)
    ax.set_ylabel(ylabel or f"fgkd {metric}")
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:
        twin.set_ylabel(f"paper {metric}", color=PAPER_COLOUR)
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, fontsize=7, loc="best",
              title=f"bars: mean, {spread_label(n)}; dots/lines: seeds", title_fontsize=7)
    ax.set_title(title or f"{metric} per {hue or table.index.name or 'row'}")
    fig.tight_layout()
    return fig


def training_curves(runs: Mapping[Hashable, Sequence[Any]], *, terms: Sequence[str] | None = None,
                    title: str | None = None):
    """One panel per loss term of the runs' ``history`` (by default the total loss, then up to three
    other terms any arm logs; never timings): per arm, the mean over its seeds' runs per epoch and
    a band of ±1 s.d. over seeds."""
    plt = _pyplot()
    arms = {k: list(v) for k, v in runs.items() if len(v)}
    if not arms:
        raise ValueError("training_curves: no runs given")
    histories = {k: [r.history for r in rs] for k, rs in arms.items()}
    if terms is None:  # "loss" first, then every other term any arm logs (MoCo has no KD term, LEAD has)
        seen = dict.fromkeys(t for hs in histories.values() for h in hs for e in h[:1] for t in e
                             if t not in TIMING_TERMS)
        terms = (["loss"] if "loss" in seen else []) + [t for t in seen if t != "loss"]
        terms = terms[:MAX_PANELS]
    terms = list(terms)
    if not terms:
        raise ValueError("training_curves: the runs' history has no loss terms")
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 3.2), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for key, hs in histories.items():
            epochs = min(len(h) for h in hs)
            values = np.array([[e.get(term, np.nan) for e in h[:epochs]] for h in hs], dtype=np.float64)
            if np.isnan(values).all():
                continue
            x = np.arange(1, epochs + 1)
            mean = np.nanmean(values, axis=0)
            line, = ax.plot(x, mean, "o-", ms=3, label=_labels([key])[0])  # markers: a 1-epoch run shows too
            if len(hs) > 1:
                sd = np.nanstd(values, axis=0, ddof=1)
                ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.set_title(f"training {term}")
        ax.legend(fontsize=7, title=spread_label(max(len(h) for h in histories.values())), title_fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- alternative text -----------------------------------------------------------------------


def describe(figure: Any) -> str:
    """Alternative text for a matplotlib figure: its label (``fig.set_label``) if one was set,
    else its title, and per panel the title, axis labels and legend entries."""
    label = figure.get_label()
    if label and not label.startswith("_"):
        return label
    parts = []
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        parts.append(suptitle.get_text())
    visible = [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    panels = [ax for ax in visible if ax.get_title() or ax.get_xlabel()] or visible
    twins = [ax for ax in visible if ax not in panels]  # a second y axis (twinx) of a panel
    for ax in panels:
        bits = [t for t in (ax.get_title(),) if t]
        right = [t.get_ylabel() for t in twins if t.get_position().bounds == ax.get_position().bounds and t.get_ylabel()]
        axes_text = ", ".join(f"{axis}: {text}" for axis, text in (("x", ax.get_xlabel()), ("y", ax.get_ylabel()),
                                                                   ("right y", "; ".join(right))) if text)
        if axes_text:
            bits.append(f"({axes_text})")
        legend = ax.get_legend()
        if legend is not None:
            entries = [t.get_text() for t in legend.get_texts() if t.get_text()]
            if entries:
                bits.append("legend: " + ", ".join(entries))
        if bits:
            parts.append(" ".join(bits))
    kind = f"Figure with {len(panels)} panel{'s' if len(panels) != 1 else ''}"
    return kind + (": " + "; ".join(parts) if parts else "")


def _png_with_alt(figure: Any):
    """The inline backend's PNG of ``figure`` with its alternative text as the output's metadata."""
    from IPython.core.pylabtools import print_figure

    return print_figure(figure, "png", bbox_inches="tight"), {"alt": describe(figure)}


def enable_alt_text() -> bool:
    """In a Jupyter kernel, show every matplotlib figure with :func:`describe` as its alternative
    text (output metadata ``alt``, which the reports' HTML template writes into ``<img alt=...>``).
    Outside a kernel it does nothing; returns whether it is on."""
    if "IPython" not in sys.modules:  # not in a kernel (and no need to import IPython to know)
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    try:  # importing the inline backend configures its own formatter (if it is the backend): do that first
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:  # pragma: no cover - ipykernel depends on it
        pass
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_alt)
    return True
