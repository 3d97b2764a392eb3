"""MaKD's aspect analyses (Figures 3-5): what the aspect logits say per class and per image, how
they agree with the scorer and with the world's ground truth, and their t-SNE maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit  # the logistic without overflow for large |logit|

from fgkd.experiments.common import tsne_2d
from fgkd.methods import MakdConfig
from fgkd.scorers import logit


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
        return logit(self.student)

    @property
    def scorer_logits(self) -> np.ndarray:
        return logit(self.scorer)



def aspect_arrays(run: Any, split: str = "test") -> AspectArrays:
    """:class:`AspectArrays` of ``run`` (a MaKD run with real targets) from its cached features."""
    features = run.arrays(split)
    if "aspect_logits" not in features or "scorer_probs" not in features:
        raise ValueError(f"run {run.path.name} has no aspect logits with scorer targets: use a MaKD run "
                         "(alpha > 0) with targets='real'")
    meta = run.meta
    logits = features["aspect_logits"].astype(np.float64)
    return AspectArrays(questions=list(meta["questions"]), classes=list(meta["classes"]),
                        labels=np.asarray(features["labels"]), student=expit(logits),
                        scorer=np.asarray(features["scorer_probs"], dtype=np.float64), split=split)



def truth_quality(run: Any, arrays: AspectArrays | None = None) -> pd.DataFrame:
    """World datasets only: how well P(yes) ranks the world's true answers, per question.

    Columns: ``base rate`` (share of test images whose true answer is yes), ``scorer AUC`` and
    ``student AUC`` (ROC AUC of the scorer's and the student's P(yes) against the true answer per
    test image; 0.5 = no information, 1 = perfect; NaN where every answer is the same). The truth
    comes from the world's attributes (``fgkd.scorers.oracle.ground_truth``), never from a model.
    """
    from sklearn.metrics import roc_auc_score

    from fgkd.data.splits import load_split
    from fgkd.methods.makd import aspect_questions
    from fgkd.scorers.oracle import ground_truth

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



def class_mean(values: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class mean of per-image values: ``[N, Q] -> [C, Q]`` (NaN rows for classes without images)."""
    out = np.full((num_classes, values.shape[1]), np.nan, dtype=np.float64)
    for c in range(num_classes):
        rows = labels == c
        if rows.any():
            out[c] = values[rows].mean(0)
    return out



def class_means(arrays: AspectArrays, source: str = "scorer") -> pd.DataFrame:
    """Figure 3: mean P(yes) per class (rows, class names) and question (columns, texts), ``[C, Q]``."""
    values = {"scorer": arrays.scorer, "student": arrays.student}
    if source not in values:
        raise ValueError(f"source={source!r}; use 'scorer' or 'student'")
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



def pick_aspect_examples(arrays: AspectArrays, num_images: int = 2, num_questions: int = 4, seed: int = 0
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

    from fgkd.io import cached_tsne_map

    n = len(arrays.labels)
    perplexity = float(min(perplexity, max(2.0, (n - 1) / 3)))

    def fit(x: np.ndarray) -> np.ndarray:
        # One thread: the Barnes-Hut sums then run in a fixed order (the same map on every machine), and
        # a few hundred points take about a second; OpenMP threads spin badly on a busy 2-core machine.
        return tsne_2d(x, perplexity=perplexity, seed=seed, normalise=False, method="barnes_hut", threads=1)

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
    from fgkd.data.splits import load_split

    data = load_split(cfg, split)
    return [data[int(i)][0] for i in indices]
