"""MaKD as a :class:`~fgkd.train.engine.Method`: a classifier with C class and Q aspect logits.

Loss (MaKD eq. 4-6, ``fgkd.losses.makd_loss``)::

    L = CE(y_hat[:C], y) + alpha * BCE(y_hat[C:], q)          q [N, Q] = MLLM P(yes), fixed per image

``alpha = 0`` is the CE baseline ("Base": C outputs, no questions, no scorer). The Q questions are
the top-Q prefix of one ranked list of ``n_select`` questions, so Figure 2's 10/20/30/50 differ only
in Q. Ablations and extensions, each changing only what it names:

- ``aspect_loss="kl"`` (Table 3a): only the aspect loss term.
- ``targets="random"`` (Table 3b): only the target tensor. fgkd's reading of "a random logit
  following a Gaussian distribution": a logit ``z ~ N(0, 1)`` per (image, aspect), drawn once from
  a generator seeded by ``(seed, "random-targets")`` and kept for the whole run; the target is
  ``sigmoid(z)`` (median 0.5, 68 % of targets in [0.27, 0.73]).
- ``train_fraction < 1`` (Table 5): only the training images (a nested stratified subset, seed 0,
  so every training seed sees the same images); targets are the same rows of the full set's.
- ``mllm_kd_weight > 0`` (section 5.1, Table 4): adds ``w * KD(y_hat[:C], z_mllm)`` with the MLLM's
  zero-shot class logits per training image (the ``vlm`` scorer's; at the embedded scale a CLIP
  teacher's zero-shot logits, ``logit_scale * cos(f, g("a photo of a {class}."))``, stand in).
- ``kd_teacher`` (Table 6): adds Hinton KD from a trained classifier run (its class logits on the
  same augmented batch, no gradient), alone (alpha = 0) or with MaKD.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fgkd.train.config import ConfigError, MakdConfig
from fgkd.train.engine import IndexedDataset, Method, derive_seed
from fgkd.train.lead import dataset_id, load_split, make_llm

FRACTION_SEED = 0  # the "less training data" subsets do not change with the training seed
ZERO_SHOT_PROMPT = "a photo of a {}."


class Transformed(Dataset):
    """``(transform(image), target)`` over a dataset of PIL images (one decoded source for the
    scorer and the classifier)."""

    def __init__(self, dataset: Any, transform: Callable) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, target = self.dataset[i]
        return self.transform(image), target


def random_targets(num_images: int, num_aspects: int, seed: int) -> np.ndarray:
    """Table 3b's random targets ``sigmoid(z)``, ``z ~ N(0, 1)``, ``[N, Q]`` float32; column i does
    not depend on how many columns are drawn, so a top-Q prefix is a prefix here too."""
    rng = np.random.default_rng(derive_seed(seed, "random-targets") % 2**32)
    z = rng.standard_normal((num_aspects, num_images)).T  # column-major draw: prefix-stable in Q
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def aspect_questions(cfg: MakdConfig, dataset: Any) -> list[Any]:
    """The ranked list of ``n_select`` questions (``fgkd.llm``); the run uses its top ``num_aspects``."""
    llm = make_llm(cfg.llm_backend, cfg.llm_style, cfg.llm_options, dataset)
    return list(llm.aspect_questions(list(dataset.classes), n_generate=cfg.n_generate, n_select=cfg.n_select))


def scorer_targets(cfg: MakdConfig, dataset: Any, split: str, questions: list[Any]) -> np.ndarray:
    """The scorer's P(yes) ``[N, len(questions)]`` float32 on ``split``, cached (``fgkd.teachers.aspects``)."""
    from fgkd.teachers.aspects import cached_scores, get_scorer

    scorer = get_scorer(cfg.scorer, **cfg.scorer_options)
    scores = cached_scores(scorer, dataset, questions, dataset_id=dataset_id(cfg), split=split)
    return np.asarray(scores, dtype=np.float32)


def zero_shot_logits(cfg: MakdConfig, dataset: Any, split: str, device: torch.device) -> np.ndarray:
    """The "MLLM" class logits ``[N, C]`` for section 5.1's KD, cached.

    The scorer's zero-shot class log-likelihoods when it has them (``vlm``); else the CLIP teacher
    ``cfg.mllm_teacher``: ``logit_scale * cos(f(image), g(ZERO_SHOT_PROMPT.format(class)))``.
    """
    from fgkd.teachers.aspects import cached_zero_shot_scores, get_scorer

    classes = list(dataset.classes)
    if cfg.mllm_teacher is None:
        scorer = get_scorer(cfg.scorer, **cfg.scorer_options)
        if not hasattr(scorer, "zero_shot_class_scores"):
            raise ConfigError(f"MakdConfig.mllm_kd_weight > 0 needs zero-shot class logits: the {cfg.scorer!r} "
                              "scorer has none; use scorer='vlm' or set mllm_teacher (a CLIP teacher name)")
        return np.asarray(cached_zero_shot_scores(scorer, dataset, classes, dataset_id=dataset_id(cfg), split=split),
                          dtype=np.float32)
    from fgkd.teachers import get_teacher, teacher_outputs

    teacher = get_teacher(cfg.mllm_teacher, device=str(device))
    prompts = [ZERO_SHOT_PROMPT.format(c) for c in classes]
    out = teacher_outputs(teacher, dataset, prompts, dataset_id=dataset_id(cfg), split=split,
                          text_config={"zero_shot_prompt": ZERO_SHOT_PROMPT})
    logits = teacher.logit_scale * out.image_emb.float() @ out.prototypes.float().T  # [N, C]
    return logits.numpy().astype(np.float32)


def class_mean(values: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class mean of per-image values: ``[N, Q] -> [C, Q]`` (Figure 3's class-mean P(yes))."""
    out = np.full((num_classes, values.shape[1]), np.nan, dtype=np.float64)
    for c in range(num_classes):
        rows = labels == c
        if rows.any():
            out[c] = values[rows].mean(0)
    return out


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``log(p / (1 - p))`` with p clipped to ``[eps, 1 - eps]`` (the scorer's aspect logits for t-SNE)."""
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


class MakdMethod(Method):
    """MaKD (``alpha > 0``) or its CE baseline (``alpha = 0``); see the module docstring."""

    name = "makd"

    def __init__(self, cfg: MakdConfig) -> None:
        super().__init__(cfg)
        self.name = "makd" if cfg.uses_aspects else "ce"
        self.targets: torch.Tensor | None = None  # [N_train, Q] aspect targets, by position in train_set
        self.mllm_logits: torch.Tensor | None = None  # [N_train, C]
        self.kd_teacher: nn.Module | None = None
        self.questions: list[Any] = []
        self.train_indices: np.ndarray | None = None  # positions in the full training split

    @staticmethod
    def model_from_meta(cfg: MakdConfig, meta: dict[str, Any]) -> nn.Module:
        from fgkd.models.classifier import AspectClassifier

        num_aspects = cfg.num_aspects if cfg.uses_aspects else 0
        return AspectClassifier(cfg.backbone, int(meta["num_classes"]), num_aspects,
                                pretrained=cfg.pretrained, small_input=cfg.small_input)

    def build(self, device: torch.device, for_training: bool = True) -> None:
        from fgkd.data import stratified_subset
        from fgkd.data.transforms import classifier_train_transform

        cfg = self.cfg
        self.device = device
        full = load_split(cfg, "train")  # PIL images, the scorer's input
        classes = list(full.classes)
        self.meta = {"classes": classes, "num_classes": len(classes), "num_aspects": 0}
        if cfg.uses_aspects:
            ranked = aspect_questions(cfg, full)
            self.questions = ranked[: cfg.num_aspects]
            self.meta.update(num_aspects=cfg.num_aspects, questions=[q.text for q in self.questions])
        self.module = self.model_from_meta(cfg, self.meta)
        if not for_training:
            return

        subset = stratified_subset(full, cfg.train_fraction, seed=FRACTION_SEED) if cfg.train_fraction < 1 else None
        self.train_indices = np.asarray(subset.indices) if subset is not None else np.arange(len(full))
        self.meta.update(num_train=len(self.train_indices), num_train_full=len(full))
        self.train_set = IndexedDataset(Transformed(subset if subset is not None else full,
                                                    classifier_train_transform(cfg.image_size)))
        rows = self.train_indices
        if cfg.uses_aspects:
            if cfg.targets == "real":
                q = scorer_targets(cfg, full, "train", ranked)[:, : cfg.num_aspects]
            else:
                q = random_targets(len(full), cfg.num_aspects, cfg.seed)
            self.targets = torch.from_numpy(np.ascontiguousarray(q[rows])).to(device)  # [N_train, Q]
        if cfg.uses_zero_shot:
            z = zero_shot_logits(cfg, full, "train", device)
            self.mllm_logits = torch.from_numpy(np.ascontiguousarray(z[rows])).to(device)  # [N_train, C]
        if cfg.kd_teacher is not None:
            from fgkd.runs import get_or_train

            teacher_run = get_or_train(cfg.teacher_config())
            if teacher_run.meta["num_classes"] != len(classes):
                raise ConfigError("MakdConfig.kd_teacher was trained on a different number of classes")
            self.kd_teacher = teacher_run.model(device).eval().requires_grad_(False)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import kd_loss, makd_loss

        cfg = self.cfg
        x, y, index = batch
        out = self.forward_module(x)  # [N, C + Q]
        c = self.meta["num_classes"]
        with torch.autocast(x.device.type, enabled=False):
            out = out.float()
            q = self.targets[index] if self.targets is not None else None
            terms = makd_loss(out, y, q, c, cfg.alpha, cfg.aspect_loss)
            loss = terms.pop("total")
            if not cfg.uses_aspects:
                terms.pop("aspect")
            if self.mllm_logits is not None:
                kd = kd_loss(out[:, :c], self.mllm_logits[index], cfg.mllm_kd_temperature)
                loss = loss + cfg.mllm_kd_weight * kd
                terms["mllm_kd"] = kd.detach()
        if self.kd_teacher is not None:
            with torch.no_grad():
                teacher_logits = self.kd_teacher(x)[:, :c].float()
            with torch.autocast(x.device.type, enabled=False):
                kd = kd_loss(out[:, :c], teacher_logits, cfg.kd_temperature)
            loss = loss + cfg.kd_weight * kd
            terms["kd"] = kd.detach()
        return {"loss": loss, **terms}

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(self.cfg.lr_milestones),
                                                    gamma=self.cfg.gamma)

    # --- evaluation --------------------------------------------------------------------------

    @torch.no_grad()
    def extract(self, split: str) -> dict[str, np.ndarray]:
        """Logits on ``split`` under the test transform, timed (MaKD 5.5), plus the scorer's P(yes).

        Returns ``labels [N]``, ``class_logits [N, C]``, ``inference_seconds []`` and, with
        aspects, ``aspect_logits [N, Q]`` and (real targets) ``scorer_probs [N, Q]``.
        """
        from fgkd.data.transforms import test_transform

        cfg = self.cfg
        plain = load_split(cfg, split)
        loader = DataLoader(Transformed(plain, test_transform(cfg.image_size)), batch_size=256, shuffle=False,
                            num_workers=cfg.num_workers)
        model = self.module.to(self.device).eval()
        outs, labels = [], []
        start = time.perf_counter()
        for x, y in loader:
            outs.append(model(x.to(self.device)).float().cpu())
            labels.append(torch.as_tensor(y))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        out = torch.cat(outs).numpy()
        c = self.meta["num_classes"]
        arrays = {"labels": torch.cat(labels).numpy(), "class_logits": out[:, :c],
                  "inference_seconds": np.asarray(seconds)}
        if out.shape[1] > c:
            arrays["aspect_logits"] = out[:, c:]
            if cfg.targets == "real":
                arrays["scorer_probs"] = scorer_targets(cfg, plain, split, self.questions)
        return arrays

    def evaluate(self, features: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """Test Top-1/Top-5 on the C class logits only; with aspects, agreement with the scorer."""
        from fgkd.losses import class_accuracy

        test = features("test")
        c = self.meta["num_classes"]
        acc = class_accuracy(torch.from_numpy(test["class_logits"]), torch.from_numpy(test["labels"]), c)
        metrics = {"top1": acc["top1"], "top5": acc["top5"],
                   "num_parameters": int(sum(p.numel() for p in self.module.parameters())),
                   "inference_seconds": float(test["inference_seconds"])}
        if "scorer_probs" in test:
            p = 1.0 / (1.0 + np.exp(-test["aspect_logits"]))
            q = test["scorer_probs"]
            metrics["aspect_mae"] = float(np.abs(p - q).mean())
            metrics["aspect_agreement"] = float(100.0 * ((p > 0.5) == (q > 0.5)).mean())
        return metrics
