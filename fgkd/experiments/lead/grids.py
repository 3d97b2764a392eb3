"""LEAD's grids, one per table or figure: ``{key: run config}`` changing only the field the table is
about (every LEAD table's base run is the recipe's LEAD run, trained once by the run store)."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from fgkd.config import ConfigError
from fgkd.experiments.common import num_classes
from fgkd.experiments.lead.recipe import METHOD_LABELS, Recipe, benchmark, teacher_embed_dim, teacher_options
from fgkd.methods import LeadConfig, as_method


def method_grid(base: LeadConfig, methods: Iterable[str] = ("moco", "lead"), *,
                ibot_vit: str | None = None) -> dict[str, LeadConfig]:
    """The same recipe trained by other methods (Table 5; ``moco`` is LEAD without distillation).
    SimCLR uses the recipe's backbone (ResNet50 at the paper scale); the iBOT row its own ViT,
    ``ibot_vit`` (the recipe's; None: the default)."""
    def changes(method: str) -> dict[str, Any]:
        return {"vit": ibot_vit} if method == "ibot" and ibot_vit else {}

    return {METHOD_LABELS.get(m, m): as_method(base, m, **changes(m)) for m in methods}


def describe_method(cfg: Any) -> str:
    """What a Table 5 row is, for the report: the method and its network."""
    if cfg.method == "ibot":
        from fgkd.models.ibot import VITS

        v = VITS[cfg.vit]
        name = "ViT-S/16" if cfg.vit == "vit_small_16" else f"a small ViT ({cfg.vit})"
        return (f"iBOT-style: {name}, {v['depth']} blocks, {v['embed_dim']} wide, {v['patch_size']} px patches, "
                f"[CLS] + masked-patch self-distillation")
    head = f", {cfg.proj_head} head" if hasattr(cfg, "proj_head") else ""
    init = {True: " (ImageNet init)", "world": " (embedded-ImageNet init)"}.get(cfg.pretrained, "")
    return f"{METHOD_LABELS.get(cfg.method, cfg.method)}: {cfg.backbone}{init}{head}"



def main_grid(recipe: Recipe, datasets: Iterable[str]) -> dict[tuple[str, str], LeadConfig]:
    """LEAD's main comparison: ``{(benchmark, "MoCo v2" | "LEAD"): config}`` per dataset."""
    grid = {}
    for dataset in datasets:
        for label, cfg in method_grid(recipe.config(dataset)).items():
            grid[(benchmark(dataset), label)] = cfg
    return grid



def llm_grid(base: LeadConfig, alternatives: Mapping[str, Mapping[str, Any]]) -> dict[str, LeadConfig]:
    """Descriptions from other LLMs (Table 1): ``{label: base with llm_backend/llm_style/llm_options}``.

    ``alternatives`` maps a row label to ``{"llm_backend": ..., "llm_style": ..., "llm_options": ...}``;
    a label mapped to ``{}`` is the base itself.
    """
    allowed = {"llm_backend", "llm_style", "llm_options"}
    grid = {}
    for label, changes in alternatives.items():
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"llm_grid: arm {label!r} changes {sorted(unknown)}; an LLM arm may only change {sorted(allowed)}")
        grid[label] = base.replace(**changes) if changes else base
    return grid



def _field_grid(base: LeadConfig, field: str, values: Iterable[Any], to_value: Callable[[Any], Any] = lambda v: v):
    return {v: base.replace(**{field: to_value(v)}) for v in values}



def text_length_grid(base: LeadConfig, lengths: Iterable[int]) -> dict[int, LeadConfig]:
    """Descriptions cut to ``max_words`` words (Table 2 / Figure 3 right)."""
    return _field_grid(base, "max_words", lengths)



def word_removal_grid(base: LeadConfig, percents: Iterable[int | float]) -> dict[int | float, LeadConfig]:
    """A share of each description's words removed at random (Table 4): ``{percent: config}``."""
    for p in percents:
        if not 0 <= p < 100:
            raise ValueError(f"word_removal_grid: {p}% is not in [0, 100)")
    # round(): 20 / 100 must be the same float whatever spelling the notebook used (hash identity)
    return _field_grid(base, "word_removal", percents, lambda p: round(p / 100, 6))



def teacher_grid(base: LeadConfig, teachers: Iterable[str], *, epochs: int = 0,
                 pool_per_class: int = 0) -> dict[str, LeadConfig]:
    """Other CLIP teachers (Table 3). The student's projection dimension follows the teacher's
    embedding dimension (LEAD scores it against the teacher's prototypes), so ``proj_dim`` may
    change with ``teacher`` and ``teacher_options``; nothing else does."""
    grid = {}
    for t in teachers:
        if t == base.teacher:
            grid[t] = base
            continue
        grid[t] = base.replace(teacher=t, teacher_options=teacher_options(t, epochs, pool_per_class),
                               proj_dim=teacher_embed_dim(t))
    return grid



def num_categories_grid(base: LeadConfig, counts: Iterable[int]) -> dict[int, LeadConfig]:
    """Prototypes for more or fewer categories than the true classes (Figure 3 left).

    The true class count maps to ``num_categories=None`` so it is the base run itself.
    """
    classes = num_classes(base)
    return {k: base.replace(num_categories=None if k == classes else k) for k in counts}



def num_images_grid(base: LeadConfig, fractions: Iterable[float],
                    methods: Iterable[str] = ("moco", "lead")) -> dict[tuple[int, str], LeadConfig]:
    """LEAD and MoCo v2 on a share of the training images (Figure 2): ``{(images, method label): config}``.

    World datasets render ``round(fraction * train_per_class)`` images per class (the test split is
    untouched); ``fraction = 1`` is the base run. Real datasets need a training-subset field that
    LeadConfig does not have, so they are refused with that message.
    """
    if not base.dataset.startswith("world:"):
        raise ConfigError(f"num_images_grid: {base.dataset!r} is a real dataset; LeadConfig has no training-subset "
                          "field (dataset_options 'fraction' would shrink the test split too), so Figure 2 runs on "
                          "world:* datasets only")
    from fgkd.data.world import WorldConfig

    classes = num_classes(base)
    full = int(base.dataset_options.get("train_per_class", WorldConfig.train_per_class))
    grid = {}
    methods = list(methods)
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"num_images_grid: fraction {f} is not in (0, 1]")
        per_class = max(1, round(f * full))
        cfg = base
        if per_class != full:
            cfg = base.replace(dataset_options={**base.dataset_options, "train_per_class": per_class})
        if per_class * classes < base.batch_size:
            raise ValueError(f"num_images_grid: fraction {f} leaves {per_class * classes} training images, fewer than "
                             f"one batch of {base.batch_size}; use a larger fraction or a smaller batch_size")
        for label, arm in method_grid(cfg, methods).items():
            grid[(per_class * classes, label)] = arm
    return grid
