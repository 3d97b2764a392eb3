"""What both papers' experiments share: the recipe base, the verdict, running grids into tables,
comma-separated notebook lists, changed fields, and t-SNE maps (cached by ``fgkd.io.cached_tsne_map``).

A grid is ``{key: RunConfig}``; a key is a scalar or a tuple (a multi-level index). Every grid
point is trained once per seed by the run store and read back afterwards.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from fgkd.config import Config

Grid = Mapping[Hashable, Any]
EMBEDDED_IMAGENET = "embedded-imagenet"
"""The job name of the students' embedded ImageNet (``pretrained: "world"``) among a paper's
``embedded_teachers`` entries: ``fgkd reproduce`` trains it first, beside the teachers."""
SHARED_THREADS_DEFAULT = 1  # fgkd.determinism.SHARED_THREADS, without importing torch here


# --------------------------------------------------------------------------------------------
# The shared recipe of a paper's notebooks


@dataclass(frozen=True)
class Recipe(Config):
    """Base of each paper's recipe: the settings every notebook of that paper shares, read from
    ``params/<set>/<paper>.yaml`` (``paper`` names the file). Field types are checked by
    :class:`fgkd.config.Config`; strings use ``""`` for "not set" (notebook parameters are flat scalars)."""

    paper = ""  # "lead" or "makd": the recipe file's name (a class attribute, not a field)

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """The recipe of a notebook (``recipe_from(globals())``): the shared recipe of its params
        set, ``params/<params_set>/<paper>.yaml`` (``params_set`` from ``namespace``, default
        ``"embedded"``), with any field present in ``namespace`` overriding the file (so
        ``papermill -p epochs 10`` works); other keys of ``namespace`` are ignored. A key of the
        file that is no field is a ``ParamsError`` naming the file, the key and the closest field;
        a field in neither keeps its default; a bad value raises ``ValueError``."""
        from fgkd.reproduce import sets

        names = cls.field_names()
        values = sets.recipe_values(namespace.get("params_set", sets.DEFAULT_SET), cls.paper, names)
        values.update({k: namespace[k] for k in names if k in namespace})
        return cls(**values)

    @property
    def seed_list(self) -> list[int]:
        """The recipe's ``seeds`` (``"0,1,2"``) as distinct ints >= 0: every table is over them."""
        seeds = split_list(getattr(self, "seeds"), int, name="seeds")
        if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds={getattr(self, 'seeds')!r} must be distinct ints >= 0, e.g. '0,1,2'")
        return seeds


# --------------------------------------------------------------------------------------------
# Notebook parameters


def split_list(text: str, convert: Callable[[str], Any] = str, *, name: str = "value") -> list[Any]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (each converted), for comma-separated notebook parameters;
    an empty list or a value that does not convert is a ``ValueError`` naming the parameter."""
    if not isinstance(text, str):
        raise ValueError(f"{name}={text!r} must be a comma-separated string, e.g. 'resnet18,resnet34'")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{name}={text!r} is empty; give a comma-separated list")
    try:
        return [convert(p) for p in parts]
    except ValueError:
        raise ValueError(f"{name}={text!r}: every item must be a {convert.__name__}") from None


def check_names(**lists: Sequence[str]) -> None:
    """Fail early on unknown names: ``check_names(datasets=[...], backbones=[...])``; a keyword
    ending in ``dataset(s)`` is checked against ``fgkd.data.list_datasets()``, ``backbone(s)``
    against ``fgkd.models.list_backbones()``. The message names the parameter and the choices."""
    from fgkd.data import is_folder_dataset, list_datasets
    from fgkd.models import list_backbones

    for name, values in lists.items():
        kind = name.rstrip("s")
        if kind.endswith("dataset"):
            known = list_datasets()
        elif kind.endswith("backbone"):
            known = list_backbones()
        else:
            raise ValueError(f"check_names: cannot tell what {name!r} holds (use *dataset(s) or *backbone(s))")
        unknown = [v for v in values if v not in known and not (kind.endswith("dataset") and is_folder_dataset(v))]
        if unknown:
            also = " or folder:<path> (your own image folder)" if kind.endswith("dataset") else ""
            raise ValueError(f"{name} names unknown {kind.split('_')[-1]}(s) {unknown}; choose from "
                             f"{', '.join(known)}{also}")


def changed_fields(a: Any, b: Any) -> set[str]:
    """The fields two run configs share whose values differ, plus ``"method"`` when they are runs
    of different methods (a field only one of them has is not compared: LEAD's teacher is not a
    change of its MoCo v2 baseline, it is what the method adds)."""
    da, db = a.to_dict(), b.to_dict()
    changed = {k for k in da.keys() & db.keys() if da[k] != db[k]}
    if getattr(a, "method", None) != getattr(b, "method", None):
        changed.add("method")
    return changed


# --------------------------------------------------------------------------------------------
# Running grids


def with_seed(cfg: Any, seed: int) -> Any:
    """``cfg`` with training seed ``seed`` (a classical-KD teacher run follows the student's seed)."""
    changes: dict[str, Any] = {"seed": seed}
    if getattr(cfg, "kd_teacher", None) is not None:
        changes["kd_teacher"] = {**cfg.kd_teacher, "seed": seed}
    return cfg.replace(**changes)


LOG_NAMES = {"top1": "top-1", "AP": "box AP"}  # the metric each run's log line shows (classifiers, detectors)


def train_grid(grid: Grid, seeds: Sequence[int] | None = None, *, log: Callable[[str], None] | None = print,
               **dependencies: Any) -> dict[Hashable, list[Any]]:
    """``{key: [Run per seed]}``, training what the run store lacks (one ``get_or_train`` each).

    ``seeds`` None keeps each config's own seed. ``log`` gets one line per run (None: silent).
    ``dependencies`` are handed to every method (e.g. a pre-built ``teacher`` in tests). Keys
    naming the same run share it (asked for once).
    """
    from fgkd.runs import Run, get_or_train

    runs: dict[Hashable, list[Any]] = {}
    seen: dict[str, Any] = {}
    for key, cfg in grid.items():
        runs[key] = []
        for seed in ([cfg.seed] if seeds is None else seeds):
            c = with_seed(cfg, seed)
            h = c.config_hash()
            if h in seen:
                runs[key].append(seen[h])
                continue
            cached = Run.of(c).done
            start = time.perf_counter()
            run = seen[h] = get_or_train(c, **dependencies)
            runs[key].append(run)
            if log is not None:
                took = "cached" if cached else f"trained in {time.perf_counter() - start:.0f} s"
                name, value = next((k, run.metrics[k]) for k in ("top1", "AP") if k in run.metrics)
                log(f"{c.method:6s} {key!s:<40} seed {seed}: run {h}, {LOG_NAMES[name]} {value:6.2f} ({took})")
    return runs


def run_table(grid: Grid, index: str | Sequence[str] | None, row: Callable[[Any], dict[str, float]],
              seeds: Sequence[int] | None = None, *, log: Callable[[str], None] | None = print,
              **dependencies: Any):
    """One row per grid point: ``row(run)`` of each seed's run summarised by :func:`seed_summary`
    (mean, ``sd`` and ``per seed`` columns per metric, and ``seeds``), indexed by the key
    (``index`` names its parts; a tuple key gives a MultiIndex). ``seeds`` None: each config's own."""
    import pandas as pd

    runs = train_grid(grid, seeds, log=log, **dependencies)
    keys = list(runs)
    rows = []
    for k in keys:
        used = [grid[k].seed] if seeds is None else list(seeds)
        rows.append(seed_summary(used, [row(r) for r in runs[k]]))
    if keys and isinstance(keys[0], tuple):
        names = index_names(index, len(keys[0]))
        return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(keys, names=names))
    if index is not None and not isinstance(index, str) and len(index) != 1:
        raise ValueError(f"run_table: scalar keys but index {list(index)} has {len(index)} names")
    name = index if isinstance(index, str) or index is None else index[0]
    return pd.DataFrame(rows, index=pd.Index(keys, name=name))


def index_names(index: str | Sequence[str] | None, n: int) -> list[str | None]:
    if index is None:
        return [None] * n
    names = [index] if isinstance(index, str) else list(index)
    if len(names) != n:
        raise ValueError(f"index names {names} do not match keys of {n} parts")
    return names


# --------------------------------------------------------------------------------------------
# Per-seed values in tables: every metric m has columns m (the mean over seeds), "m sd" and
# "m per seed" (a tuple in seed order; the table's "seeds" column names the seeds)

SD = " sd"
PER_SEED = " per seed"


def seed_summary(seeds: Sequence[int], per_seed: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """``{m: mean, "m sd": sample s.d. (NaN for one seed), "m per seed": (v_0, v_1, ...)}`` for
    every metric of the per-seed dicts, and ``"seeds"``: the seeds, in the same order."""
    out: dict[str, Any] = {}
    for m in per_seed[0]:
        values = np.array([float(d[m]) for d in per_seed], dtype=np.float64)
        out[m] = float(values.mean())
        out[m + SD] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        out[m + PER_SEED] = tuple(float(v) for v in values)
    out["seeds"] = tuple(int(s) for s in seeds)
    return out


def seed_values(table: Any, key: Hashable, metric: str) -> list[float]:
    """The per-seed values of ``metric`` in row ``key`` of a table with per-seed columns."""
    return list(table.loc[key, metric + PER_SEED])


def mean_columns(table: Any) -> Any:
    """The table without its per-seed tuple columns (means, s.d. and everything else)."""
    return table[[c for c in table.columns if not str(c).endswith(PER_SEED) and c != "seeds"]]


TIMINGS = frozenset({"train_s"})  # wall-clock seconds: they differ from run to run, so no table file holds them


def long_format(table: Any) -> Any:
    """The per-seed values of a table as a tidy long frame: the table's index levels, ``seed``,
    ``metric`` and ``value`` (one row per row, seed and metric). Timings (:data:`TIMINGS`) are
    left out: a table file must be the same bytes when the same command runs again."""
    import pandas as pd

    rows = []
    names = [n if n is not None else "key" for n in table.index.names]
    for key, row in table.iterrows():
        keys = key if isinstance(key, tuple) else (key,)
        for column in table.columns:
            if not str(column).endswith(PER_SEED) or column[: -len(PER_SEED)] in TIMINGS:
                continue
            for seed, value in zip(row["seeds"], row[column]):
                rows.append({**dict(zip(names, keys)), "seed": seed, "metric": column[: -len(PER_SEED)],
                             "value": value})
    return pd.DataFrame(rows)


def num_classes(cfg: Any) -> int:
    """The number of target classes of a run config's dataset (the world's from its options, no
    rendering; a real dataset's from its test split)."""
    if cfg.dataset.startswith("world:"):
        from fgkd.data.world import WorldConfig

        return int(cfg.dataset_options.get("num_classes", WorldConfig.num_classes))
    from fgkd.data.splits import load_split

    return len(load_split(cfg, "test").classes)


# --------------------------------------------------------------------------------------------
# Verdicts: does the paper's direction hold at this scale, given the seed-to-seed spread?


@dataclass(frozen=True)
class Verdict:
    """One directional claim of a paper checked against fgkd's per-seed numbers.

    ``values`` holds one value per seed of the measured quantity, oriented so that positive is the
    paper's direction: a paired difference (``kind="difference"``) or a rank correlation
    (``kind="trend"``). The claim ``holds`` when its 95 % t interval over seeds is above 0,
    is ``contradicted`` when it is below 0, and is ``inconclusive`` otherwise (see
    :mod:`fgkd.stats`). ``paper``: the paper's value of the same quantity (None when the paper
    states only the direction); ``text``: a detail with the numbers, appended to the sentence.
    """

    claim: str
    values: tuple[float, ...]
    kind: str = "difference"
    paper: float | None = None
    unit: str = "points"
    text: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not self.values:
            raise ValueError(f"Verdict {self.claim!r}: no per-seed values")
        if self.kind not in ("difference", "trend"):
            raise ValueError(f"Verdict {self.claim!r}: kind must be 'difference' or 'trend', got {self.kind!r}")

    @classmethod
    def paired(cls, claim: str, better: Sequence[float], worse: Sequence[float], **options: Any) -> "Verdict":
        """``better_s - worse_s`` per seed: the claim that ``better`` is higher."""
        from fgkd.stats import paired_differences

        return cls(claim, tuple(paired_differences(better, worse)), **options)

    @classmethod
    def trend(cls, claim: str, x: Sequence[float], per_seed: Sequence[Sequence[float]], *, increasing: bool,
              **options: Any) -> "Verdict":
        """Spearman's rho of the metric with ``x`` within each seed (``per_seed[s][i]`` at ``x[i]``),
        negated for a claimed decrease: positive values are the paper's direction. With fewer than
        three points a rank correlation is always +-1 and says nothing about the spread, so the
        per-seed value is then the paired difference between the last and the first point."""
        from fgkd.stats import spearman

        sign = 1.0 if increasing else -1.0
        if len(x) < 3:
            order = np.argsort(np.asarray(x, dtype=float), kind="stable")
            values = tuple(sign * (float(ys[order[-1]]) - float(ys[order[0]])) for ys in per_seed)
            options.pop("unit", None)
            return cls(claim, values, kind="difference", unit="points (last minus first point)", **options)
        return cls(claim, tuple(sign * spearman(x, ys) for ys in per_seed), kind="trend",
                   unit=options.pop("unit", "Spearman rho"), **options)

    @property
    def interval(self):
        from fgkd.stats import t_interval

        return t_interval(self.values)

    @property
    def status(self) -> str:
        return self.interval.status

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def kit(self) -> float:
        """The mean over seeds of the measured quantity."""
        return self.interval.mean

    def record(self) -> dict[str, Any]:
        """The verdict as one JSON-able record (``reports/<set>/verdicts.json``)."""
        from fgkd.stats import LEVEL, METHOD_SPEARMAN, METHOD_T

        iv = self.interval
        return {"claim": self.claim, "kind": self.kind, "status": iv.status, "mean_diff": iv.mean,
                "ci_low": iv.low, "ci_high": iv.high, "n_seeds": iv.n, "level": LEVEL,
                "method": METHOD_SPEARMAN if self.kind == "trend" else METHOD_T, "per_seed": list(self.values),
                "unit": self.unit, "paper": self.paper, "text": self.text}

    def __str__(self) -> str:
        iv = self.interval
        paper = "" if self.paper is None or is_nan(self.paper) else f"; paper {self.paper:+.2f}"
        spread = (f"95 % CI [{iv.low:+.2f}, {iv.high:+.2f}] over {iv.n} seeds" if iv.n > 1
                  else "1 seed, no interval")
        detail = f" {self.text}" if self.text else ""
        return f"{self.claim}: {iv.status} ({iv.mean:+.2f} {self.unit}, {spread}{paper}).{detail}"


def is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def summary(verdicts: Sequence[Verdict]) -> str:
    """``"2 of 4 claims hold, 1 contradicted, 1 inconclusive"`` plus the claims that do not hold."""
    counts = {s: sum(v.status == s for v in verdicts) for s in ("holds", "contradicted", "inconclusive")}
    text = (f"{counts['holds']} of {len(verdicts)} claims hold, {counts['contradicted']} contradicted, "
            f"{counts['inconclusive']} inconclusive")
    rest = [f"{v.claim} ({v.status})" for v in verdicts if not v.holds]
    return text + (f"; not holding: {'; '.join(rest)}" if rest else "")


# --------------------------------------------------------------------------------------------
# t-SNE maps (LEAD Figure 4, MaKD Figure 4)


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


def tsne_2d(features: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, normalise: bool = True,
            method: str = "auto", threads: int = SHARED_THREADS_DEFAULT) -> np.ndarray:
    """scikit-learn's t-SNE ``[N, F] -> [N, 2]`` (PCA init, seeded), of L2-normalised rows when
    ``normalise`` (features compared by cosine), with the perplexity capped below N.

    ``method="auto"``: the exact gradient up to 1000 points (there several times faster on a CPU
    than Barnes-Hut, measured on 2 cores: 300 points in 12 s vs 62 s), Barnes-Hut beyond.
    It runs on ``threads`` threads (default 1): Barnes-Hut's and the gradient's sums then run in a
    fixed order, so the map does not depend on the machine's load or thread settings.
    """
    from sklearn.manifold import TSNE

    from fgkd.determinism import SHARED_THREADS, deterministic

    x = np.asarray(features, dtype=np.float64) if normalise else np.asarray(features)
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = float(min(perplexity, max(2.0, (len(x) - 1) / 3)))  # TSNE needs perplexity < N
    if method == "auto":
        method = "exact" if len(x) <= 1000 else "barnes_hut"
    with deterministic(threads or SHARED_THREADS):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method,
                    random_state=seed).fit_transform(x)

