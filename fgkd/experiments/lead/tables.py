"""Running LEAD grids into tables: one row per arm with LEAD's metrics (linear-probe Top-1/Top-5,
retrieval R-1/R-5/mAP, percent), indexed like ``fgkd.reference.paper_table``."""

from __future__ import annotations

import math
from typing import Any, Hashable, Mapping, Sequence

from fgkd.experiments.common import run_table as common_run_table
from fgkd.experiments.common import SD, train_grid
from fgkd.experiments.lead.recipe import METRICS, RUN_KEYS
from fgkd.methods import LeadConfig


def metrics_row(run: Any, metrics: Mapping[str, float] | None = None, cfg: Any = None) -> dict[str, float]:
    """A finished run's LEAD metrics (percent) keyed by :data:`METRICS`; Top-1/Top-5 are the probe
    accuracies of the config's ``probe_report`` (final, best on test or validation-selected).
    ``metrics`` and ``cfg`` stand in for a run's (an evaluation that is no run: :func:`init_table`)."""
    from fgkd.methods.base import REPORTED_PROBE_KEYS

    m = run.metrics if metrics is None else metrics
    keys = dict(RUN_KEYS)
    report = getattr(run.cfg if cfg is None else cfg, "probe_report", "final")
    keys["Top-1"], keys["Top-5"] = REPORTED_PROBE_KEYS[report]
    missing = [k for k in keys.values() if k not in m]
    if missing and run is None:
        raise KeyError(f"the evaluation has no {', '.join(missing)} (probe_report={report!r})")
    if missing:
        raise KeyError(f"run {run.path.name} has no {', '.join(missing)} (probe_report={report!r}): it was evaluated "
                       f"before fgkd reported them; delete {run.path / 'metrics.json'} to evaluate it again "
                       "from its weights")
    return {name: float(m[key]) for name, key in keys.items()}


def get_runs(grid: Mapping[Hashable, LeadConfig], seed: int | None = None, *, verbose: bool = True,
             **method_options: Any) -> dict[Hashable, Any]:
    """``{key: Run}``: every arm from the run store (with training seed ``seed``; None: each
    config's own), training the missing ones (each config once, however many keys share it)."""
    runs = train_grid(grid, None if seed is None else [seed], log=print if verbose else None, **method_options)
    return {key: seeds[0] for key, seeds in runs.items()}


def run_table(grid: Mapping[Hashable, LeadConfig], index: str | Sequence[str], seeds: Sequence[int] | None = None, *,
              verbose: bool = True, **method_options: Any):
    """Train/read every arm of ``grid`` for every seed and return its metrics, one row per key.

    Args:
        grid: ``{key: run config}``; tuple keys give a multi-level index.
        index: the index name(s) (e.g. ``"removal_pct"``, ``("benchmark", "method")``).
        seeds: training seeds (the recipe's ``seed_list``); None: each config's own seed.
        method_options: passed to ``fgkd.runs.get_or_train`` (e.g. a pre-built ``teacher`` in tests).

    Returns:
        DataFrame indexed by ``index``: for each of :data:`METRICS` and ``train_s`` (seconds the
        run trained) the mean over seeds, ``"<m> sd"`` and ``"<m> per seed"``; ``seeds``.
    """
    def row(run: Any) -> dict[str, float]:
        return {**metrics_row(run), "train_s": float(run.metrics.get("train_seconds", math.nan))}

    return common_run_table(grid, index, row, seeds, log=print if verbose else None, **method_options)


def kit_columns(table: Any, metrics: Sequence[str] = METRICS) -> Any:
    """The columns a report shows: each metric's mean over seeds followed by its s.d."""
    return table[[c for m in metrics for c in (m, m + SD)]]


def truncated_share(grid: Mapping[Hashable, LeadConfig], *, teacher: Any = None):
    """Percent of each arm's class descriptions longer than the teacher's text context (CLIP reads
    77 tokens and cuts the rest; 70 words are usually more than 77 tokens), so a table of
    description lengths shows where extra words stop reaching the teacher.
    ``teacher``: a built teacher for every arm instead of each arm's own (tests)."""
    import pandas as pd

    from fgkd.data.splits import load_split
    from fgkd.methods.lead import category_names, class_descriptions
    from fgkd.teachers import get_teacher

    teachers: dict[str, Any] = {}
    shares = {}
    for key, cfg in grid.items():
        if teacher is None and cfg.teacher not in teachers:
            teachers[cfg.teacher] = get_teacher(cfg.teacher, **cfg.teacher_options)
        t = teacher if teacher is not None else teachers[cfg.teacher]
        plain = load_split(cfg, "train")
        texts = class_descriptions(cfg, category_names(cfg, plain), plain)
        shares[key] = 100.0 * t.count_truncated(texts) / len(texts)
    return pd.Series(shares, name="descriptions cut by the teacher (%)")


def student_init(cfg: LeadConfig) -> Any:
    """What the student starts from, as a one-row DataFrame: the init, and for the embedded ImageNet
    (``pretrained: "world"``) its pool, held-out Top-1 on the pools' held-out images (never a target
    image), chance, epochs and seconds, trained first if it is not cached."""
    import pandas as pd

    row: dict[str, Any] = {"backbone": cfg.backbone}
    if cfg.pretrained != "world":
        row["init"] = "ImageNet (torchvision)" if cfg.pretrained is True else "none (from scratch)"
        return pd.DataFrame([row])
    from fgkd.models.embedded_imagenet import load_embedded_imagenet

    config = cfg.embedded_imagenet()
    prov = load_embedded_imagenet(config)["provenance"]
    row.update({"init": "embedded ImageNet (world pools, disjoint classes)", "domains": "+".join(config.domains),
                "classes": prov["classes"], "training images": prov["pool_images"] - prov["holdout_images"],
                "held-out Top-1": prov["holdout_top1"], "chance Top-1": prov["chance_top1"],
                "epochs": config.epochs, "seconds": prov["train_seconds"]})
    return pd.DataFrame([row])


def init_table(grid: Mapping[Hashable, LeadConfig], seeds: Sequence[int]) -> Any:
    """The students' starting point evaluated exactly as a finished run is (linear probe, retrieval),
    on the frozen init's features, before any MoCo v2 or LEAD training: one row per benchmark (the
    MoCo v2 arm's config), mean and s.d. over ``seeds`` (only the probe's seed varies). It shows
    what the self-supervised phase adds to, or takes from, the initialisation."""
    import pandas as pd

    rows = []
    for (bench, label), cfg in grid.items():
        if label != "MoCo v2":
            continue
        for seed in seeds:
            metrics = evaluate_untrained(cfg.replace(seed=seed))
            rows.append({"benchmark": bench, "seed": seed, **metrics_row(None, metrics, cfg)})
    per_seed = pd.DataFrame(rows)
    grouped = per_seed.drop(columns="seed").groupby("benchmark", sort=False)
    table = grouped.mean()
    for metric in METRICS:
        table[f"{metric}{SD}"] = grouped[metric].std(ddof=1)
    return table


def evaluate_untrained(cfg: LeadConfig) -> dict[str, float]:
    """A run's evaluation (:meth:`~fgkd.methods.base.SSLMethod.evaluate`) of ``cfg``'s model as
    built, before training: seeded and with fixed threads as the engine trains, so deterministic."""
    import torch

    from fgkd.determinism import deterministic
    from fgkd.methods import make_method
    from fgkd.train.engine import seed_everything

    method = make_method(cfg)
    with deterministic(getattr(cfg, "threads", 1), "cpu"):
        seed_everything(cfg.seed)
        method.build(torch.device("cpu"), for_training=False)
        return method.evaluate(method.extract)


def base_curve(cfg: LeadConfig, epochs: int) -> Any:
    """Has the student converged? ``cfg``'s run trained for ``epochs`` with ``track_test``: the
    weighted kNN Top-1 on the test split after every epoch, epoch 0 being the init before any
    training (the same kNN evaluation), and the training loss (a DataFrame by epoch)."""
    import pandas as pd

    from fgkd.runs import get_or_train

    if epochs < 1:
        raise ValueError(f"base_curve needs epochs >= 1, got {epochs}")
    start = evaluate_untrained(cfg)["knn_top1"]
    history = get_or_train(cfg.replace(track_test=True, epochs=epochs)).history
    return pd.DataFrame({"test kNN top-1": [start] + [float(h["test_knn_top1"]) for h in history],
                         "training loss": [float("nan")] + [float(h["loss"]) for h in history]},
                        index=pd.RangeIndex(0, epochs + 1, name="epoch"))


def student_init_curve(cfg: LeadConfig) -> Any:
    """The embedded ImageNet's held-out and training Top-1 and loss per epoch (a DataFrame by epoch)."""
    import pandas as pd

    from fgkd.models.embedded_imagenet import load_embedded_imagenet

    prov = load_embedded_imagenet(cfg.embedded_imagenet())["provenance"]
    return pd.DataFrame({"held-out Top-1": prov["holdout_top1_history"], "train Top-1": prov["train_top1_history"],
                         "loss": prov["loss_history"]}, index=pd.RangeIndex(1, len(prov["loss_history"]) + 1, name="epoch"))
