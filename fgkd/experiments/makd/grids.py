"""MaKD's grids, one per table: ``{key: MakdConfig}`` changing only the fields the table is about
(every grid starts from the recipe's MaKD run, "Ours"; Base is alpha = 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

from fgkd.experiments.makd.recipe import BASE, OURS, Recipe, llm_options, scorer_options
from fgkd.methods import MakdConfig

Grid = dict[Hashable, MakdConfig]



def base_config(cfg: MakdConfig) -> MakdConfig:
    """MaKD's "Base": the same run with ``alpha = 0`` (C outputs, cross-entropy only)."""
    return cfg.replace(alpha=0.0)



def main_grid(recipe: Recipe, datasets: Sequence[str], backbones: Sequence[str]) -> Grid:
    """Tables 1-2: ``(dataset, backbone, method)`` for Base and Ours of every dataset x backbone."""
    grid: Grid = {}
    for dataset in datasets:
        for backbone in backbones:
            ours = recipe.config(dataset, backbone=backbone)
            grid[(dataset, backbone, BASE)] = base_config(ours)
            grid[(dataset, backbone, OURS)] = ours
    return grid



def loss_grid(cfg: MakdConfig) -> Grid:
    """Table 3a: the aspect loss, BCE (eq. 5, the method) vs KL over the Q aspects."""
    return {"BCE": cfg.replace(aspect_loss="bce"), "KL": cfg.replace(aspect_loss="kl")}



def target_grid(cfg: MakdConfig) -> Grid:
    """Table 3b: the scorer's P(yes) vs random targets sigmoid(N(0, 1)) per image and aspect."""
    return {"real": cfg.replace(targets="real"), "random": cfg.replace(targets="random")}



def alpha_grid(cfg: MakdConfig, alphas: Iterable[float]) -> Grid:
    """Table 3c: ``{alpha: config}``; alpha 0 is the Base run."""
    return {float(a): cfg.replace(alpha=float(a)) for a in alphas}



@dataclass(frozen=True)
class Source:
    """Where a run's questions and P(yes) come from (Table 3d): a row label and config changes."""

    label: str
    changes: Mapping[str, Any]
    note: str = ""  # what the row is, e.g. "upper bound: world ground truth, not a model"



def question_source(label: str, backend: str, *, model: str = "", questions_file: str = "", seed: int = 0,
                    style: str | None = None, note: str = "") -> Source:
    """A question writer (Table 3d "L:"): ``llm_backend`` and ``llm_options``; ``llm_style`` is
    cleared for non-template backends and set only when ``style`` is given."""
    changes: dict[str, Any] = {"llm_backend": backend,
                               "llm_options": llm_options(backend, model=model, questions_file=questions_file, seed=seed)}
    if backend != "template":
        changes["llm_style"] = None
    elif style:
        changes["llm_style"] = style
    return Source(label, changes, note)



def scorer_source(label: str, scorer: str, *, model: str = "", oracle_noise: float = 1.0, note: str = "") -> Source:
    """A P(yes) scorer (Table 3d "M:"): ``scorer`` and ``scorer_options``."""
    return Source(label, {"scorer": scorer, "scorer_options": scorer_options(scorer, model=model,
                                                                             oracle_noise=oracle_noise)}, note)



UPPER_BOUND_NOTE = "upper bound: the world's ground truth plus noise, NOT a model"



def oracle_source(noise: float, label: str = "upper bound: oracle") -> Source:
    """The oracle scorer as an upper-bound row (world datasets only): true answers per image with
    logit-space noise ``noise``. It is not a model; it shows how much better targets could help."""
    return scorer_source(label, "oracle", oracle_noise=noise, note=UPPER_BOUND_NOTE)



def source_grid(cfg: MakdConfig, sources: Sequence[Source]) -> Grid:
    """Table 3d: ``{label: config}``, each source's changes applied to ``cfg``."""
    grid: Grid = {}
    for source in sources:
        if source.label in grid:
            raise ValueError(f"two sources are labelled {source.label!r}; give each row its own label")
        grid[source.label] = cfg.replace(**source.changes)
    return grid



def ablation_grid(cfg: MakdConfig, alphas: Iterable[float], sources: Sequence[Source] = ()) -> Grid:
    """Table 3 in one grid keyed ``(part, setting)``: ``("a", "KL")``, ``("b", "random")``,
    ``("c", 10.0)``, ``("d", label)``, plus ``("base", "Base")`` and ``("base", "Ours")``."""
    grid: Grid = {("base", BASE): base_config(cfg), ("base", OURS): cfg}
    grid.update({("a", k): v for k, v in loss_grid(cfg).items()})
    grid.update({("b", k): v for k, v in target_grid(cfg).items()})
    grid.update({("c", k): v for k, v in alpha_grid(cfg, alphas).items()})
    grid.update({("d", k): v for k, v in source_grid(cfg, sources).items()})
    return grid



def ablation_grids(recipe: Recipe, dataset: str, backbones: Sequence[str], alphas: Iterable[float],
                   sources: Sequence[Source] = ()) -> Grid:
    """:func:`ablation_grid` for each backbone, keyed ``(backbone, part, setting)``."""
    alphas = list(alphas)
    return {(b, *key): cfg for b in backbones
            for key, cfg in ablation_grid(recipe.config(dataset, backbone=b), alphas, sources).items()}



def aspect_count_grids(recipe: Recipe, datasets: Sequence[str], counts: Iterable[int]) -> Grid:
    """:func:`aspect_count_grid` for each dataset, keyed ``(dataset, Q)``."""
    counts = list(counts)
    return {(d, q): cfg for d in datasets for q, cfg in aspect_count_grid(recipe.config(d), counts).items()}



def aspect_count_grid(cfg: MakdConfig, counts: Iterable[int]) -> Grid:
    """Figure 2: ``{Q: config}``, the top-Q prefix of the ranked list; Q = 0 is the Base run."""
    grid: Grid = {}
    for q in counts:
        q = int(q)
        if q < 0 or q > cfg.n_select:
            raise ValueError(f"aspect count {q} must be in [0, n_select={cfg.n_select}] (a prefix of the "
                             "selected questions); raise n_select or drop the count")
        grid[q] = base_config(cfg) if q == 0 else cfg.replace(num_aspects=q)
    return grid



def fraction_grid(cfg: MakdConfig, fractions: Iterable[float]) -> Grid:
    """Table 5: ``{(fraction, method): config}`` for Base and Ours on a stratified fraction of the
    training split (the test split stays whole)."""
    grid: Grid = {}
    for f in fractions:
        f = float(f)
        if not 0 < f <= 1:
            raise ValueError(f"training fraction {f} must be in (0, 1]")
        ours = cfg.replace(train_fraction=f)
        grid[(f, BASE)] = base_config(ours)
        grid[(f, OURS)] = ours
    return grid



def kd_teacher_config(cfg: MakdConfig, backbone: str) -> MakdConfig:
    """Table 6's teacher: the Base (cross-entropy) run of ``backbone`` on the student's data."""
    return base_config(cfg).replace(backbone=backbone)



def kd_grid(cfg: MakdConfig, *, teacher_backbone: str | None = None, mllm_teacher: str | None = None,
            has_zero_shot: bool = True, mllm_kd_weight: float = 1.0, mllm_kd_temperature: float = 1.0,
            kd_weight: float = 1.0, kd_temperature: float = 4.0) -> Grid:
    """Tables 4 and 6 on one student (``cfg``, the MaKD run).

    Keys: ``Base``, ``Ours``; with ``has_zero_shot`` ``MLLM KD`` (Table 4: Base plus KD from the
    scorer's zero-shot class logits, or ``mllm_teacher``'s CLIP ones); with ``teacher_backbone``
    ``KD teacher`` (that backbone's Base run), ``KD`` and ``KD + Ours`` (Table 6: Hinton KD from the
    teacher, alone and with MaKD).
    """
    base = base_config(cfg)
    grid: Grid = {BASE: base, OURS: cfg}
    if has_zero_shot:
        grid["MLLM KD"] = base.replace(mllm_kd_weight=float(mllm_kd_weight), mllm_teacher=mllm_teacher,
                                       mllm_kd_temperature=float(mllm_kd_temperature))
    if teacher_backbone:
        grid["KD teacher"] = kd_teacher_config(cfg, teacher_backbone)
        teacher = grid["KD teacher"].to_dict()
        kd = {"kd_teacher": teacher, "kd_weight": float(kd_weight), "kd_temperature": float(kd_temperature)}
        grid["KD"] = base.replace(**kd)
        grid["KD + Ours"] = cfg.replace(**kd)
    return grid



def kd_grids(recipe: Recipe, datasets: Sequence[str], **options: Any) -> Grid:
    """:func:`kd_grid` of the recipe's run on each dataset, keyed ``(dataset, setting)``; the MLLM
    KD row uses the recipe's zero-shot source (absent for the oracle scorer)."""
    options = {"mllm_teacher": recipe.zero_shot_teacher(), "has_zero_shot": recipe.has_zero_shot, **options}
    return {(d, k): cfg for d in datasets for k, cfg in kd_grid(recipe.config(d), **options).items()}
