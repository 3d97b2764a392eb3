"""MaKD's experiment grids: the runs behind each table and figure of the paper, as tidy tables.

Every MaKD notebook builds one :class:`Recipe` from its parameters cell (the same recipe keys in
every notebook, so a run two notebooks need is trained once: same config, same hash), asks a grid
function for the :class:`~fgkd.train.MakdConfig` variants of its table, and hands the grid to
:func:`run_table`, which trains what the run store lacks (``fgkd.runs.get_or_train``) and returns
one row per grid point::

    recipe = makd.recipe_from(globals())             # the notebook's parameters
    grid = makd.main_grid(recipe, ["world:bird"], ["resnet18", "resnet34"])
    runs = makd.run_table(grid)                      # index (dataset, backbone, method), top1...
    table = makd.gap_table(runs)                     # Base, Ours, Gap per (dataset, backbone)

Each grid changes exactly the fields its table varies and nothing else (the tests check this):

- :func:`main_grid` (Tables 1-2): ``alpha = 0`` ("Base", plain cross-entropy) vs the recipe's MaKD.
- :func:`ablation_grid` (Table 3): ``aspect_loss`` (a), ``targets`` (b), ``alpha`` (c), and the
  question writer / P(yes) scorer (d) via :func:`source_grid`.
- :func:`aspect_count_grid` (Figure 2): ``num_aspects`` Q, a prefix of one ranked question list.
- :func:`fraction_grid` (Table 5): ``train_fraction``.
- :func:`kd_grid` (Tables 4 and 6): ``mllm_kd_weight`` (zero-shot class logits of the scorer) and
  ``kd_teacher`` (a trained classifier run).

The analysis helpers (Figures 3-5, section 5.5) read a finished run's cached test arrays
(``Run.features("test")``: class and aspect logits, the scorer's P(yes)) and return arrays or
DataFrames for plotting; :class:`Verdict` states, from the numbers, whether the paper's direction
holds at this scale.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from fgkd.train.config import MakdConfig

BASE = "Base"  # MaKD's name for the cross-entropy baseline
OURS = "Ours"  # MaKD's name for its own method

# The real benchmark each world domain stands in for (fgkd.data.world), in fgkd's dataset names.
WORLD_ANALOGUES = {"world:bird": "cub200", "world:car": "stanford_cars", "world:aircraft": "fgvc_aircraft"}


# --------------------------------------------------------------------------------------------
# The recipe: flat notebook parameters -> MakdConfig


def split_list(text: str, *, name: str, convert: Callable[[str], Any] = str) -> list[Any]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (``convert`` applied); empty items dropped.

    Raises ``ValueError`` naming the parameter when the list is empty or an item does not convert.
    """
    if not isinstance(text, str):
        raise ValueError(f"{name}={text!r} must be a comma-separated string, e.g. 'resnet18,resnet34'")
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"{name}={text!r} names nothing; give a comma-separated list")
    try:
        return [convert(t) for t in items]
    except ValueError:
        raise ValueError(f"{name}={text!r}: every item must be a {convert.__name__}") from None


def llm_options(backend: str, *, model: str = "", questions_file: str = "", seed: int = 0) -> dict[str, Any]:
    """``MakdConfig.llm_options`` of a question writer.

    ``openai``: ``{"model": model}`` (the key stays in the environment); ``file``:
    ``{"questions": questions_file}``; ``template``: ``{"seed": seed}`` when ``seed != 0`` (the
    template "LLM" samples its candidate questions with that seed: another LLM's draft).
    """
    if backend == "openai":
        if not model:
            raise ValueError("the openai question writer needs a model name (llm_model), e.g. 'gpt-4o'")
        return {"model": model}
    if backend == "file":
        if not questions_file:
            raise ValueError("the file question writer needs questions_file=<path to a ranked questions file>")
        return {"questions": questions_file}
    return {"seed": int(seed)} if backend == "template" and seed else {}


def scorer_options(scorer: str, *, model: str = "", oracle_noise: float = 1.0) -> dict[str, Any]:
    """``MakdConfig.scorer_options``: the CLIP teacher (``clip``), the model id (``vlm``) or the
    oracle's logit-space noise sigma (``oracle``; world ground truth, not a model)."""
    if scorer == "clip":
        return {"teacher": model} if model else {}
    if scorer == "vlm":
        if not model:
            raise ValueError("the vlm scorer needs a model id (scorer_model), e.g. 'OpenGVLab/InternVL3-8B-hf'")
        return {"model_id": model}
    if scorer == "oracle":
        if not (isinstance(oracle_noise, (int, float)) and oracle_noise >= 0):
            raise ValueError(f"oracle_noise={oracle_noise!r} must be a number >= 0")
        return {"noise": float(oracle_noise)}
    return {"model": model} if model else {}


@dataclass(frozen=True)
class Recipe:
    """The settings every MaKD notebook shares (its parameters cell's recipe block).

    ``config(dataset)`` is the MaKD run ("Ours") of that dataset; the grids derive every other run
    from it by changing the fields they vary. World datasets get ``world_*`` as their options;
    real datasets read ``data_root``. Defaults: MaKD's schedule (section 4.1) and the embedded
    world's data; the notebooks' parameters (``params/<set>/makd_*.yaml``) set the scale.
    """

    world_classes: int = 20  # target classes C of a world dataset
    world_train_per_class: int = 30  # training images per class of a world dataset
    world_test_per_class: int = 100  # test images per class of a world dataset (2000 at C = 20: a Top-1 standard error near 1 point)
    image_size: int = 32  # training crop (world render size)
    backbone: str = "resnet18"
    pretrained: bool = False
    epochs: int = 240
    batch_size: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    llm: str = "template"  # question writer: template | openai | file
    llm_style: str = "a"  # template style (questions do not depend on it; kept for the record)
    llm_model: str = ""  # openai model
    questions_file: str = ""  # file backend: ranked questions
    n_generate: int = 100  # N questions generated
    n_select: int = 50  # questions selected and ranked; every Q is a prefix of this list
    num_aspects: int = 50  # Q
    scorer: str = "clip"  # P(yes) source: clip | vlm | oracle
    scorer_model: str = "embedded-M"  # clip: teacher name; vlm: model id
    oracle_noise: float = 1.0  # oracle scorer only: sigma of the logit noise
    alpha: float = 1.0  # weight of the aspect loss
    seeds: str = "0"  # comma-separated training seeds; tables average over them
    data_root: str = ""  # folder holding one sub-folder per real dataset; empty: $FGKD_DATA_DIR or ~/data
    device: str = "auto"
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("world_classes", "world_train_per_class", "world_test_per_class", "image_size", "epochs",
                     "batch_size", "n_generate", "n_select", "num_aspects", "num_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "num_workers" else 1):
                raise ValueError(f"{name}={value!r} must be a positive int")
        self.seed_list  # validates seeds
        # Building the config runs MakdConfig's own checks (lr, alpha, Q <= n_select...) once, here.
        self.config("world:bird")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @property
    def seed_list(self) -> list[int]:
        seeds = split_list(self.seeds, name="seeds", convert=int)
        if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds={self.seeds!r} must be distinct ints >= 0, e.g. '0,1,2'")
        return seeds

    def dataset_options(self, dataset: str) -> dict[str, Any]:
        if not dataset.startswith("world:"):
            return {}
        return {"num_classes": self.world_classes, "image_size": self.image_size,
                "train_per_class": self.world_train_per_class, "test_per_class": self.world_test_per_class}

    def dataset_root(self, dataset: str) -> str | None:
        """``<data_root>/<dataset>`` for a real dataset (several datasets share one ``data_root``);
        None for the world or an empty ``data_root`` (the registry's default place)."""
        if not self.data_root or dataset.startswith("world:"):
            return None
        return str(Path(self.data_root).expanduser() / dataset)

    def config(self, dataset: str, **changes: Any) -> MakdConfig:
        """The recipe's MaKD run on ``dataset`` (first seed), with ``changes`` applied."""
        cfg = MakdConfig(
            dataset=dataset, dataset_options=self.dataset_options(dataset), data_root=self.dataset_root(dataset),
            image_size=self.image_size, backbone=self.backbone, pretrained=self.pretrained, small_input=False,
            llm_backend=self.llm, llm_style=(self.llm_style or None) if self.llm == "template" else None,
            llm_options=llm_options(self.llm, model=self.llm_model, questions_file=self.questions_file),
            n_generate=self.n_generate, n_select=self.n_select, num_aspects=self.num_aspects,
            scorer=self.scorer, scorer_options=scorer_options(self.scorer, model=self.scorer_model,
                                                              oracle_noise=self.oracle_noise),
            alpha=self.alpha, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
            epochs=self.epochs, seed=self.seed_list[0], device=self.device, num_workers=self.num_workers,
            progress=False,
        )
        return cfg.replace(**changes) if changes else cfg

    def zero_shot_teacher(self) -> str | None:
        """The CLIP teacher whose zero-shot class logits stand in for the MLLM's (``clip`` scorer),
        None when the scorer has its own (``vlm``) or has none (``oracle``)."""
        if self.scorer == "clip":
            from fgkd.teachers.clip import DEFAULT_SCORER_TEACHER

            return self.scorer_model or DEFAULT_SCORER_TEACHER
        return None

    @property
    def has_zero_shot(self) -> bool:
        """Whether this recipe has an "MLLM" zero-shot classifier (the oracle is not a model)."""
        return self.scorer in ("clip", "vlm")

    def kit_label(self, datasets: str | Sequence[str], backbone: str | None = None) -> str:
        """``"fgkd embedded (world:bird, 32 px, 10 epochs)"``: the scale of this recipe's numbers."""
        from fgkd import report

        names = [datasets] if isinstance(datasets, str) else list(datasets)
        label = report.kit_label("/".join(names), self.image_size, backbone)
        return f"{label[:-1]}, {self.epochs} epoch{'s' if self.epochs != 1 else ''})"


def embedded_teachers(params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The embedded CLIP teachers a MaKD notebook with these parameters trains on first use, as
    ``(name, get_teacher options)``: the ``clip`` scorer's teacher and the ablation's other scorer
    (``alt_scorer``). ``fgkd reproduce`` trains them before the notebooks, in parallel."""
    from fgkd.teachers.clip import DEFAULT_SCORER_TEACHER

    names = [str(params.get(f"{prefix}scorer_model", "")) or DEFAULT_SCORER_TEACHER
             for prefix in ("", "alt_") if params.get(f"{prefix}scorer") == "clip"]
    return [(n, {}) for n in dict.fromkeys(names) if n.startswith("embedded-")]


def check_names(**lists: Sequence[str]) -> None:
    """Fail early on unknown names: ``check_names(datasets=[...], backbones=[...])``; a keyword
    ending in ``dataset(s)`` is checked against ``fgkd.data.list_datasets()``, ``backbone(s)``
    against ``fgkd.models.list_backbones()``. The message names the parameter and the choices."""
    from fgkd.data import list_datasets
    from fgkd.models import list_backbones

    for name, values in lists.items():
        kind = name.rstrip("s")
        if kind.endswith("dataset"):
            known = list_datasets()
        elif kind.endswith("backbone"):
            known = list_backbones()
        else:
            raise ValueError(f"check_names: cannot tell what {name!r} holds (use *dataset(s) or *backbone(s))")
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ValueError(f"{name} names unknown {kind.split('_')[-1]}(s) {unknown}; choose from {', '.join(known)}")


def recipe_from(params: Mapping[str, Any]) -> Recipe:
    """The :class:`Recipe` of a notebook: the recipe keys of ``params`` (e.g. ``globals()``), the
    others ignored; a missing key keeps its default, a bad value raises ``ValueError``."""
    values = {k: params[k] for k in Recipe.field_names() if k in params}
    try:
        return Recipe(**values)
    except TypeError as exc:  # a value of the wrong type reaching int comparisons
        raise ValueError(f"bad recipe parameter: {exc}") from None


# --------------------------------------------------------------------------------------------
# Grids: {key: MakdConfig}; only the named fields differ from the recipe's run


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


def changed_fields(a: MakdConfig, b: MakdConfig) -> set[str]:
    """The config fields whose values differ between ``a`` and ``b``."""
    da, db = a.to_dict(), b.to_dict()
    return {k for k in da if da[k] != db[k]}


# --------------------------------------------------------------------------------------------
# Running grids


def with_seed(cfg: MakdConfig, seed: int) -> MakdConfig:
    """``cfg`` with training seed ``seed`` (a classical-KD teacher follows the student's seed)."""
    changes: dict[str, Any] = {"seed": seed}
    if cfg.kd_teacher is not None:
        changes["kd_teacher"] = {**cfg.kd_teacher, "seed": seed}
    return cfg.replace(**changes)


def train_grid(grid: Grid, seeds: Sequence[int] | None = None, *,
               log: Callable[[str], None] | None = print) -> dict[Hashable, list[Any]]:
    """``{key: [Run per seed]}``, training what the run store lacks (one ``get_or_train`` each).

    ``seeds`` None keeps each config's own seed. ``log`` gets one line per run (None: silent).
    """
    from fgkd.runs import Run, get_or_train

    runs: dict[Hashable, list[Any]] = {}
    for key, cfg in grid.items():
        runs[key] = []
        for seed in ([cfg.seed] if seeds is None else seeds):
            c = with_seed(cfg, seed)
            cached = Run.of(c).done
            start = time.perf_counter()
            run = get_or_train(c)
            runs[key].append(run)
            if log is not None:
                took = "cached" if cached else f"trained in {time.perf_counter() - start:.0f} s"
                log(f"{key!s:<44} seed {seed}: top-1 {run.metrics['top1']:6.2f}  ({took})")
    return runs


def run_table(grid: Grid, index: str | Sequence[str] | None = None, seeds: Sequence[int] | None = None, *,
              log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """One row per grid point: mean ``top1``/``top5`` over seeds, ``top1_std``, ``seeds``, the test
    size ``n_test`` and, for aspect runs, ``aspect_agreement`` (% of test P(yes) on the scorer's
    side of 0.5). ``index`` names the key's parts (a tuple key gives a MultiIndex)."""
    runs = train_grid(grid, seeds, log=log)
    rows = []
    for key, key_runs in runs.items():
        metrics = [r.metrics for r in key_runs]
        top1 = np.array([m["top1"] for m in metrics], dtype=float)
        row = {"top1": top1.mean(), "top5": float(np.mean([m["top5"] for m in metrics])),
               "top1_std": float(top1.std(ddof=1)) if len(top1) > 1 else float("nan"), "seeds": len(top1),
               "n_test": int(len(key_runs[0].features("test")["labels"]))}
        agree = [m["aspect_agreement"] for m in metrics if "aspect_agreement" in m]
        row["aspect_agreement"] = float(np.mean(agree)) if agree else float("nan")
        rows.append(row)
    keys = list(runs)
    if keys and isinstance(keys[0], tuple):
        idx = pd.MultiIndex.from_tuples(keys, names=_names(index, len(keys[0])))
    else:
        idx = pd.Index(keys, name=index if isinstance(index, str) else None)
    return pd.DataFrame(rows, index=idx)


def _names(index: str | Sequence[str] | None, n: int) -> list[str | None]:
    if index is None:
        return [None] * n
    names = [index] if isinstance(index, str) else list(index)
    if len(names) != n:
        raise ValueError(f"index names {names} do not match keys of {n} parts")
    return names


def gap_table(runs: pd.DataFrame, method_level: str = "method") -> pd.DataFrame:
    """Base, Ours and ``Gap = Ours - Base`` (top-1, points) per the other index levels, with the
    noise of the gap (:func:`gap_noise`)."""
    order = runs.index.droplevel(method_level).unique()  # unstack sorts; keep the grid's order
    top1 = runs["top1"].unstack(method_level).reindex(order)
    missing = [m for m in (BASE, OURS) if m not in top1.columns]
    if missing:
        raise KeyError(f"gap_table needs {BASE} and {OURS} rows; missing {missing}")
    n = runs["n_test"].unstack(method_level).reindex(order)[OURS]
    table = pd.DataFrame({BASE: top1[BASE], OURS: top1[OURS]})
    table["Gap"] = table[OURS] - table[BASE]
    table["Gap noise"] = [gap_noise(b, o, int(k)) for b, o, k in zip(table[BASE], table[OURS], n)]
    return table


def gap_noise(acc_a: float, acc_b: float, n_test: int) -> float:
    """One standard error (points) of the difference of two top-1 accuracies (%) measured on
    ``n_test`` images each, binomial: ``100 * sqrt(p_a (1 - p_a) / n + p_b (1 - p_b) / n)``.

    A gap smaller than about twice this is within test-set noise for a single seed."""
    pa, pb = acc_a / 100.0, acc_b / 100.0
    return 100.0 * math.sqrt(max(pa * (1 - pa), 0) / n_test + max(pb * (1 - pb), 0) / n_test)


# --------------------------------------------------------------------------------------------
# Zero-shot "MLLM" accuracy (Tables 1-2's MLLM row)


def zero_shot_accuracy(cfg: MakdConfig, mllm_teacher: str | None = None) -> float:
    """Top-1 (%) of the zero-shot classifier standing in for MaKD's MLLM, on ``cfg``'s test split.

    ``mllm_teacher`` (a CLIP teacher name): argmax of its ``logit_scale * cos(image, "a photo of a
    {class}.")``; None: the ``vlm`` scorer's zero-shot class log-likelihoods. Cached with the
    teacher outputs. NaN for the oracle scorer (it is not a model and cannot classify).
    """
    from fgkd.train.engine import resolve_device
    from fgkd.train.lead import load_split
    from fgkd.train.makd import zero_shot_logits

    if mllm_teacher is None and cfg.scorer != "vlm":
        return float("nan")
    cfg = cfg.replace(mllm_teacher=mllm_teacher)
    test = load_split(cfg, "test")
    logits = zero_shot_logits(cfg, test, "test", resolve_device(cfg.device))
    labels = np.asarray(test.targets)
    return float(100.0 * np.mean(logits.argmax(axis=1) == labels))


def main_table(recipe: Recipe, datasets: Sequence[str], backbones: Sequence[str], *,
               log: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Tables 1-2 at the recipe's scale: index ``(dataset, paper dataset, backbone)``, columns
    ``Base, Ours, Gap, MLLM`` (plus ``Gap noise``); MLLM is the zero-shot accuracy of
    :meth:`Recipe.zero_shot_teacher` or the vlm scorer (NaN without one)."""
    runs = run_table(main_grid(recipe, datasets, backbones), ("dataset", "backbone", "method"),
                     recipe.seed_list, log=log)
    table = gap_table(runs)
    zero_shot = {d: zero_shot_accuracy(recipe.config(d), recipe.zero_shot_teacher()) if recipe.has_zero_shot
                 else float("nan") for d in datasets}
    table["MLLM"] = [zero_shot[d] for d in table.index.get_level_values("dataset")]
    table.index = pd.MultiIndex.from_tuples(
        [(d, WORLD_ANALOGUES.get(d, d), b) for d, b in table.index], names=["dataset", "paper dataset", "backbone"])
    return table[[BASE, OURS, "Gap", "MLLM", "Gap noise"]]


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


def main_verdicts(table: pd.DataFrame, paper: pd.DataFrame) -> list[Verdict]:
    """Per row of :func:`main_table`: MaKD beats Base (the paper's gap beside it), and the trained
    Base beats the zero-shot "MLLM" (the paper's section 5.1 on fine-grained data)."""
    out = []
    for key, row in table.iterrows():
        dataset, paper_dataset, backbone = key
        where = f"{dataset}, {backbone}"
        paper_gap = paper.loc[key, "Gap"] if key in paper.index else None
        out.append(Verdict(f"MaKD beats Base ({where})", float(row["Gap"]),
                           None if paper_gap is None or _isnan(float(paper_gap)) else float(paper_gap),
                           float(row["Gap noise"])))
    for dataset in dict.fromkeys(table.index.get_level_values("dataset")):
        rows = table.xs(dataset, level="dataset")
        mllm = float(rows["MLLM"].iloc[0])
        if not _isnan(mllm):
            key = rows.index[0]
            paper_row = paper.xs(dataset, level="dataset") if dataset in paper.index.get_level_values("dataset") else None
            paper_diff = None
            if paper_row is not None and not paper_row.empty and not _isnan(float(paper_row["MLLM"].iloc[0])):
                paper_diff = float(paper_row["Base"].iloc[0] - paper_row["MLLM"].iloc[0])
            out.append(Verdict(f"Base ({key[1]}) beats the zero-shot MLLM stand-in on {dataset}",
                               float(rows["Base"].iloc[0] - mllm), paper_diff))
    return out


# --------------------------------------------------------------------------------------------
# Verdicts: does the paper's direction hold at this scale?


@dataclass(frozen=True)
class Verdict:
    """One directional claim of the paper checked against fgkd's numbers.

    ``kit`` is the measured difference (positive = the paper's direction), ``paper`` the paper's
    (None when it only states the direction), ``noise`` one standard error of ``kit``; ``unit``
    names what they are (top-1 points by default).
    """

    claim: str
    kit: float
    paper: float | None = None
    noise: float | None = None
    unit: str = "points"

    @property
    def holds(self) -> bool:
        return bool(self.kit > 0)

    @property
    def within_noise(self) -> bool:
        return self.noise is not None and abs(self.kit) < 2 * self.noise

    def __str__(self) -> str:
        paper = "" if self.paper is None or _isnan(self.paper) else f" (paper: {self.paper:+.2f})"
        noise = "" if self.noise is None else f", noise ±{self.noise:.2f} (1 s.e.)"
        status = "reproduced" if self.holds else "NOT reproduced"
        caveat = "; within test-set noise" if self.within_noise else ""
        return f"{self.claim}{paper}: {status} here, {self.kit:+.2f} {self.unit}{noise}{caveat}."


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def summary(verdicts: Sequence[Verdict]) -> str:
    """``"3 of 4 directions reproduced"`` plus the claims that are not."""
    failed = [v.claim for v in verdicts if not v.holds]
    text = f"{len(verdicts) - len(failed)} of {len(verdicts)} directions reproduced"
    return text + (f"; not reproduced: {'; '.join(failed)}" if failed else "")


def beats(table: pd.DataFrame, winner: Hashable, loser: Hashable, claim: str, *, column: str = "top1",
          paper: float | None = None) -> Verdict:
    """Verdict of ``table.loc[winner, column] > table.loc[loser, column]`` with binomial noise."""
    a, b = float(table.loc[winner, column]), float(table.loc[loser, column])
    n = int(table.loc[winner, "n_test"]) if "n_test" in table.columns else 0
    return Verdict(claim, a - b, paper, gap_noise(a, b, n) if n else None)


# --------------------------------------------------------------------------------------------
# Curves (Table 3c, Figure 2, Table 5)


def alpha_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 3c's plot data from one backbone's ablation runs (index ``(part, setting)``): index
    ``alpha`` (0 = Base), column top1."""
    part = runs.xs("c", level="part")["top1"].rename("top1")
    part.index = pd.Index([float(a) for a in part.index], name="alpha")
    return part.sort_index().to_frame()


def alpha_drop(curve: pd.DataFrame, at: float = 50.0) -> Verdict:
    """The paper's "performance decreases when alpha reaches 50": best accuracy below ``at`` minus
    the accuracy at ``at`` (positive = it drops)."""
    if at not in curve.index:
        raise KeyError(f"alpha {at} is not in the sweep {list(curve.index)}; add it to alphas")
    below = curve.loc[(curve.index > 0) & (curve.index < at), "top1"]
    if below.empty:
        raise ValueError(f"the sweep needs an alpha between 0 and {at} to compare with")
    return Verdict(f"accuracy drops at alpha = {at:g} (vs the best alpha below)", float(below.max() - curve.loc[at, "top1"]))


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


# --------------------------------------------------------------------------------------------
# Aspect analyses (Figures 3-5)


@dataclass(frozen=True)
class AspectArrays:
    """A finished MaKD run's aspect outputs on one split.

    ``student`` and ``scorer`` are P(yes) ``[N, Q]`` (the student's ``sigmoid(y_hat[C:])`` and the
    scorer's targets q); ``labels [N]``; ``questions`` (Q texts); ``classes`` (C names).
    """

    questions: list[str]
    classes: list[str]
    labels: np.ndarray
    student: np.ndarray
    scorer: np.ndarray
    split: str = "test"

    @property
    def student_logits(self) -> np.ndarray:
        return _logit(self.student)

    @property
    def scorer_logits(self) -> np.ndarray:
        return _logit(self.scorer)


def _logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def aspect_arrays(run: Any, split: str = "test") -> AspectArrays:
    """:class:`AspectArrays` of ``run`` (a MaKD run with real targets) from its cached features."""
    features = run.features(split)
    if "aspect_logits" not in features or "scorer_probs" not in features:
        raise ValueError(f"run {run.path.name} has no aspect logits with scorer targets: use a MaKD run "
                         "(alpha > 0) with targets='real'")
    meta = run.meta
    logits = features["aspect_logits"].astype(np.float64)
    return AspectArrays(questions=list(meta["questions"]), classes=list(meta["classes"]),
                        labels=np.asarray(features["labels"]), student=1.0 / (1.0 + np.exp(-logits)),
                        scorer=np.asarray(features["scorer_probs"], dtype=np.float64), split=split)


def truth_quality(run: Any, arrays: AspectArrays | None = None) -> pd.DataFrame:
    """World datasets only: how well P(yes) ranks the world's true answers, per question.

    Columns: ``base rate`` (share of test images whose true answer is yes), ``scorer AUC`` and
    ``student AUC`` (ROC AUC of the scorer's and the student's P(yes) against the true answer per
    test image; 0.5 = no information, 1 = perfect; NaN where every answer is the same). The truth
    comes from the world's attributes (``fgkd.teachers.aspects.ground_truth``), never from a model.
    """
    from sklearn.metrics import roc_auc_score

    from fgkd.teachers.aspects import ground_truth
    from fgkd.train.lead import load_split
    from fgkd.train.makd import aspect_questions

    cfg = run.cfg
    if not cfg.dataset.startswith("world:"):
        raise ValueError(f"truth_quality needs a world dataset (its attributes are the truth); got {cfg.dataset!r}")
    arrays = aspect_arrays(run) if arrays is None else arrays
    questions = aspect_questions(cfg, load_split(cfg, "train"))[: len(arrays.questions)]
    if [q.text for q in questions] != arrays.questions:
        raise ValueError("the run's questions differ from the LLM's questions now; was the question writer changed?")
    truth = ground_truth(load_split(cfg, arrays.split), questions)  # [N, Q] in {0, 1}

    def auc(values: np.ndarray, i: int) -> float:
        y = truth[:, i]
        return float(roc_auc_score(y, values[:, i])) if 0 < y.mean() < 1 else float("nan")

    rows = [{"question": text, "base rate": float(truth[:, i].mean()), "scorer AUC": auc(arrays.scorer, i),
             "student AUC": auc(arrays.student, i)} for i, text in enumerate(arrays.questions)]
    return pd.DataFrame(rows).set_index("question")


def class_means(arrays: AspectArrays, source: str = "scorer") -> pd.DataFrame:
    """Figure 3: mean P(yes) per class (rows, class names) and question (columns, texts), ``[C, Q]``."""
    values = {"scorer": arrays.scorer, "student": arrays.student}
    if source not in values:
        raise ValueError(f"source={source!r}; use 'scorer' or 'student'")
    from fgkd.train.makd import class_mean

    means = class_mean(values[source], arrays.labels, len(arrays.classes))
    return pd.DataFrame(means, index=pd.Index(arrays.classes, name="class"),
                        columns=pd.Index(arrays.questions, name="question"))


def question_agreement(arrays: AspectArrays) -> pd.DataFrame:
    """Per question: the scorer's spread of P(yes) over images (std), the student-scorer Pearson
    correlation of logits over images, the mean absolute P(yes) difference, and the share of class
    variance in the scorer's P(yes) (how much the question separates classes: between-class
    variance of the class means / total variance)."""
    rows = []
    s_logit, q_logit = arrays.student_logits, arrays.scorer_logits
    for i, text in enumerate(arrays.questions):
        q = arrays.scorer[:, i]
        corr = np.corrcoef(s_logit[:, i], q_logit[:, i])[0, 1] if q.std() > 0 and s_logit[:, i].std() > 0 else np.nan
        means = np.array([q[arrays.labels == c].mean() for c in np.unique(arrays.labels)])
        counts = np.array([(arrays.labels == c).sum() for c in np.unique(arrays.labels)])
        between = float(np.sum(counts * (means - q.mean()) ** 2) / len(q))
        rows.append({"question": text, "scorer std": float(q.std()), "student-scorer r": float(corr),
                     "mean |P_student - P_scorer|": float(np.abs(arrays.student[:, i] - q).mean()),
                     "class share of scorer variance": between / q.var() if q.var() > 0 else np.nan})
    return pd.DataFrame(rows).set_index("question")


def image_examples(arrays: AspectArrays, images: Sequence[int], questions: Sequence[int]) -> pd.DataFrame:
    """Figure 5: tidy rows ``(image, class, question) -> P(yes) student, P(yes) scorer`` (percent)."""
    rows = []
    for n in images:
        for i in questions:
            rows.append({"image": int(n), "class": arrays.classes[int(arrays.labels[n])],
                         "question": arrays.questions[i], "student P(yes)": 100 * float(arrays.student[n, i]),
                         "scorer P(yes)": 100 * float(arrays.scorer[n, i])})
    return pd.DataFrame(rows).set_index(["image", "class", "question"])


def example_rows(examples: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """:func:`image_examples` re-indexed ``(image, question)`` with readable image names
    (``"world:bird test image 12 (Crested Warbler)"``), the layout of :func:`paper_examples`."""
    index = pd.MultiIndex.from_tuples(
        [(f"{dataset} test image {n} ({cls})", q) for n, cls, q in examples.index], names=["image", "question"])
    return examples.set_axis(index, axis=0)


def paper_examples() -> pd.DataFrame:
    """The paper's Figure 5 numbers, indexed ``(image, question)``; column ``student P(yes)`` (the
    MLLM's values are plotted, not printed)."""
    from fgkd.reference import paper_table

    paper = paper_table("makd", "figure5")
    index = pd.MultiIndex.from_tuples([(f"{d} {cls} image", q) for d, cls, q in paper.index],
                                      names=["image", "question"])
    return paper.set_axis(index, axis=0).rename(columns={"P(yes)": "student P(yes)"})


def pick_examples(arrays: AspectArrays, num_images: int = 2, num_questions: int = 4, seed: int = 0
                  ) -> tuple[list[int], list[int]]:
    """Images of distinct classes (seeded) and, per the whole set, the questions whose scorer P(yes)
    varies most across these images (the informative bars of Figure 5)."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(arrays.labels))[:num_images]
    images = [int(rng.choice(np.flatnonzero(arrays.labels == c))) for c in classes]
    spread = arrays.scorer[images].std(axis=0) + 1e-3 * arrays.scorer.std(axis=0)
    questions = [int(i) for i in np.argsort(-spread, kind="stable")[:num_questions]]
    return images, questions


def tsne(arrays: AspectArrays, *, perplexity: float = 30.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Figure 4: 2-D t-SNE of the aspect logits ``[N, Q]`` of the student and of the scorer,
    ``{"student": [N, 2], "scorer": [N, 2]}`` (sklearn, PCA init, seeded)."""
    import sklearn
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from fgkd.io import cached_tsne_map

    n = len(arrays.labels)
    perplexity = float(min(perplexity, max(2.0, (n - 1) / 3)))

    def fit(x: np.ndarray) -> np.ndarray:
        # One thread: the Barnes-Hut sums then run in a fixed order (the same map on every machine), and
        # a few hundred points take about a second; OpenMP threads spin badly on a busy 2-core machine.
        with threadpool_limits(limits=1):
            return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)

    out = {}
    for name, x in (("student", arrays.student_logits), ("scorer", arrays.scorer_logits)):
        # Cached by content: the two maps are most of a warm re-run of Figure 4 (about 40 s).
        out[name] = cached_tsne_map("makd", {"what": "makd aspect-logit t-SNE", "perplexity": perplexity, "seed": seed,
                                             "sklearn": sklearn.__version__, "dtype": str(np.asarray(x).dtype)},
                                    x, lambda x=x: fit(x))
    return out


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each image's ``k`` nearest neighbours (Euclidean) that two spaces agree on,
    ``[N, d_a]`` vs ``[N, d_b]``: 1 = the same neighbourhoods, about ``k / N`` by chance."""
    k = int(min(k, len(a) - 1))

    def neighbours(x: np.ndarray) -> np.ndarray:  # [N, k] indices, self excluded; N is a test split
        x = np.asarray(x, dtype=np.float64)
        d = np.sum(x**2, 1)[:, None] + np.sum(x**2, 1)[None, :] - 2 * x @ x.T  # [N, N]
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1, kind="stable")[:, :k]

    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(neighbours(a), neighbours(b))]))


def load_images(cfg: MakdConfig, indices: Sequence[int], split: str = "test") -> list[Any]:
    """The PIL images ``indices`` of ``cfg``'s dataset split (for showing Figure 5's examples)."""
    from fgkd.train.lead import load_split

    data = load_split(cfg, split)
    return [data[int(i)][0] for i in indices]


# --------------------------------------------------------------------------------------------
# Cost (section 5.5)


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
