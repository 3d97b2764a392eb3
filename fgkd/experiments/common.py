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
                log(f"{c.method:6s} {key!s:<40} seed {seed}: run {h}, top-1 "
                    f"{run.metrics['top1']:6.2f} ({took})")
    return runs


def run_table(grid: Grid, index: str | Sequence[str] | None, row: Callable[[list[Any]], dict[str, Any]],
              seeds: Sequence[int] | None = None, *, log: Callable[[str], None] | None = print,
              **dependencies: Any):
    """One row per grid point, ``row(runs of that point over seeds)``, indexed by the key
    (``index`` names its parts; a tuple key gives a MultiIndex)."""
    import pandas as pd

    runs = train_grid(grid, seeds, log=log, **dependencies)
    keys = list(runs)
    rows = [row(runs[k]) for k in keys]
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
# Verdicts: does the paper's direction hold at this scale?


@dataclass(frozen=True)
class Verdict:
    """One directional claim of a paper checked against fgkd's numbers.

    ``kit`` is the measured difference, positive in the paper's direction (the claim holds when it
    is > 0); ``paper`` the paper's (None when it only states the direction); ``noise`` one standard
    error of ``kit``; ``unit`` names what they are. ``text``: the sentence with the numbers
    (built from the fields when empty).
    """

    claim: str
    kit: float
    paper: float | None = None
    noise: float | None = None
    unit: str = "points"
    text: str = ""

    @property
    def holds(self) -> bool:
        return bool(self.kit > 0)

    @property
    def within_noise(self) -> bool:
        return self.noise is not None and abs(self.kit) < 2 * self.noise

    def __str__(self) -> str:
        if self.text:
            return self.text
        paper = "" if self.paper is None or is_nan(self.paper) else f" (paper: {self.paper:+.2f})"
        noise = "" if self.noise is None else f", noise ±{self.noise:.2f} (1 s.e.)"
        status = "reproduced" if self.holds else "NOT reproduced"
        caveat = "; within test-set noise" if self.within_noise else ""
        return f"{self.claim}{paper}: {status} here, {self.kit:+.2f} {self.unit}{noise}{caveat}."


def is_nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def summary(verdicts: Sequence[Verdict]) -> str:
    """``"3 of 4 directions reproduced"`` plus the claims that are not."""
    failed = [v.claim for v in verdicts if not v.holds]
    text = f"{len(verdicts) - len(failed)} of {len(verdicts)} directions reproduced"
    return text + (f"; not reproduced: {'; '.join(failed)}" if failed else "")


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
            method: str = "auto", threads: int | None = None) -> np.ndarray:
    """scikit-learn's t-SNE ``[N, F] -> [N, 2]`` (PCA init, seeded), of L2-normalised rows when
    ``normalise`` (features compared by cosine), with the perplexity capped below N.

    ``method="auto"``: the exact gradient up to 1000 points (there several times faster on a CPU
    than Barnes-Hut, measured on 2 cores: 300 points in 12 s vs 62 s), Barnes-Hut beyond.
    ``threads=1`` runs Barnes-Hut's sums in a fixed order (the same map on every machine).
    """
    from contextlib import nullcontext

    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float64) if normalise else np.asarray(features)
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = float(min(perplexity, max(2.0, (len(x) - 1) / 3)))  # TSNE needs perplexity < N
    if method == "auto":
        method = "exact" if len(x) <= 1000 else "barnes_hut"
    with threadpool_limits(limits=threads) if threads else nullcontext():
        return TSNE(n_components=2, perplexity=perplexity, init="pca", method=method,
                    random_state=seed).fit_transform(x)

