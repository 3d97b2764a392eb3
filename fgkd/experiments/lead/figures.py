"""LEAD's figure analyses: Figure 4 (t-SNE of MoCo v2 and LEAD features), Figure 5 (the teacher's
distribution, its entropy and the adaptive weights) and Table 6 (the descriptions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from fgkd.experiments.common import seed_summary, subsample, train_grid, tsne_2d
from fgkd.experiments.lead.recipe import COARSE, Recipe


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

    from fgkd.determinism import SHARED_THREADS, deterministic

    with deterministic(SHARED_THREADS):  # the pairwise-distance sums follow the thread count otherwise
        return float(silhouette_score(np.asarray(features, dtype=np.float64), np.asarray(labels), metric="cosine"))



def separation_table(grid: Mapping[Hashable, Any], seeds: Sequence[int], *, split: str = "test"):
    """The class separation (:func:`separation`) of each arm's ``split`` features for every seed,
    as a table with ``silhouette``, ``silhouette sd`` and ``silhouette per seed`` (for verdicts)."""
    import pandas as pd

    runs = train_grid(grid, seeds, log=None)
    rows = {}
    for key, key_runs in runs.items():
        per_seed = []
        for run in key_runs:
            arrays = run.arrays(split)
            per_seed.append({"silhouette": separation(arrays["features"], arrays["labels"])})
        rows[key] = seed_summary(seeds, per_seed)
    table = pd.DataFrame.from_dict(rows, orient="index")
    if isinstance(next(iter(rows)), tuple):
        table.index = pd.MultiIndex.from_tuples(list(rows), names=["benchmark", "method"])
    return table


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
        arrays = run.arrays(split)
        feats, labels = arrays["features"], arrays["labels"]
        keep = subsample(labels, max_points, seed)
        xy = cached_tsne(run.cfg.config_hash(), split, feats[keep], perplexity=perplexity, seed=seed)  # [n, 2]
        frames.append(pd.DataFrame({"benchmark": bench, "method": method, "x": xy[:, 0], "y": xy[:, 1],
                                    "label": labels[keep]}))
        rows.append({"benchmark": bench, "method": method, "silhouette": separation(feats, labels)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows).set_index(["benchmark", "method"])



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
    from fgkd.data.splits import Unlabelled, dataset_id, load_split
    from fgkd.teachers import get_teacher, teacher_outputs

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
                          text_config=text_config, temperature=cfg.category_temperature)
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

    from fgkd.data.splits import load_split
    from fgkd.data.transforms import test_transform
    from fgkd.losses import entropy_weights

    out, plain = teacher_test_outputs(run, split=split, teacher=teacher)
    cfg = run.cfg
    p_t = out.probs.float()  # [N, C']
    w_cl, w_kd = entropy_weights(p_t)  # [N] each

    model = run.model("cpu")
    data = load_split(cfg, split, test_transform(cfg.image_size))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    prototypes = F.normalize(out.prototypes.float(), dim=1)  # [C', d]
    chunks = []
    from fgkd.determinism import SHARED_THREADS, deterministic

    with torch.no_grad(), deterministic(SHARED_THREADS):
        for x, _ in loader:
            q = F.normalize(model.encoder_q(x), dim=1)  # [n, d]: the projection LEAD distils into
            chunks.append((q @ prototypes.T / cfg.category_temperature).softmax(dim=1))  # [n, C']
    p_s = torch.cat(chunks)

    categories = list(run.meta["categories"])
    return EntropyExamples(categories=categories, labels=np.asarray(plain.targets),
                           target=_targets_among(categories, plain), teacher_probs=p_t.numpy(),
                           entropy=out.entropy.float().numpy(), w_cl=w_cl.numpy(), w_kd=w_kd.numpy(),
                           student_probs=p_s.numpy())



def pick_entropy_examples(frame, per_case: int = 2) -> dict[str, list[int]]:
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



def description_examples(recipe: Recipe, datasets: Iterable[str], per_dataset: int = 3):
    """The descriptions the base runs distil from: the first ``per_dataset`` classes of each dataset
    (on the world, the sibling species of one genus) with coarse category, class and word count."""
    import pandas as pd

    from fgkd.data.splits import load_split
    from fgkd.llm.perturb import count_words
    from fgkd.methods.lead import class_descriptions

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

    from fgkd.data.splits import load_split
    from fgkd.llm.perturb import count_words
    from fgkd.methods.lead import class_descriptions

    rows = []
    for dataset in datasets:
        cfg = recipe.config(dataset)
        plain = load_split(cfg, "train")
        counts = [count_words(t) for t in class_descriptions(cfg, list(plain.classes), plain)]
        rows.append({"dataset": dataset, "classes": len(counts), "mean words": float(np.mean(counts)),
                     "min words": int(min(counts)), "max words": int(max(counts))})
    return pd.DataFrame(rows).set_index("dataset")
