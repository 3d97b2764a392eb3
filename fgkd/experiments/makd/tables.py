"""Running MaKD grids into tables (mean and spread over seeds), the tables beside the paper's, the
zero-shot MLLM row and the cost table."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fgkd.experiments.common import PER_SEED, SD
from fgkd.experiments.common import run_table as common_run_table
from fgkd.experiments.makd.grids import Grid, main_grid
from fgkd.experiments.makd.recipe import BASE, OURS, WORLD_ANALOGUES, Recipe
from fgkd.methods import MakdConfig


def run_table(grid: Grid, index: str | Sequence[str] | None = None, seeds: Sequence[int] | None = None, *,
              log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """One row per grid point over ``seeds``: ``top1``, ``top5``, ``aspect_agreement`` (% of test
    P(yes) on the scorer's side of 0.5; NaN without aspects) and the test size ``n_test``, each as
    the mean, ``"<m> sd"`` and ``"<m> per seed"``; ``seeds``. ``index`` names the key's parts (a
    tuple key gives a MultiIndex)."""
    def row(run: Any) -> dict[str, float]:
        m = run.metrics
        row = {"top1": float(m["top1"]), "top5": float(m["top5"]),
               "aspect_agreement": float(m.get("aspect_agreement", float("nan"))),
               "n_test": float(len(run.arrays("test")["labels"]))}
        if getattr(run.cfg, "track_test", False):  # also the best test epoch, labelled: what the authors report
            row["top1 (best test epoch)"] = float(m["top1_best"])
        return row

    return common_run_table(grid, index, row, seeds, log=log)


def base_curve(cfg: MakdConfig, epochs: int, seeds: Sequence[int] = (0,)) -> pd.DataFrame:
    """Has Base converged? The test Top-1 after every epoch of Base runs (``cfg`` with alpha = 0 and
    ``track_test``) trained for ``epochs`` (longer than the recipe, to show where its epochs sit on
    the curve), one column per seed, and the training loss, by epoch. Tracking the test accuracy
    draws no randomness, so it changes nothing in the training."""
    from fgkd.experiments.makd.grids import base_config
    from fgkd.runs import get_or_train

    if epochs < 1:
        raise ValueError(f"base_curve needs epochs >= 1, got {epochs}")
    columns: dict[str, list[float]] = {}
    for seed in seeds:
        history = get_or_train(base_config(cfg).replace(track_test=True, epochs=epochs, seed=seed)).history
        columns[f"test top-1, seed {seed}"] = [float(h["test_top1"]) for h in history]
        columns[f"training loss, seed {seed}"] = [float(h["loss"]) for h in history]
    return pd.DataFrame(columns, index=pd.RangeIndex(1, epochs + 1, name="epoch"))


def gap_table(runs: pd.DataFrame, method_level: str = "method") -> pd.DataFrame:
    """Base, Ours (mean top-1 over seeds) and ``Gap = Ours - Base`` per the other index levels, with
    the seed spread of the gap: ``"Gap sd"`` and ``"Gap per seed"`` (paired: the same seed on both
    sides), and ``"Base per seed"`` / ``"Ours per seed"``."""
    order = runs.index.droplevel(method_level).unique()  # unstack sorts; keep the grid's order
    per_seed = runs["top1" + PER_SEED].unstack(method_level).reindex(order)
    seeds = runs["seeds"].unstack(method_level).reindex(order)
    missing = [m for m in (BASE, OURS) if m not in per_seed.columns]
    if missing:
        raise KeyError(f"gap_table needs {BASE} and {OURS} rows; missing {missing}")
    rows = []
    for key in order:
        base, ours = per_seed.loc[key, BASE], per_seed.loc[key, OURS]
        gap = [o - b for o, b in zip(ours, base)]
        rows.append({BASE: float(np.mean(base)), OURS: float(np.mean(ours)), "Gap": float(np.mean(gap)),
                     "Gap" + SD: float(np.std(gap, ddof=1)) if len(gap) > 1 else float("nan"),
                     "Gap" + PER_SEED: tuple(gap), BASE + PER_SEED: tuple(base), OURS + PER_SEED: tuple(ours),
                     "seeds": seeds.loc[key, OURS]})
    return pd.DataFrame(rows, index=order)


def zero_shot_accuracy(cfg: MakdConfig, mllm_teacher: str | None = None) -> float:
    """Top-1 (%) of the zero-shot classifier standing in for MaKD's MLLM, on ``cfg``'s test split.

    ``mllm_teacher`` (a CLIP teacher name): argmax of its ``logit_scale * cos(image, "a photo of a
    {class}.")``; None: the ``vlm`` scorer's zero-shot class log-likelihoods. Cached with the
    teacher outputs. NaN for the oracle scorer (it is not a model and cannot classify).
    """
    from fgkd.data.splits import load_split
    from fgkd.methods.makd import zero_shot_logits
    from fgkd.train.engine import resolve_device

    if mllm_teacher is None and cfg.scorer != "vlm":
        return float("nan")
    cfg = cfg.replace(mllm_teacher=mllm_teacher)
    test = load_split(cfg, "test")
    if mllm_teacher is not None:
        from fgkd.teachers import get_teacher

        teacher = get_teacher(mllm_teacher, device=str(resolve_device(cfg.device)))
        logits = zero_shot_logits(cfg, test, "test", mllm_teacher=teacher)
    else:
        from fgkd.scorers import get_scorer

        logits = zero_shot_logits(cfg, test, "test", scorer=get_scorer(cfg.scorer, **cfg.scorer_options))
    labels = np.asarray(test.targets)
    return float(100.0 * np.mean(logits.argmax(axis=1) == labels))


def main_table(recipe: Recipe, datasets: Sequence[str], backbones: Sequence[str], *,
               log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Tables 1-2 at the recipe's scale: index ``(dataset, paper dataset, backbone)``, columns
    ``Base, Ours, Gap, Gap sd, MLLM`` and the per-seed columns of :func:`gap_table`; MLLM is the
    zero-shot accuracy of :meth:`Recipe.zero_shot_teacher` or the vlm scorer (NaN without one; it
    does not depend on the training seed)."""
    runs = run_table(main_grid(recipe, datasets, backbones), ("dataset", "backbone", "method"),
                     recipe.seed_list, log=log)
    table = gap_table(runs)
    zero_shot = {d: zero_shot_accuracy(recipe.config(d), recipe.zero_shot_teacher()) if recipe.has_zero_shot
                 else float("nan") for d in datasets}
    table["MLLM"] = [zero_shot[d] for d in table.index.get_level_values("dataset")]
    table.index = pd.MultiIndex.from_tuples(
        [(d, WORLD_ANALOGUES.get(d, d), b) for d, b in table.index], names=["dataset", "paper dataset", "backbone"])
    return table[[BASE, OURS, "Gap", "Gap" + SD, "MLLM", "Gap" + PER_SEED, BASE + PER_SEED, OURS + PER_SEED, "seeds"]]


def paper_main(paper_datasets: Iterable[str], backbones: Iterable[str]) -> pd.DataFrame:
    """MaKD Tables 1 and 2 rows for ``paper_datasets`` x ``backbones`` (those the paper has),
    indexed ``(paper dataset, backbone)``, columns ``Base, Ours, Gap, MLLM``."""
    from fgkd.reference import paper_table

    both = pd.concat([paper_table("makd", "table1"), paper_table("makd", "table2")])
    wanted = [(d, b) for d in paper_datasets for b in backbones if (d, b) in both.index]
    out = both.loc[wanted, [BASE, OURS, "Gap", "MLLM"]] if wanted else both.iloc[:0][[BASE, OURS, "Gap", "MLLM"]]
    out.index = out.index.set_names(["paper dataset", "backbone"])
    return out


def align_paper(kit: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's rows re-indexed like ``kit`` ``(dataset, paper dataset, backbone)``, so each kit
    row stands beside the paper's row of the dataset it stands in for."""
    rows = []
    for dataset, paper_dataset, backbone in kit.index:
        key = (paper_dataset, backbone)
        row = paper.loc[key] if key in paper.index else pd.Series(index=paper.columns, dtype=float)
        rows.append(row.rename((dataset, paper_dataset, backbone)))
    out = pd.DataFrame(rows, columns=paper.columns)
    out.index = pd.MultiIndex.from_tuples(list(kit.index), names=kit.index.names)
    return out


def alpha_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 3c's plot data from one backbone's ablation runs (index ``(part, setting)``): index
    ``alpha`` (0 = Base), columns top1 (mean over seeds), ``top1 sd`` and ``top1 per seed``."""
    part = runs.xs("c", level="part")[["top1", "top1" + SD, "top1" + PER_SEED]].copy()
    part.index = pd.Index([float(a) for a in part.index], name="alpha")
    return part.sort_index()


ABLATION_PARTS = {"a": "loss on the aspect logits", "b": "targets", "c": "alpha", "d": "question writer / scorer"}


def ablation_views(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Table 3 laid out as in the paper: per part a, b, c, d, rows = backbones, columns = Base then
    the part's settings (top-1). ``runs`` is indexed ``(backbone, part, setting)``."""
    views = {}
    base = runs.xs(("base", BASE), level=("part", "setting"))["top1"].rename(BASE)
    for part in ABLATION_PARTS:
        if part not in runs.index.get_level_values("part"):
            continue
        top1 = runs.xs(part, level="part")["top1"]
        order = list(dict.fromkeys(top1.index.get_level_values("setting")))
        backbones = list(dict.fromkeys(top1.index.get_level_values("backbone")))
        view = top1.unstack("setting").reindex(index=backbones, columns=order)  # the grid's order
        if part != "c":  # alpha 0 is already the Base column of the sweep
            view.insert(0, BASE, base.reindex(view.index))
        view.columns = [str(c) if part != "c" else f"alpha={c:g}" for c in view.columns]
        views[part] = view
    return views


def cost_table(runs: Mapping[str, Any]) -> pd.DataFrame:
    """Section 5.5 from finished runs ``{method: Run}``: parameters (M), training seconds per epoch
    and inference seconds over the test split, as measured when each run was trained."""
    rows = {}
    for method, run in runs.items():
        m = run.metrics
        rows[method] = {"params (M)": m["num_parameters"] / 1e6, "train s/epoch": m["seconds_per_epoch"],
                        "inference s": m["inference_seconds"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table


def paper_cost() -> pd.DataFrame:
    """The paper's section 5.5 numbers (StanfordCars, ResNet18, 50 aspects) in :func:`cost_table`'s shape."""
    from fgkd.reference import paper_value

    table = pd.DataFrame.from_dict({
        BASE: {"params (M)": paper_value("makd", "params_base_m"),
               "train s/epoch": paper_value("makd", "train_s_per_epoch_base"),
               "inference s": paper_value("makd", "inference_s_base")},
        OURS: {"params (M)": paper_value("makd", "params_ours_m"),
               "train s/epoch": paper_value("makd", "train_s_per_epoch_ours"),
               "inference s": paper_value("makd", "inference_s_ours")},
    }, orient="index")
    table.index.name = "method"
    return table


def overhead(table: pd.DataFrame) -> pd.Series:
    """Ours relative to Base per column, in percent: ``100 * (Ours / Base - 1)``."""
    return (100.0 * (table.loc[OURS] / table.loc[BASE] - 1.0)).rename("Ours vs Base (%)")
