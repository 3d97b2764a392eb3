"""LEAD's experiment grids: one function per table or figure of LEAD's supplement.

Every LEAD notebook starts from the same :class:`Recipe` (the params files hold one copy per
notebook; tests/experiments/test_lead.py checks they agree), so the base run of one notebook is the
base run of every other: lead_main's world:bird LEAD run is Table 1's first LLM, Table 2's 70 words,
Table 3's default teacher and Table 4's 0 % removal, and the run store (keyed by config hash)
trains it once. A grid changes only the field its table is about::

    recipe = Recipe(...)                                  # or recipe_from(globals()) in a notebook
    base = recipe.config("world:bird")                    # LeadConfig, method "lead"
    grid = word_removal_grid(base, (0, 20, 40, 60, 80))   # {removal %: LeadConfig}
    table = run_table(grid, "removal_pct")                # trains what is missing; one row per arm

Tables are tidy pandas DataFrames indexed like ``fgkd.reference.paper_table`` (so
``fgkd.report.side_by_side`` lines them up) with LEAD's metrics as columns (:data:`METRICS`:
linear-probe Top-1/Top-5, retrieval R-1/R-5/mAP, percent). The verdict functions turn a table into
one sentence saying whether the paper's direction holds at this scale, computed from the numbers.

Figures 4 and 5 need more than a run's metrics; they are built here from public pieces:
:func:`tsne_frame` (scikit-learn's TSNE on a run's cached test features) and
:func:`entropy_examples` (the teacher's distribution p_t on the test images, its normalised
entropy H, LEAD's weights ``(w_cl, w_kd) = (H^2, 1 - H^2)`` and the student's own prediction
``argmax softmax(q . P^T / T)`` over the same prototypes P).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np

from fgkd.reference import LEAD_METRICS
from fgkd.train.config import ConfigError, LeadConfig

METRICS = LEAD_METRICS
"""Column names of every LEAD table: ``("Top-1", "Top-5", "R-1", "R-5", "mAP")``."""

# LEAD_METRICS -> the keys of a LEAD run's metrics.json.
RUN_KEYS = {"Top-1": "top1", "Top-5": "top5", "R-1": "R-1", "R-5": "R-5", "mAP": "mAP"}

# What each dataset stands for in the paper's tables (index values shared with fgkd.reference).
BENCHMARKS = {
    "world:bird": "CUB", "world:car": "Cars", "world:aircraft": "Aircraft",
    "cub200": "CUB", "stanford_cars": "Cars", "fgvc_aircraft": "Aircraft",
}
# The coarse category of each dataset's classes (LEAD Table 6's first column, the LLM prompt's category).
COARSE = {
    "world:bird": "bird", "world:car": "car", "world:aircraft": "aircraft",
    "cub200": "bird", "stanford_cars": "car", "fgvc_aircraft": "aircraft",
}
# Method labels as the paper writes them (Table 5), by LeadConfig.method.
METHOD_LABELS = {"simclr": "SimCLR", "ibot": "iBOT", "moco": "MoCo v2", "lead": "LEAD"}


# --------------------------------------------------------------------------------------------
# The shared recipe
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """Everything of a LEAD run except its dataset: the parameters every LEAD notebook shares.

    Defaults are the paper's (LEAD supplement section 11; ``LeadConfig``'s defaults); the embedded
    and smoke params sets override them. Field names are the notebooks' parameter names. Strings
    use ``""`` for "not set" because notebook parameters are flat scalars.
    """

    world_classes: int = 20  # target classes of a world:* dataset (WorldConfig.num_classes); unused for real data
    world_train_per_class: int = 30  # training images per class of a world:* dataset; unused for real data
    image_size: int = 224  # training crop in pixels; also the render size of a world:* dataset
    backbone: str = "resnet50"  # student backbone (fgkd.models)
    pretrained: bool = True  # ImageNet weights for the student (section 11)
    small_input: bool = False  # CIFAR-style stem for 32-64 px images
    epochs: int = 100  # pre-training epochs of every run
    batch_size: int = 64
    lr: float = 0.03  # SGD learning rate (cosine schedule)
    weight_decay: float = 1e-4
    moco_temperature: float = 0.2  # InfoNCE tau
    queue_size: int = 65536  # MoCo negatives K
    moco_momentum: float = 0.999  # m of the key encoder's EMA
    proj_hidden_dim: int = 0  # projection head width; 0 = the backbone's feature dimension (MoCo v2)
    teacher: str = "ViT-B-16/openai"  # CLIP teacher: embedded-S/M/L or an open_clip ARCH/TAG
    teacher_mode: str = "online"  # online: teacher on each query view (paper); cached: once per image
    teacher_epochs: int = 0  # embedded teachers: training epochs; 0 = the teacher's default
    teacher_pool_per_class: int = 0  # embedded teachers: pre-training images per class; 0 = the default
    llm: str = "openai"  # LLM backend writing the class descriptions (fgkd.llm)
    llm_style: str = ""  # template backend's style (a or b); empty = the backend's default
    llm_model: str = ""  # openai backend's model name; empty = the backend's default
    max_words: int = 70  # description length in words (Table 2)
    alpha: float = 0.5  # weight of the contrastive branch
    beta: float = 6.4  # weight of the distillation branch
    kd_temperature: float = 0.02  # T of p_t and p_s
    probe_epochs: int = 100  # linear-probe epochs
    seed: int = 0  # seed of every run
    device: str = "auto"  # auto | cpu | cuda (not part of a run's identity)
    num_workers: int = 4  # data-loader workers (not part of a run's identity)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, default = getattr(self, f.name), f.default
            if not _same_kind(value, default):
                raise ValueError(f"Recipe.{f.name}={value!r} must be a {type(default).__name__}")
        if self.world_classes < 2 or self.world_train_per_class < 1:
            raise ValueError(f"Recipe.world_classes={self.world_classes} must be >= 2 and "
                             f"world_train_per_class={self.world_train_per_class} >= 1")
        if self.proj_hidden_dim < 0:
            raise ValueError(f"Recipe.proj_hidden_dim={self.proj_hidden_dim} must be >= 0 (0 = the backbone's width)")
        for name in ("teacher_epochs", "teacher_pool_per_class"):
            if getattr(self, name) < 0:
                raise ValueError(f"Recipe.{name}={getattr(self, name)} must be >= 0 (0 = the teacher's default)")
        embedded = self.teacher.startswith("embedded-")
        if not embedded and (self.teacher_epochs or self.teacher_pool_per_class):
            raise ValueError(f"Recipe.teacher_epochs / teacher_pool_per_class apply to embedded teachers only; "
                             f"teacher={self.teacher!r} is pretrained: set both to 0")
        if self.llm_model and self.llm != "openai":
            raise ValueError(f"Recipe.llm_model={self.llm_model!r} is an openai-backend option but llm={self.llm!r}; "
                             "leave llm_model empty")
        if self.llm_style and self.llm != "template":
            raise ValueError(f"Recipe.llm_style={self.llm_style!r} is a template-backend option but llm={self.llm!r}; "
                             "leave llm_style empty")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def config(self, dataset: str, **changes: Any) -> LeadConfig:
        """The base LEAD run on ``dataset`` (``changes``: further LeadConfig fields)."""
        options: dict[str, Any] = {}
        if dataset.startswith("world:"):
            options = {"num_classes": self.world_classes, "image_size": self.image_size,
                       "train_per_class": self.world_train_per_class}
        cfg = LeadConfig(
            dataset=dataset, dataset_options=options, image_size=self.image_size, method="lead",
            backbone=self.backbone, pretrained=self.pretrained, small_input=self.small_input,
            moco_dim=teacher_embed_dim(self.teacher), proj_hidden_dim=self.proj_hidden_dim or None,
            queue_size=self.queue_size, moco_momentum=self.moco_momentum, moco_temperature=self.moco_temperature,
            teacher=self.teacher,
            teacher_options=teacher_options(self.teacher, self.teacher_epochs, self.teacher_pool_per_class),
            teacher_mode=self.teacher_mode, llm_backend=self.llm, llm_style=self.llm_style or None,
            llm_options=llm_options(self.llm, dataset, model=self.llm_model), max_words=self.max_words,
            kd_temperature=self.kd_temperature, alpha=self.alpha, beta=self.beta, lr=self.lr,
            weight_decay=self.weight_decay, epochs=self.epochs, batch_size=self.batch_size,
            probe_epochs=self.probe_epochs, seed=self.seed, device=self.device, num_workers=self.num_workers,
            progress=False,
        )
        return cfg.replace(**changes) if changes else cfg

    def kit_label(self, dataset: str) -> str:
        """How reports label this recipe's numbers on ``dataset``."""
        from fgkd.report import kit_label

        return kit_label(dataset, self.image_size, None if dataset.startswith("world:") else self.backbone)


def _same_kind(value: Any, default: Any) -> bool:
    """``value`` has the type of ``default``; an int is a float, a bool is never a number."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def recipe_from(namespace: Mapping[str, Any]) -> Recipe:
    """The :class:`Recipe` from a notebook's parameters (``recipe_from(globals())``).

    Takes exactly the :class:`Recipe` field names; a missing one is an error naming it.
    """
    missing = [name for name in Recipe.field_names() if name not in namespace]
    if missing:
        raise ValueError(f"recipe_from: the notebook's parameters lack {', '.join(missing)}; every LEAD notebook "
                         "has the same recipe parameters (see fgkd.experiments.lead.Recipe)")
    return Recipe(**{name: namespace[name] for name in Recipe.field_names()})


def teacher_embed_dim(teacher: str) -> int:
    """The embedding dimension d of a teacher, read from its model config (no weights).

    Embedded teachers are read from fgkd's own config files, so a warm notebook that only reads
    finished runs never pays for importing open_clip; ``ARCH/TAG`` names ask open_clip.
    """
    import json
    from importlib import resources

    if teacher.startswith("embedded-"):
        config = resources.files("fgkd.teachers").joinpath("configs", f"{teacher}.json")
        if not config.is_file():
            raise ValueError(f"teacher {teacher!r}: no embedded config fgkd/teachers/configs/{teacher}.json; "
                             "use embedded-S/M/L or an open_clip ARCH/TAG such as ViT-B-16/openai")
        return int(json.loads(config.read_text())["embed_dim"])
    import open_clip

    arch = teacher.partition("/")[0]
    config = open_clip.get_model_config(arch)
    if config is None:
        raise ValueError(f"teacher {teacher!r}: open_clip has no model config {arch!r}; use embedded-S/M/L or an "
                         "open_clip ARCH/TAG such as ViT-B-16/openai")
    return int(config["embed_dim"])


def teacher_options(teacher: str, epochs: int = 0, pool_per_class: int = 0) -> dict[str, Any]:
    """``get_teacher`` keywords for an embedded teacher's training settings (0 = the teacher's
    default); pretrained teachers take none (their weights are fixed)."""
    options: dict[str, Any] = {}
    if not teacher.startswith("embedded-"):
        return options
    if epochs:
        options["epochs"] = epochs
    if pool_per_class:
        options["world_options"] = {"pretrain_per_class": pool_per_class}
    return options


def embedded_teachers(params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The embedded CLIP teachers a LEAD notebook with these parameters trains on first use, as
    ``(name, get_teacher options)``: its recipe's ``teacher`` and any ``teachers`` list (Table 3).
    ``fgkd reproduce`` trains them before the notebooks, in parallel."""
    names = [str(params.get("teacher", ""))]
    names += [t.strip() for t in str(params.get("teachers", "")).split(",")]
    epochs, pool = int(params.get("teacher_epochs", 0)), int(params.get("teacher_pool_per_class", 0))
    return [(n, teacher_options(n, epochs, pool)) for n in dict.fromkeys(names) if n.startswith("embedded-")]


def llm_options(llm: str, dataset: str, *, model: str = "", base_url: str = "", api_key_env: str = "") -> dict[str, Any]:
    """Backend options: the openai backend gets its model/endpoint and the coarse category of the
    classes (named in the description prompt); the template backend reads the world itself."""
    if llm != "openai":
        if model or base_url or api_key_env:
            raise ValueError(f"model/base_url/api_key_env are openai-backend options, but llm={llm!r}")
        return {}
    options: dict[str, Any] = {}
    if model:
        options["model"] = model
    if base_url:
        options["base_url"] = base_url
    if api_key_env:
        options["api_key_env"] = api_key_env
    if dataset in COARSE:
        options["category"] = COARSE[dataset]
    return options


def benchmark(dataset: str) -> str:
    """The paper benchmark ``dataset`` is (or stands in for): ``CUB``, ``Cars``, ``Aircraft``."""
    return BENCHMARKS.get(dataset, dataset)


def split_list(text: str, cast: Callable[[str], Any] = str, *, name: str = "value") -> list[Any]:
    """A notebook's comma-separated parameter as a list (``"10,30,70"`` -> ``[10, 30, 70]``)."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"{name}={text!r} is empty; give a comma-separated list")
    try:
        return [cast(t) for t in items]
    except ValueError:
        raise ValueError(f"{name}={text!r}: every item must be a {cast.__name__}") from None


# --------------------------------------------------------------------------------------------
# Grids: {row key: LeadConfig}, each arm differing from the base only in the field(s) named
# --------------------------------------------------------------------------------------------


def method_grid(base: LeadConfig, methods: Iterable[str] = ("moco", "lead")) -> dict[str, LeadConfig]:
    """The same recipe trained by other methods (Table 5; ``moco`` is LEAD without distillation)."""
    return {METHOD_LABELS.get(m, m): base.replace(method=m) for m in methods}


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
    embedding dimension (LEAD scores it against the teacher's prototypes), so ``moco_dim`` may
    change with ``teacher`` and ``teacher_options``; nothing else does."""
    grid = {}
    for t in teachers:
        if t == base.teacher:
            grid[t] = base
            continue
        grid[t] = base.replace(teacher=t, teacher_options=teacher_options(t, epochs, pool_per_class),
                               moco_dim=teacher_embed_dim(t))
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


def num_classes(cfg: LeadConfig) -> int:
    """The number of target classes of ``cfg``'s dataset (the world's from its options, no rendering)."""
    if cfg.dataset.startswith("world:"):
        from fgkd.data.world import WorldConfig

        return int(cfg.dataset_options.get("num_classes", WorldConfig.num_classes))
    from fgkd.train.lead import load_split

    return len(load_split(cfg, "test").classes)


def differing_fields(a: LeadConfig, b: LeadConfig) -> set[str]:
    """The LeadConfig fields whose values differ between ``a`` and ``b``."""
    da, db = a.to_dict(), b.to_dict()
    return {k for k in da if da[k] != db[k]}


# --------------------------------------------------------------------------------------------
# Running grids into tables
# --------------------------------------------------------------------------------------------


def metrics_row(run: Any) -> dict[str, float]:
    """A finished run's LEAD metrics (percent) keyed by :data:`METRICS`."""
    m = run.metrics
    return {name: float(m[key]) for name, key in RUN_KEYS.items()}


def get_runs(grid: Mapping[Hashable, LeadConfig], *, verbose: bool = True, **method_options: Any) -> dict[Hashable, Any]:
    """``{key: Run}``: every arm from the run store, training the missing ones (each config once,
    however many keys share it)."""
    from fgkd.runs import Run, get_or_train

    runs: dict[str, Any] = {}
    out = {}
    for key, cfg in grid.items():
        h = cfg.config_hash()
        if h not in runs:
            cached = Run.of(cfg).done
            start = time.perf_counter()
            runs[h] = get_or_train(cfg, **method_options)
            if verbose:
                how = "cached" if cached else f"trained in {time.perf_counter() - start:.0f} s"
                print(f"{cfg.method:6s} {cfg.dataset:16s} {key!s:28s} run {h}: {how}")
        out[key] = runs[h]
    return out


def run_table(grid: Mapping[Hashable, LeadConfig], index: str | Sequence[str], *, verbose: bool = True,
              **method_options: Any):
    """Train/read every arm of ``grid`` and return its metrics, one row per key.

    Args:
        grid: ``{key: LeadConfig}``; tuple keys give a multi-level index.
        index: the index name(s) (e.g. ``"removal_pct"``, ``("dataset", "method")``).
        method_options: passed to ``fgkd.runs.get_or_train`` (e.g. a pre-built ``teacher`` in tests).

    Returns:
        DataFrame indexed by ``index`` with columns :data:`METRICS` and ``train_s`` (seconds the
        run trained, wherever it was trained).
    """
    import pandas as pd

    names = [index] if isinstance(index, str) else list(index)
    runs = get_runs(grid, verbose=verbose, **method_options)
    rows = []
    for key, run in runs.items():
        keys = key if isinstance(key, tuple) else (key,)
        if len(keys) != len(names):
            raise ValueError(f"run_table: key {key!r} has {len(keys)} parts but index {names} has {len(names)}")
        rows.append({**dict(zip(names, keys)), **metrics_row(run), "train_s": float(run.metrics.get("train_seconds", math.nan))})
    return pd.DataFrame(rows).set_index(names)


def truncated_share(grid: Mapping[Hashable, LeadConfig], *, teacher: Any = None):
    """Percent of each arm's class descriptions longer than the teacher's text context (CLIP reads
    77 tokens and cuts the rest; 70 words are usually more than 77 tokens), so a table of
    description lengths shows where extra words stop reaching the teacher.
    ``teacher``: a built teacher for every arm instead of each arm's own (tests)."""
    import pandas as pd

    from fgkd.teachers import get_teacher
    from fgkd.train.lead import category_names, class_descriptions, load_split

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


# --------------------------------------------------------------------------------------------
# Verdicts: does the paper's direction hold here? (one sentence, computed from the table)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether a paper's claim holds in a table, and the sentence saying so with the numbers."""

    holds: bool
    text: str

    def __str__(self) -> str:
        return self.text


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
    return Verdict(k == n, text)


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
    return Verdict(holds, text)


def verdict_best(series, expected: Hashable, *, what: str) -> Verdict:
    """Whether the best row of ``series`` is ``expected`` (e.g. LEAD in Table 5)."""
    best = series.idxmax()
    values = ", ".join(f"{i}: {_fmt(v)}" for i, v in series.sort_values(ascending=False).items())
    if best == expected:
        return Verdict(True, f"{expected} has the best {series.name} among {what} here ({values}).")
    return Verdict(False, f"{expected} does NOT have the best {series.name} among {what} here; {best} does ({values}).")


def verdict_close(a: float, b: float, *, names: tuple[str, str], reference_gap: float, reference: str,
                  metric: str = "Top-1") -> Verdict:
    """Whether two arms differ by less than ``reference_gap`` points (e.g. LEAD's gain over MoCo v2)."""
    gap = abs(a - b)
    holds = gap < reference_gap
    word = "smaller" if holds else "NOT smaller"
    return Verdict(holds, f"{names[0]} and {names[1]} differ by {_fmt(gap)} {metric} points ({_fmt(a)} vs {_fmt(b)}), "
                          f"{word} than {reference} ({_fmt(reference_gap)} points).")


# --------------------------------------------------------------------------------------------
# Figure 4: t-SNE of MoCo v2 and LEAD features
# --------------------------------------------------------------------------------------------


def subsample(labels: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``max_points`` rows, the same share of every class."""
    labels = np.asarray(labels)
    if max_points >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    share = max_points / len(labels)
    keep = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        keep.extend(rng.choice(rows, max(1, int(round(share * len(rows)))), replace=False).tolist())
    return np.sort(np.asarray(keep[:max_points] if len(keep) > max_points else keep))


def tsne_2d(features: np.ndarray, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """scikit-learn's t-SNE of L2-normalised features ``[N, F] -> [N, 2]`` (PCA init, deterministic).

    Up to 1000 points use the exact gradient: at that size it is several times faster on a CPU than
    Barnes-Hut (measured on 2 cores: 300 points in 12 s vs 62 s) and exact.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))  # TSNE needs perplexity < N
    method = "exact" if len(x) <= 1000 else "barnes_hut"
    return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, random_state=seed).fit_transform(x)


def cached_tsne(run_hash: str, split: str, features: np.ndarray, *, perplexity: float, seed: int) -> np.ndarray:
    """:func:`tsne_2d`, computed once per (run, split, points, perplexity, seed) and kept under
    ``cache_dir("tsne")``: t-SNE is the slowest step of a warm re-run of Figure 4."""
    from fgkd.io import cached_tsne_map

    return cached_tsne_map(f"{run_hash}-{split}", {"run": run_hash, "split": split, "perplexity": perplexity,
                                                   "seed": seed}, np.asarray(features, dtype=np.float32),
                           lambda: tsne_2d(features, perplexity=perplexity, seed=seed))


def separation(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score of the classes in feature space (cosine distance), in [-1, 1]: how well the
    classes form tight, separated clusters (what Figure 4 shows by eye)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(np.asarray(features, dtype=np.float64), np.asarray(labels), metric="cosine"))


def tsne_frame(runs: Mapping[tuple[str, str], Any], *, split: str = "test", max_points: int = 400,
               perplexity: float = 30.0, seed: int = 0):
    """t-SNE points of each run's ``split`` features and each run's class separation.

    Args:
        runs: ``{(benchmark, method label): Run}`` (e.g. :func:`get_runs` of :func:`main_grid`).

    Returns:
        ``(points, separations)``: points is a DataFrame with columns benchmark, method, x, y, label
        (the same subsample of images for both methods of a benchmark); separations is indexed by
        (benchmark, method) with the silhouette of the full ``split`` features.
    """
    import pandas as pd

    frames, rows = [], []
    for (bench, method), run in runs.items():
        arrays = run.features(split)
        feats, labels = arrays["features"], arrays["labels"]
        keep = subsample(labels, max_points, seed)
        xy = cached_tsne(run.cfg.config_hash(), split, feats[keep], perplexity=perplexity, seed=seed)
        frames.append(pd.DataFrame({"benchmark": bench, "method": method, "x": xy[:, 0], "y": xy[:, 1],
                                    "label": labels[keep]}))
        rows.append({"benchmark": bench, "method": method, "silhouette": separation(feats, labels)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows).set_index(["benchmark", "method"])


# --------------------------------------------------------------------------------------------
# Figure 5: the teacher's distribution, its entropy, the adaptive weights, the student's prediction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntropyExamples:
    """Per test image of a LEAD run (N images, C' categories).

    Attributes:
        categories: the C' category names the distributions run over.
        labels: ``[N]`` true class index (into the dataset's classes).
        target: ``[N]`` the true class's index among ``categories`` (-1 if not a category).
        teacher_probs: ``[N, C']`` p_t = softmax(f_t . P^T / T).
        entropy: ``[N]`` H = -sum p_t log p_t / log C'.
        w_cl, w_kd: ``[N]`` LEAD's weights (H^2, 1 - H^2).
        student_probs: ``[N, C']`` p_s = softmax(q . P^T / T), q the student's normalised projection.
    """

    categories: list[str]
    labels: np.ndarray
    target: np.ndarray
    teacher_probs: np.ndarray
    entropy: np.ndarray
    w_cl: np.ndarray
    w_kd: np.ndarray
    student_probs: np.ndarray

    @property
    def teacher_pred(self) -> np.ndarray:
        return self.teacher_probs.argmax(1)

    @property
    def student_pred(self) -> np.ndarray:
        return self.student_probs.argmax(1)

    def frame(self):
        """One row per image: label, teacher/student prediction and correctness, H, w_cl, w_kd."""
        import pandas as pd

        return pd.DataFrame({
            "label": self.labels, "target": self.target,
            "teacher_pred": self.teacher_pred, "teacher_correct": self.teacher_pred == self.target,
            "teacher_p_max": self.teacher_probs.max(1), "entropy": self.entropy,
            "w_cl": self.w_cl, "w_kd": self.w_kd,
            "student_pred": self.student_pred, "student_correct": self.student_pred == self.target,
        })


def teacher_test_outputs(run: Any, *, split: str = "test", teacher: Any = None):
    """The frozen teacher's outputs (``fgkd.teachers.TeacherOutputs``: p_t, H, P...) on every
    ``split`` image of a finished LEAD run, over the run's own categories and descriptions
    (``run.meta``); cached by ``teacher_outputs``. Returns ``(outputs, plain dataset)``."""
    from fgkd.teachers import get_teacher, teacher_outputs
    from fgkd.train.lead import Unlabelled, dataset_id, load_split

    cfg = run.cfg
    if cfg.method != "lead":
        raise ValueError(f"teacher_test_outputs needs a LEAD run (it reads the run's class descriptions); "
                         f"got method={cfg.method!r}")
    meta = run.meta
    categories, descriptions = list(meta["categories"]), list(meta["descriptions"])
    plain = load_split(cfg, split)
    if teacher is None:
        teacher = get_teacher(cfg.teacher, **cfg.teacher_options)
    text_config = {"llm_backend": cfg.llm_backend, "llm_style": cfg.llm_style, "llm_options": cfg.llm_options,
                   "max_words": cfg.max_words, "word_removal": cfg.word_removal,
                   "num_categories": cfg.num_categories, "seed": cfg.seed}
    source = plain if categories == list(plain.classes) else Unlabelled(plain)
    out = teacher_outputs(teacher, source, descriptions, dataset_id=dataset_id(cfg), split=split,
                          text_config=text_config, temperature=cfg.kd_temperature)
    return out, plain


def _targets_among(categories: Sequence[str], plain: Any) -> np.ndarray:
    """``[N]`` each image's true class as an index into ``categories`` (-1: not among them)."""
    position = {name: i for i, name in enumerate(categories)}
    return np.array([position.get(plain.classes[y], -1) for y in plain.targets], dtype=np.int64)


def teacher_zero_shot(runs: Mapping[Hashable, Any], *, split: str = "test", teacher: Any = None):
    """The teacher's own zero-shot Top-1 (percent) on ``split`` over each LEAD run's categories:
    how good the knowledge being distilled is (Table 3's teachers differ in exactly this).
    ``teacher``: a built teacher for every run instead of each run's own (tests)."""
    import pandas as pd

    rows = {}
    for key, run in runs.items():
        out, plain = teacher_test_outputs(run, split=split, teacher=teacher)
        target = _targets_among(run.meta["categories"], plain)
        rows[key] = 100.0 * float((out.probs.argmax(1).numpy() == target).mean())
    return pd.Series(rows, name="teacher zero-shot Top-1")


def entropy_examples(run: Any, *, split: str = "test", teacher: Any = None, batch_size: int = 256) -> EntropyExamples:
    """Figure 5's quantities on every ``split`` image of a finished LEAD run: the teacher's p_t and
    H (:func:`teacher_test_outputs`), LEAD's weights from ``fgkd.losses.entropy_weights`` and the
    student's p_s from its trained projection head against the same prototypes."""
    import torch
    import torch.nn.functional as F

    from fgkd.data.transforms import test_transform
    from fgkd.losses import entropy_weights
    from fgkd.train.lead import load_split

    out, plain = teacher_test_outputs(run, split=split, teacher=teacher)
    cfg = run.cfg
    p_t = out.probs.float()  # [N, C']
    w_cl, w_kd = entropy_weights(p_t)  # [N] each

    model = run.model("cpu")
    data = load_split(cfg, split, test_transform(cfg.image_size))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    prototypes = F.normalize(out.prototypes.float(), dim=1)  # [C', d]
    chunks = []
    with torch.no_grad():
        for x, _ in loader:
            q = F.normalize(model.encoder_q(x), dim=1)  # [n, d]: the projection LEAD distils into
            chunks.append((q @ prototypes.T / cfg.kd_temperature).softmax(dim=1))  # [n, C']
    p_s = torch.cat(chunks)

    categories = list(run.meta["categories"])
    return EntropyExamples(categories=categories, labels=np.asarray(plain.targets),
                           target=_targets_among(categories, plain), teacher_probs=p_t.numpy(),
                           entropy=out.entropy.float().numpy(), w_cl=w_cl.numpy(), w_kd=w_kd.numpy(),
                           student_probs=p_s.numpy())


def pick_examples(frame, per_case: int = 2) -> dict[str, list[int]]:
    """Rows for Figure 5's columns: the teacher right with the lowest entropy, the teacher wrong with
    the highest entropy where the student is right, and hard cases where both are wrong."""
    cases = {
        "teacher right, low entropy": frame[frame.teacher_correct].sort_values("entropy"),
        "teacher wrong, student right": frame[~frame.teacher_correct & frame.student_correct]
        .sort_values("entropy", ascending=False),
        "both wrong (hard)": frame[~frame.teacher_correct & ~frame.student_correct].sort_values("entropy", ascending=False),
    }
    return {name: rows.index[:per_case].tolist() for name, rows in cases.items()}


def entropy_summary(frame) -> dict[str, float]:
    """Mean H when the teacher is right vs wrong, the mean KD weight in each case, and how often the
    student is right where the teacher is wrong (percent; NaN for an empty group)."""
    right, wrong = frame[frame.teacher_correct], frame[~frame.teacher_correct]

    def mean(s) -> float:
        return float(s.mean()) if len(s) else math.nan

    return {
        "teacher Top-1": 100.0 * float(frame.teacher_correct.mean()),
        "student Top-1": 100.0 * float(frame.student_correct.mean()),
        "H (teacher right)": mean(right.entropy),
        "H (teacher wrong)": mean(wrong.entropy),
        "w_kd (teacher right)": mean(right.w_kd),
        "w_kd (teacher wrong)": mean(wrong.w_kd),
        "student right | teacher wrong": 100.0 * mean(wrong.student_correct.astype(float)),
    }


# --------------------------------------------------------------------------------------------
# Table 6: descriptions
# --------------------------------------------------------------------------------------------


def description_examples(recipe: Recipe, datasets: Iterable[str], per_dataset: int = 3):
    """The descriptions the base runs distil from: the first ``per_dataset`` classes of each dataset
    (on the world, the sibling species of one genus) with coarse category, class and word count."""
    import pandas as pd

    from fgkd.llm.perturb import count_words
    from fgkd.train.lead import class_descriptions, load_split

    rows = []
    for dataset in datasets:
        cfg = recipe.config(dataset)
        plain = load_split(cfg, "train")
        names = list(plain.classes)[:per_dataset]
        for name, text in zip(names, class_descriptions(cfg, names, plain)):
            rows.append({"coarse category": COARSE.get(dataset, dataset), "fine-grained category": name,
                         "description": text, "words": count_words(text)})
    return pd.DataFrame(rows)


def description_lengths(recipe: Recipe, datasets: Iterable[str]):
    """Word counts of every class description of each dataset: mean, min, max per dataset."""
    import pandas as pd

    from fgkd.llm.perturb import count_words
    from fgkd.train.lead import class_descriptions, load_split

    rows = []
    for dataset in datasets:
        cfg = recipe.config(dataset)
        plain = load_split(cfg, "train")
        counts = [count_words(t) for t in class_descriptions(cfg, list(plain.classes), plain)]
        rows.append({"dataset": dataset, "classes": len(counts), "mean words": float(np.mean(counts)),
                     "min words": int(min(counts)), "max words": int(max(counts))})
    return pd.DataFrame(rows).set_index("dataset")
