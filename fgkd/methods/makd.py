"""MaKD (Multi-aspect Knowledge Distillation): a classifier with C class and Q aspect logits.

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

The scorer, the CLIP teacher standing in for the MLLM's class logits and the KD teacher's model are
handed to :class:`MakdMethod`; the run store (``fgkd.runs``) builds them from the config.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from fgkd.config import ConfigError, check
from fgkd.data.splits import Transformed
from fgkd.data.transforms import CLASSIFIER_TRANSFORMS
from fgkd.methods.base import (RunConfig, clip_scorer_identity, hashed_scorer_options, validate_backbone,
                               validate_common, validate_llm_options, validate_questions, validate_step_schedule)
from fgkd.train import ddp
from fgkd.train.engine import IndexedDataset, Method, derive_seed

ASPECT_LOSSES = ("bce", "kl")
TARGET_KINDS = ("real", "random")
# MaKD's schedule (section 4.1): 240 epochs, lr / 10 at epochs 150, 180 and 210.
MAKD_EPOCHS = 240
MAKD_MILESTONES = (150, 180, 210)


def scale_milestones(epochs: int, milestones: tuple[int, ...] = MAKD_MILESTONES,
                     reference_epochs: int = MAKD_EPOCHS) -> tuple[int, ...]:
    """MaKD's step schedule stretched to ``epochs``: ``round(m * epochs / reference_epochs)``.

    Each milestone keeps its place as a fraction of training (150/240 = 62.5 %, 75 %, 87.5 %), and
    is clipped to ``[1, epochs - 1]`` so every decay happens. Milestones that round to the same
    epoch are kept twice: ``MultiStepLR`` then divides twice there, so the final learning rate
    stays ``lr * gamma ** len(milestones)``. ``scale_milestones(240) == (150, 180, 210)``;
    ``scale_milestones(8) == (5, 6, 7)``; one epoch leaves no room for a decay: ``()``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"scale_milestones: epochs must be an int >= 1, got {epochs!r}")
    if epochs == 1:
        return ()
    scaled = [min(max(int(math.floor(m * epochs / reference_epochs + 0.5)), 1), epochs - 1) for m in milestones]
    return tuple(sorted(scaled))


@dataclass(frozen=True, eq=True)
class MakdConfig(RunConfig):
    """One MaKD run: a classifier with C class logits and Q aspect logits.

    Loss (MaKD eq. 4-6): ``CE(y_hat[:C], y) + alpha * BCE(sigmoid(y_hat[C:]), q)`` with ``q`` the
    MLLM's P(yes) per image and aspect question; ``alpha = 0`` is the CE baseline (no aspect logits).
    Extensions: ``mllm_kd_weight`` (section 5.1, KD from the MLLM's zero-shot class logits) and
    ``kd_teacher`` (Table 6, logit KD from a trained classifier run, alone or with MaKD).
    """

    family: ClassVar[str] = "makd"
    method: ClassVar[str] = "makd"
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = frozenset({"transforms", "rank_questions", "track_test"})
    __hash__ = RunConfig.__hash__

    # --- data
    dataset: str = "stanford_cars"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None  # runtime: not hashed
    image_size: int = 224
    train_fraction: float = 1.0  # Table 5: stratified fraction of the training split
    # fgkd: square resize + random crop + flip, test square resize + centre crop; authors: their
    # RandomResizedCrop + flip, test shorter side + centre crop (fgkd.data.transforms.classifier_transforms)
    transforms: str = "fgkd"
    # --- model
    backbone: str = "resnet18"
    pretrained: bool = False  # the paper's baselines (ResNet18 on CUB 53.83 %) read as from scratch
    small_input: bool = False
    # --- aspect questions (LLM) and targets (MLLM)
    llm_backend: str = "openai"  # GPT-4o in the paper
    llm_style: str | None = None
    llm_options: dict = field(default_factory=dict)
    n_generate: int = 100  # N questions generated (section 3.1)
    n_select: int = 50  # questions the LLM selects and ranks; fixed so every Q below is a prefix of one list
    num_aspects: int = 50  # Q; the top-Q prefix of the ranked list (Figure 2: 10, 20, 30, 50)
    rank_questions: bool = False  # a further LLM turn ranks the selected questions by importance (section 4.3)
    scorer: str = "vlm"  # fgkd.scorers.get_scorer name: vlm | clip | oracle
    scorer_options: dict = field(default_factory=dict)
    alpha: float = 1.0  # weight of the aspect loss (Table 3c; the paper gives no single default)
    aspect_loss: str = "bce"  # bce (eq. 5) | kl (Table 3a: softmax over the Q aspects vs q / sum q)
    targets: str = "real"  # real: the scorer's P(yes) | random: sigmoid(N(0, 1)) per image and aspect (Table 3b)
    # --- extensions
    mllm_kd_weight: float = 0.0  # section 5.1 / Table 4: KD from zero-shot class logits (0 = off)
    mllm_kd_temperature: float = 1.0
    # CLIP teacher whose zero-shot logits stand in for the MLLM's class logits when the scorer has
    # no zero-shot classification (the embedded scale); None: the scorer's own (vlm)
    mllm_teacher: str | None = None
    kd_teacher: dict | None = None  # Table 6: MakdConfig dict of a trained teacher classifier run
    kd_weight: float = 1.0  # weight of the teacher-logit KD term when kd_teacher is set
    kd_temperature: float = 4.0  # Hinton KD temperature T (loss scaled by T^2)
    # --- optimisation (section 4.1)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 16
    epochs: int = MAKD_EPOCHS
    milestones: tuple[int, ...] | None = None  # lr *= gamma here; None = 150/180/210 of 240 scaled to epochs
    gamma: float = 0.1
    # test Top-1 after every epoch, in history.json: metrics top1_best / best_epoch, the best test
    # epoch the MaKD authors' trainer reports (a choice made on the test set; top1 stays the final)
    track_test: bool = False
    # --- runtime
    num_workers: int = 4
    threads: int = 1  # CPU intra-op threads that train and evaluate the run (fgkd.determinism)
    world_size: int = 1  # processes that train the run (torchrun); in the run key with the global batch when > 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    progress: bool = True

    def validate(self) -> None:
        n = type(self).__name__
        validate_common(self)
        validate_backbone(self)
        validate_llm_options(self)
        check(0 < self.train_fraction <= 1, n, "train_fraction", self.train_fraction, "must be in (0, 1]")
        check(self.transforms in CLASSIFIER_TRANSFORMS, n, "transforms", self.transforms,
              f"choose one of {CLASSIFIER_TRANSFORMS}")
        validate_questions(self)
        check(self.alpha >= 0, n, "alpha", self.alpha, "must be >= 0 (0 = the CE baseline)")
        check(self.aspect_loss in ASPECT_LOSSES, n, "aspect_loss", self.aspect_loss, f"choose one of {ASPECT_LOSSES}")
        check(self.targets in TARGET_KINDS, n, "targets", self.targets, f"choose one of {TARGET_KINDS}")
        check(self.mllm_kd_weight >= 0, n, "mllm_kd_weight", self.mllm_kd_weight, "must be >= 0 (0 = off)")
        for key in ("mllm_kd_temperature", "kd_temperature"):
            check(getattr(self, key) > 0, n, key, getattr(self, key), "must be > 0")
        check(self.kd_weight >= 0, n, "kd_weight", self.kd_weight, "must be >= 0")
        validate_step_schedule(self)
        if self.kd_teacher is not None:
            try:
                teacher = MakdConfig.from_dict(self.kd_teacher)
            except (ConfigError, TypeError) as exc:
                raise ConfigError(f"{n}.kd_teacher is not a valid MakdConfig dict: {exc}") from exc
            if teacher.kd_teacher is not None:
                raise ConfigError(f"{n}.kd_teacher: the teacher run must not itself have a kd_teacher")
            if teacher.image_size != self.image_size:
                raise ConfigError(f"{n}.kd_teacher must use image_size={self.image_size} (it sees the "
                                  f"student's batches), got {teacher.image_size}")
            if teacher.dataset != self.dataset or teacher.dataset_options != self.dataset_options:
                raise ConfigError(f"{n}.kd_teacher must be trained on the same dataset and options "
                                  f"({self.dataset!r}, {self.dataset_options}), got ({teacher.dataset!r}, "
                                  f"{teacher.dataset_options})")

    @property
    def lr_milestones(self) -> tuple[int, ...]:
        """The epochs where the learning rate drops: ``milestones``, or MaKD's scaled to ``epochs``."""
        return scale_milestones(self.epochs) if self.milestones is None else self.milestones

    @property
    def uses_aspects(self) -> bool:
        """False for the CE baseline: the model then has C outputs only (MaKD's 'Base')."""
        return self.alpha > 0

    @property
    def uses_zero_shot(self) -> bool:
        return self.mllm_kd_weight > 0

    def teacher_config(self) -> "MakdConfig | None":
        """The classical-KD teacher run's config (Table 6), or None."""
        return None if self.kd_teacher is None else MakdConfig.from_dict(self.kd_teacher)

    def dependencies(self) -> dict[str, RunConfig]:
        """Table 6's teacher classifier run: the run store trains it first and hands its model in."""
        return {} if self.kd_teacher is None else {"kd_teacher": self.teacher_config()}

    def unused_fields(self) -> frozenset[str]:
        unused = set()
        if not self.uses_aspects:
            unused |= {"llm_backend", "llm_style", "llm_options", "n_generate", "n_select", "num_aspects",
                       "aspect_loss", "targets"}
            if not self.uses_zero_shot:
                unused |= {"scorer", "scorer_options"}
        elif self.targets == "random":  # random targets never ask the scorer
            unused |= {"scorer", "scorer_options"} if not self.uses_zero_shot else set()
        if not self.uses_zero_shot:
            unused |= {"mllm_kd_temperature", "mllm_teacher"}
        if self.kd_teacher is None:
            unused |= {"kd_weight", "kd_temperature"}
        return frozenset(unused)

    def hash_dict(self) -> dict[str, Any]:
        from fgkd.teachers.embedded import teacher_identity

        d = super().hash_dict()
        if "scorer_options" in d:
            d["scorer_options"] = hashed_scorer_options(self.scorer, d["scorer_options"])
        d["milestones"] = list(self.lr_milestones)  # None and its explicit value are the same run
        if self.kd_teacher is not None:  # the teacher is identified by its own hash, runtime keys ignored
            d["kd_teacher"] = MakdConfig.from_dict(self.kd_teacher).config_hash()
        if "scorer" not in self.unused_fields():
            d.update(clip_scorer_identity(self.scorer, self.scorer_options))
        if self.uses_zero_shot and self.mllm_teacher is not None:
            key = teacher_identity(self.mllm_teacher)
            if key is not None:
                d["mllm_teacher_key"] = key
        return d



FRACTION_SEED = 0  # the "less training data" subsets do not change with the training seed
ZERO_SHOT_PROMPT = "a photo of a {}."


def random_targets(num_images: int, num_aspects: int, seed: int) -> np.ndarray:
    """Table 3b's random targets ``sigmoid(z)``, ``z ~ N(0, 1)``, ``[N, Q]`` float32; column i does
    not depend on how many columns are drawn, so a top-Q prefix is a prefix here too."""
    rng = np.random.default_rng(derive_seed(seed, "random-targets") % 2**32)
    z = rng.standard_normal((num_aspects, num_images)).T  # column-major draw: prefix-stable in Q
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)  # |z| < 10: no overflow; kept for identical targets


def aspect_agreement(aspect_logits: np.ndarray, scorer_probs: np.ndarray) -> dict[str, float]:
    """How close the aspect head is to its targets on a test split: ``aspect_mae`` = mean |sigmoid(z) - q|,
    ``aspect_agreement`` = % of (image, aspect) on the scorer's side of 0.5."""
    from fgkd.scorers import sigmoid

    p = sigmoid(aspect_logits)
    return {"aspect_mae": float(np.abs(p - scorer_probs).mean()),
            "aspect_agreement": float(100.0 * ((p > 0.5) == (scorer_probs > 0.5)).mean())}


def aspect_questions(cfg: MakdConfig, dataset: Any) -> list[Any]:
    """The ranked list of ``n_select`` questions (``fgkd.llm``); the run uses its top ``num_aspects``."""
    from fgkd.llm import llm_for

    llm = llm_for(cfg.llm_backend, cfg.llm_style, cfg.llm_options, dataset)
    # num_images: the prompt's "C classes and M images" (section 3.1), M the training split's size
    return list(llm.aspect_questions(list(dataset.classes), n_generate=cfg.n_generate, n_select=cfg.n_select,
                                     num_images=len(dataset), rank=cfg.rank_questions))


def scorer_targets(cfg: MakdConfig, scorer: Any, dataset: Any, split: str, questions: list[Any]) -> np.ndarray:
    """The scorer's P(yes) ``[N, len(questions)]`` float32 on ``split``, cached (``fgkd.scorers``)."""
    from fgkd.data.splits import dataset_id
    from fgkd.scorers import cached_scores

    scores = cached_scores(scorer, dataset, questions, dataset_id=dataset_id(cfg), split=split)
    return np.asarray(scores, dtype=np.float32)


def zero_shot_logits(cfg: MakdConfig, dataset: Any, split: str, *, scorer: Any = None,
                     mllm_teacher: Any = None) -> np.ndarray:
    """The "MLLM" class logits ``[N, C]`` for section 5.1's KD, cached.

    The CLIP teacher ``mllm_teacher`` when given (the embedded scale):
    ``logit_scale * cos(f(image), g(ZERO_SHOT_PROMPT.format(class)))``; else the scorer's own
    zero-shot class log-likelihoods (``vlm``).
    """
    from fgkd.data.splits import dataset_id

    classes = list(dataset.classes)
    if mllm_teacher is None:
        from fgkd.scorers import cached_zero_shot_scores

        if not hasattr(scorer, "zero_shot_class_scores"):
            raise ConfigError(f"MakdConfig.mllm_kd_weight > 0 needs zero-shot class logits: the {cfg.scorer!r} "
                              "scorer has none; use scorer='vlm' or set mllm_teacher (a CLIP teacher name)")
        return np.asarray(cached_zero_shot_scores(scorer, dataset, classes, dataset_id=dataset_id(cfg), split=split),
                          dtype=np.float32)
    from fgkd.teachers import teacher_outputs

    prompts = [ZERO_SHOT_PROMPT.format(c) for c in classes]
    out = teacher_outputs(mllm_teacher, dataset, prompts, dataset_id=dataset_id(cfg), split=split,
                          text_config={"zero_shot_prompt": ZERO_SHOT_PROMPT})
    from fgkd.determinism import SHARED_THREADS, deterministic

    with deterministic(SHARED_THREADS):  # the same bytes whatever the caller's thread settings
        logits = mllm_teacher.logit_scale * out.image_emb.float() @ out.prototypes.float().T  # [N, C]
    return logits.numpy().astype(np.float32)


class MakdMethod(Method):
    """MaKD (``alpha > 0``) or its CE baseline (``alpha = 0``); see the module docstring.

    Args:
        cfg: the run's :class:`MakdConfig`.
        scorer: the aspect scorer giving P(yes) (``fgkd.scorers.get_scorer(cfg.scorer, ...)``);
            needed with real targets, and for the MLLM KD term when it has no ``mllm_teacher``.
        mllm_teacher: the CLIP teacher whose zero-shot logits stand in for the MLLM's (``cfg.mllm_teacher``).
        kd_teacher: the trained classifier of ``cfg.kd_teacher`` (Table 6), in eval mode.
    The run store (``fgkd.runs``) builds each from the config (:meth:`requirements`).
    """

    name = "makd"

    def __init__(self, cfg: MakdConfig, scorer: Any = None, mllm_teacher: Any = None,
                 kd_teacher: nn.Module | None = None) -> None:
        super().__init__(cfg)
        self.name = "makd" if cfg.uses_aspects else "ce"
        self.scorer = scorer
        self.mllm_teacher = mllm_teacher
        self.kd_teacher = kd_teacher
        self.targets: torch.Tensor | None = None  # [N_train, Q] aspect targets, by position in train_set
        self.mllm_logits: torch.Tensor | None = None  # [N_train, C]
        self.questions: list[Any] = []
        self.train_indices: np.ndarray | None = None  # positions in the full training split

    @staticmethod
    def requirements(cfg: MakdConfig, for_training: bool) -> dict[str, Any]:
        """Factories ``device -> object`` of what the run store hands in (the KD teacher run is a
        :meth:`MakdConfig.dependencies` entry, trained by the store itself)."""
        needs: dict[str, Any] = {}
        real = cfg.uses_aspects and cfg.targets == "real"
        if real or (for_training and cfg.uses_zero_shot and cfg.mllm_teacher is None):
            def scorer(device: torch.device) -> Any:
                from fgkd.scorers import get_scorer

                return get_scorer(cfg.scorer, **cfg.scorer_options)

            needs["scorer"] = scorer
        if for_training and cfg.uses_zero_shot and cfg.mllm_teacher is not None:
            def mllm_teacher(device: torch.device) -> Any:
                from fgkd.teachers import get_teacher

                return get_teacher(cfg.mllm_teacher, device=str(device))

            needs["mllm_teacher"] = mllm_teacher
        return needs

    @staticmethod
    def model_from_meta(cfg: MakdConfig, meta: dict[str, Any]) -> nn.Module:
        from fgkd.models.classifier import AspectClassifier

        num_aspects = cfg.num_aspects if cfg.uses_aspects else 0
        return AspectClassifier(cfg.backbone, int(meta["num_classes"]), num_aspects,
                                pretrained=cfg.pretrained, small_input=cfg.small_input)

    def _needs(self, name: str) -> Any:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"MakdMethod needs {name} handed in for this config: MakdMethod(cfg, {name}=...) "
                             "(fgkd.runs.get_or_train builds it from the config)")
        return value

    def build(self, device: torch.device, for_training: bool = True) -> None:
        from fgkd.data import stratified_subset
        from fgkd.data.splits import load_split
        from fgkd.data.transforms import classifier_transforms

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
                                                    classifier_transforms(cfg.transforms, cfg.image_size)[0]))
        rows = self.train_indices
        if cfg.uses_aspects:
            if cfg.targets == "real":
                q = scorer_targets(cfg, self._needs("scorer"), full, "train", ranked)[:, : cfg.num_aspects]
                if ddp.current().distributed:  # the test split's too, shared by the ranks now, not by rank 0
                    scorer_targets(cfg, self.scorer, load_split(cfg, "test"), "test", self.questions)  # alone later
            else:
                q = random_targets(len(full), cfg.num_aspects, cfg.seed)
            self.targets = torch.from_numpy(np.ascontiguousarray(q[rows])).to(device)  # [N_train, Q]
        if cfg.uses_zero_shot:
            if cfg.mllm_teacher is not None:
                z = zero_shot_logits(cfg, full, "train", mllm_teacher=self._needs("mllm_teacher").to(device))
            else:
                z = zero_shot_logits(cfg, full, "train", scorer=self._needs("scorer"))
            self.mllm_logits = torch.from_numpy(np.ascontiguousarray(z[rows])).to(device)  # [N_train, C]
        if cfg.kd_teacher is not None:
            teacher = self._needs("kd_teacher")
            if getattr(teacher, "num_classes", len(classes)) != len(classes):
                raise ConfigError("MakdConfig.kd_teacher was trained on a different number of classes")
            self.kd_teacher = teacher.to(device).eval().requires_grad_(False)

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
        plain, labels, out, seconds = self._logits(split)
        c = self.meta["num_classes"]
        arrays = {"labels": labels, "class_logits": out[:, :c], "inference_seconds": np.asarray(seconds)}
        if out.shape[1] > c:
            arrays["aspect_logits"] = out[:, c:]
            if self.cfg.targets == "real":
                arrays["scorer_probs"] = scorer_targets(self.cfg, self._needs("scorer"), plain, split, self.questions)
        return arrays

    @torch.no_grad()
    def _logits(self, split: str) -> tuple[Any, np.ndarray, np.ndarray, float]:
        """``(PIL dataset, labels [N], logits [N, C + Q], seconds)`` of ``split`` under the test transform."""
        from fgkd.data.splits import load_split
        from fgkd.data.transforms import classifier_transforms

        cfg = self.cfg
        plain = load_split(cfg, split)
        test = classifier_transforms(cfg.transforms, cfg.image_size)[1]
        loader = DataLoader(Transformed(plain, test), batch_size=256, shuffle=False,
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
        return plain, torch.cat(labels).numpy(), torch.cat(outs).numpy(), seconds

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """With ``track_test``: this epoch's test Top-1 on the C class logits (the model back in
        training mode afterwards; no randomness is drawn, so training is unchanged)."""
        if not self.cfg.track_test:
            return {}
        from fgkd.eval import class_accuracy

        was_training = self.module.training
        try:  # the logits only: the scorer's P(yes) and the timing are not needed every epoch
            _, labels, logits, _ = self._logits("test")
        finally:
            self.module.train(was_training)
        c = self.meta["num_classes"]
        acc = class_accuracy(torch.from_numpy(logits[:, :c]), torch.from_numpy(labels), c)
        return {"test_top1": acc["top1"], "test_top5": acc["top5"]}

    def evaluate(self, arrays: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """Test Top-1/Top-5 on the C class logits only; with aspects, agreement with the scorer."""
        from fgkd.eval import class_accuracy

        test = arrays("test")
        c = self.meta["num_classes"]
        acc = class_accuracy(torch.from_numpy(test["class_logits"]), torch.from_numpy(test["labels"]), c)
        metrics = {"top1": acc["top1"], "top5": acc["top5"],
                   "num_parameters": int(sum(p.numel() for p in self.module.parameters())),
                   "inference_seconds": float(test["inference_seconds"])}
        if "scorer_probs" in test:
            metrics.update(aspect_agreement(test["aspect_logits"], test["scorer_probs"]))
        return metrics
