"""LEAD (LLM-assisted Entropy-based Adaptive Distillation; LEAD supplement, section 11).

A MoCo v2 student distilled from a frozen CLIP teacher over LLM-written class descriptions
(loss in ``fgkd.losses.lead_loss``)::

    P   = normalise(g_text(description_c))            [C, d] category prototypes
    p_t = softmax(normalise(f_t(x_q)) . P^T / T)      [N, C] teacher (no gradient)
    p_s = softmax(q . P^T / T)                        [N, C] student, q = its normalised projection
    L   = mean_n [alpha * w_cl L_cl + beta * w_kd KL(p_t || p_s)],  (w_cl, w_kd) = (H^2, 1 - H^2)

with H the normalised entropy of p_t and T the ``category_temperature``. The teacher is handed
in (the run store builds it from ``teacher`` / ``teacher_options``). ``teacher_mode="online"`` runs
it on each step's augmented query view (the paper); ``"cached"`` reads p_t of each image's
un-augmented test view from the ``teacher_outputs`` cache, indexed by dataset index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fgkd.config import ConfigError, check
from fgkd.methods.base import RunConfig, validate_llm_options
from fgkd.methods.moco import MocoConfig, MocoMethod
from fgkd.train.engine import derive_seed

WEIGHTINGS = ("entropy", "fixed", "linear", "none")
TEACHER_MODES = ("online", "cached")


@dataclass(frozen=True, eq=True)
class LeadConfig(MocoConfig):
    """One LEAD run: the MoCo v2 student's fields plus the teacher, the text and the loss."""

    method: ClassVar[str] = "lead"
    HASH_NAMES: ClassVar[dict[str, str]] = {"proj_dim": "moco_dim", "category_temperature": "kd_temperature"}
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = MocoConfig.HASHED_WHEN_SET | {"beta_reference", "beta_world_size"}
    __hash__ = RunConfig.__hash__

    # --- teacher and text
    teacher: str = "ViT-B-16/openai"  # fgkd.teachers.get_teacher name (CLIP ViT-B/16, Table 3 default)
    teacher_options: dict = field(default_factory=dict)  # get_teacher keywords (pretrained_path=...); no device
    teacher_mode: str = "online"  # online: teacher sees the query view each step (paper); cached: one view per image
    llm_backend: str = "openai"  # fgkd.llm backend writing the class descriptions (GPT-3 in the paper)
    llm_style: str | None = None  # template backend: description style; None = backend default
    llm_options: dict = field(default_factory=dict)  # other backend options (model=..., descriptions=...)
    max_words: int = 70  # description length (Table 2)
    word_removal: float = 0.0  # fraction of words removed at random (Table 4)
    num_categories: int | None = None  # prototypes; None = the dataset's classes (Figure 3 varies it)
    # --- loss
    category_temperature: float = 0.02  # T of p_t and p_s, the distributions over categories (LEAD-pp)
    alpha: float = 0.5  # weight of the contrastive branch (LEAD-pp)
    # weight of the KD branch; fgkd averages KD over the batch where LEAD-pp sums it and averages over
    # classes, so LEAD-pp's beta 20 at N=64, C=200 is 20 * 64 / 200 = 6.4 here
    # (fgkd.losses.reference_beta_to_fgkd)
    beta: float = 6.4
    # The authors' beta instead (LEAD-pp's run script: 20): beta is then derived per run from it, the
    # global batch, the beta_world_size processes the reference splits that batch over (LEAD-pp: 2)
    # and this run's number of categories C (fgkd.losses.reference_beta_to_fgkd); `beta` is unused.
    beta_reference: float | None = None
    beta_world_size: int = 1
    weighting: str = "entropy"  # entropy: w_cl=H^2, w_kd=1-H^2; linear: H, 1-H; fixed: 1, 1; none: 1, 0 (no KD)

    def validate(self) -> None:
        super().validate()
        n = type(self).__name__
        check(bool(self.teacher.strip()), n, "teacher", self.teacher, "give a teacher name, e.g. 'ViT-B-16'")
        check("device" not in self.teacher_options, n, "teacher_options", self.teacher_options,
              "must not set 'device': the teacher runs on the run's device")
        validate_llm_options(self)
        check(self.teacher_mode in TEACHER_MODES, n, "teacher_mode", self.teacher_mode, f"choose one of {TEACHER_MODES}")
        check(1 <= self.max_words <= 70, n, "max_words", self.max_words,
              "must be in [1, 70] (CLIP's text encoder reads 77 tokens; LEAD caps at 70 words)")
        check(0 <= self.word_removal < 1, n, "word_removal", self.word_removal, "must be in [0, 1)")
        check(self.num_categories is None or self.num_categories >= 2, n, "num_categories",
              self.num_categories, "must be >= 2 or None (= number of classes)")
        check(self.category_temperature > 0, n, "category_temperature", self.category_temperature, "must be > 0")
        check(self.alpha >= 0, n, "alpha", self.alpha, "must be >= 0")
        check(self.beta >= 0, n, "beta", self.beta, "must be >= 0")
        check(self.beta_reference is None or self.beta_reference >= 0, n, "beta_reference", self.beta_reference,
              "must be >= 0, or None to use beta as given")
        check(isinstance(self.beta_world_size, int) and self.beta_world_size >= 1, n, "beta_world_size",
              self.beta_world_size, "must be an int >= 1 (the reference's data-parallel processes)")
        check(self.weighting in WEIGHTINGS, n, "weighting", self.weighting, f"choose one of {WEIGHTINGS}")

    def unused_fields(self) -> frozenset[str]:
        return super().unused_fields() | ({"beta"} if self.beta_reference is not None else frozenset())

    def kd_beta(self, num_categories: int, world_size: int = 1) -> float:
        """The ``lead_loss`` beta of this run: ``beta``, or the one equal to ``beta_reference`` with a
        global batch of ``batch_size * world_size`` split over ``beta_world_size`` processes."""
        if self.beta_reference is None:
            return self.beta
        from fgkd.losses import reference_beta_to_fgkd

        return reference_beta_to_fgkd(self.beta_reference, self.batch_size * world_size, num_categories,
                                      self.beta_world_size)

    def hash_dict(self) -> dict[str, Any]:
        from fgkd.teachers.embedded import teacher_identity

        d = super().hash_dict()
        key = teacher_identity(self.teacher, self.teacher_options)
        if key is not None:  # an embedded teacher: its recipe, not just its name, identifies the run
            d["teacher_key"] = key
        return d

    def text_config(self) -> dict[str, Any]:
        """How the descriptions were written (provenance; the teacher-output cache also hashes their text)."""
        return {"llm_backend": self.llm_backend, "llm_style": self.llm_style, "llm_options": self.llm_options,
                "max_words": self.max_words, "word_removal": self.word_removal, "num_categories": self.num_categories}


def class_descriptions(cfg: LeadConfig, class_names: list[str], dataset: Any) -> list[str]:
    """One description per class (class-index order), ``max_words`` long, with ``word_removal``
    of its words dropped at random (LEAD Table 4; seeded per class by ``(seed, class index)``)."""
    from fgkd.llm import llm_for, remove_words

    llm = llm_for(cfg.llm_backend, cfg.llm_style, cfg.llm_options, dataset)
    by_name = llm.describe(class_names, max_words=cfg.max_words)
    texts = [by_name[name] for name in class_names]
    if cfg.word_removal > 0:
        texts = [remove_words(t, cfg.word_removal, seed=derive_seed(cfg.seed, "word_removal", i) % 2**32)
                 for i, t in enumerate(texts)]
    return texts


def category_names(cfg: LeadConfig, dataset: Any) -> list[str]:
    """The categories the teacher's distribution runs over (LEAD Figure 3).

    ``num_categories=None`` (or C): the dataset's classes. More than C: the classes followed by the
    world's disjoint pre-training classes (only world datasets have further category names).
    Fewer than C: a seeded subset of the classes.
    """
    classes = list(dataset.classes)
    k = cfg.num_categories
    if k is None or k == len(classes):
        return classes
    if k < len(classes):
        keep = np.sort(np.random.default_rng(derive_seed(cfg.seed, "categories") % 2**32)
                       .choice(len(classes), k, replace=False))
        return [classes[i] for i in keep]
    world = getattr(dataset, "world", None)
    extra = [c.name for c in getattr(world, "pretrain_classes", [])] if world is not None else []
    extra = [n for n in extra if n not in classes]
    if len(classes) + len(extra) < k:
        raise ConfigError(f"LeadConfig.num_categories={k} needs {k - len(classes)} category names beyond the "
                          f"{len(classes)} classes; only world datasets have extra names (their pre-training "
                          f"classes), and {len(extra)} are available here")
    return classes + extra[: k - len(classes)]


class TeacherView(nn.Module):
    """The student's query view as the teacher's input: undo the ImageNet normalisation, resize to
    the teacher's image size (bicubic, antialiased) and apply the teacher's own normalisation."""

    def __init__(self, teacher: Any, student_mean=None, student_std=None) -> None:
        super().__init__()
        from torchvision import transforms as T

        from fgkd.data.transforms import IMAGENET_MEAN, IMAGENET_STD

        norm = [t for t in getattr(teacher.preprocess, "transforms", []) if isinstance(t, T.Normalize)]
        if not norm:
            raise ValueError(f"{teacher!r}: its preprocess has no Normalize step to read mean/std from")
        view = (1, 3, 1, 1)
        self.register_buffer("s_mean", torch.tensor(student_mean or IMAGENET_MEAN).view(view))
        self.register_buffer("s_std", torch.tensor(student_std or IMAGENET_STD).view(view))
        self.register_buffer("t_mean", torch.tensor(norm[-1].mean).view(view))
        self.register_buffer("t_std", torch.tensor(norm[-1].std).view(view))
        self.size = int(teacher.image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() * self.s_std + self.s_mean  # [N, 3, S, S] in [0, 1]
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False,
                              antialias=True).clamp(0, 1)
        return (x - self.t_mean) / self.t_std


class LeadMethod(MocoMethod):
    """LEAD; see the module docstring.

    Args:
        cfg: the run's :class:`LeadConfig`.
        teacher: the built CLIP teacher (``fgkd.teachers.get_teacher(cfg.teacher, ...)``); the run
            store builds it, tests and notebooks may hand in one they already hold. Needed to train.
    """

    name = "lead"

    def __init__(self, cfg: LeadConfig, teacher: Any = None) -> None:
        super().__init__(cfg)
        self._teacher = teacher
        self.teacher = None
        self.teacher_view: TeacherView | None = None
        self.prototypes: torch.Tensor | None = None  # [C', d]
        self.teacher_probs: torch.Tensor | None = None  # [N, C'] (cached mode)
        self.beta = cfg.beta  # the KD weight; with beta_reference, set once C is known (_build_teacher)

    @staticmethod
    def requirements(cfg: LeadConfig, for_training: bool) -> dict[str, Any]:
        """What the run store builds and hands in: the CLIP teacher, to train."""
        if not for_training:
            return {}

        def teacher(device: torch.device) -> Any:
            from fgkd.teachers import get_teacher

            return get_teacher(cfg.teacher, device=str(device), **cfg.teacher_options)

        return {"teacher": teacher}

    def build(self, device: torch.device, for_training: bool = True) -> None:
        super().build(device, for_training)
        if for_training:
            self._build_teacher(device)

    def _build_teacher(self, device: torch.device) -> None:
        from fgkd.data.splits import Unlabelled, dataset_id, load_split

        cfg = self.cfg
        if self._teacher is None:
            raise ValueError("LeadMethod needs its teacher handed in to train: LeadMethod(cfg, teacher=...) "
                             "(fgkd.runs.get_or_train builds it from cfg.teacher)")
        teacher = self._teacher.to(device)
        if teacher.embed_dim != cfg.proj_dim:
            raise ConfigError(f"LeadConfig.proj_dim={cfg.proj_dim} must equal the teacher's embedding dim "
                              f"({cfg.teacher}: {teacher.embed_dim}): the student's projection is scored "
                              "against the teacher's text prototypes")
        plain = load_split(cfg, "train")  # PIL images: the teacher's own preprocessing applies
        names = category_names(cfg, plain)
        descriptions = class_descriptions(cfg, names, plain)
        # The run hash names the teacher; its key records which weights that name resolved to.
        from fgkd.train.ddp import current

        self.beta = cfg.kd_beta(len(names), current().world_size)
        self.meta.update(categories=names, descriptions=descriptions, teacher_key=getattr(teacher, "key", None),
                         kd_beta=self.beta)
        if cfg.teacher_mode == "cached":
            from fgkd.teachers.outputs import teacher_outputs

            source = plain if len(names) == len(plain.classes) and names == list(plain.classes) else Unlabelled(plain)
            out = teacher_outputs(teacher, source, descriptions, dataset_id=dataset_id(cfg), split="train",
                                  text_config=cfg.text_config(), temperature=cfg.category_temperature)
            self.prototypes = out.prototypes.float().to(device)  # [C', d]
            self.teacher_probs = out.probs.float().to(device)  # [N, C']
            self.teacher = None  # never run while training
        else:
            self.prototypes = teacher.prototypes(descriptions).float().to(device)  # [C', d]
            self.teacher = teacher
            self.teacher_view = TeacherView(teacher).to(device)

    @torch.no_grad()
    def teacher_distribution(self, x_q: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """p_t ``[N, C']`` in float32: the cached row of each image, or the teacher on the query view."""
        if self.teacher_probs is not None:
            return self.teacher_probs[index]
        from fgkd.teachers.clip import probs

        emb = self.teacher.encode_images(self.teacher_view(x_q), batch_size=x_q.shape[0])  # [N, d]
        with torch.autocast(x_q.device.type, enabled=False):
            return probs(emb.float(), self.prototypes, self.cfg.category_temperature)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import lead_loss

        cfg = self.cfg
        (x_q, x_k), _, index = batch
        out = self.forward_module(x_q, x_k)
        p_t = self.teacher_distribution(x_q, index)
        # The losses run in float32: at T = 0.02 a bf16 cosine error of 4e-3 would move a logit by 0.2.
        with torch.autocast(x_q.device.type, enabled=False):
            q, k, queue = out.q.float(), out.k.float(), out.queue.float()
            terms = lead_loss(q, k, queue, q, p_t, self.prototypes, alpha=cfg.alpha, beta=self.beta,
                              moco_temperature=cfg.moco_temperature, category_temperature=cfg.category_temperature,
                              weighting=cfg.weighting)
        terms["loss"] = terms.pop("total")
        return terms
