"""LEAD and its self-supervised baselines as a :class:`~fgkd.train.engine.Method`.

``method="lead"``: a MoCo v2 student distilled from a frozen CLIP teacher over LLM-written class
descriptions (LEAD supplement, section 11; loss in ``fgkd.losses.lead_loss``)::

    P   = normalise(g_text(description_c))            [C, d] class prototypes
    p_t = softmax(normalise(f_t(x_q)) . P^T / T)      [N, C] teacher (no gradient)
    p_s = softmax(q . P^T / T)                        [N, C] student, q = its normalised projection
    L   = mean_n [alpha * w_cl L_cl + beta * w_kd KL(p_t || p_s)],  (w_cl, w_kd) from H(p_t)

``teacher_mode="online"`` runs the teacher on each step's augmented query view (the paper);
``"cached"`` reads p_t of each image's un-augmented test view from the ``teacher_outputs`` cache,
indexed by dataset index (no teacher forward while training). ``method="moco"`` is the same
student with InfoNCE only; ``"simclr"`` and ``"ibot"`` are LEAD Table 5's baselines.

Evaluation (supplement, section 10): a linear probe on frozen backbone features (Top-1/Top-5) and
leave-one-out retrieval on the test split (R-1/R-5/mAP), features from the test transform.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fgkd.train.config import ConfigError, LeadConfig
from fgkd.train.engine import IndexedDataset, Method, derive_seed


def dataset_id(cfg: Any) -> str:
    """Names a dataset with its options for caches keyed on images (teacher outputs, P(yes))."""
    from fgkd.io import stable_hash

    return f"{cfg.dataset}-{stable_hash(cfg.dataset_options, 8)}" if cfg.dataset_options else cfg.dataset


def load_split(cfg: Any, split: str, transform: Callable | None = None):
    from fgkd.data import get_dataset

    return get_dataset(cfg.dataset, root=cfg.data_root, split=split, transform=transform, **cfg.dataset_options)


def make_llm(backend: str, style: str | None, options: dict[str, Any], dataset: Any):
    """The LLM backend; the template backend reads the world the dataset was drawn from."""
    from fgkd.llm import get_llm

    options = dict(options)
    if style is not None:
        options["style"] = style
    if backend == "template" and "world" not in options:
        world = getattr(dataset, "world", None)
        if world is None:
            raise ConfigError(f"llm_backend='template' writes from a procedural world, but dataset "
                              f"{type(dataset).__name__} has none; use a world:* dataset or the openai/file backend")
        options["world"] = world
    return get_llm(backend, **options)


def class_descriptions(cfg: LeadConfig, class_names: list[str], dataset: Any) -> list[str]:
    """One description per class (class-index order), ``max_words`` long, with ``word_removal``
    of its words dropped at random (LEAD Table 4; seeded per class by ``(seed, class index)``)."""
    from fgkd.llm import remove_words

    llm = make_llm(cfg.llm_backend, cfg.llm_style, cfg.llm_options, dataset)
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


class Unlabelled(torch.utils.data.Dataset):
    """A dataset seen without its ``classes``: the teacher is scored against the run's categories,
    which may differ from the classes (Figure 3), so ``teacher_outputs`` must not compare the two."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


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


def build_student(cfg: LeadConfig) -> nn.Module:
    """The trainable module of ``cfg.method`` (its ``encode`` gives the evaluated features)."""
    if cfg.method in ("lead", "moco"):
        from fgkd.models.moco import MoCo

        return MoCo(cfg.backbone, dim=cfg.moco_dim, hidden_dim=cfg.proj_hidden_dim, queue_size=cfg.queue_size,
                    momentum=cfg.moco_momentum, temperature=cfg.moco_temperature, head=cfg.proj_head,
                    pretrained=cfg.pretrained, small_input=cfg.small_input)
    if cfg.method == "simclr":
        from fgkd.models.simclr import SimCLR

        return SimCLR(cfg.backbone, dim=cfg.simclr_dim, temperature=cfg.simclr_temperature,
                      pretrained=cfg.pretrained, small_input=cfg.small_input)
    from fgkd.models.ibot import IBOT

    return IBOT(image_size=cfg.image_size)


class LeadMethod(Method):
    """LEAD (``cfg.method="lead"``) or one of its baselines; see the module docstring.

    Args:
        cfg: the run's :class:`LeadConfig`.
        teacher: a built teacher to use instead of ``get_teacher(cfg.teacher)`` (tests, notebooks
            that already hold one). Its name must still be ``cfg.teacher``'s.
    """

    def __init__(self, cfg: LeadConfig, teacher: Any = None) -> None:
        super().__init__(cfg)
        self.name = cfg.method
        self._teacher = teacher
        self.teacher = None
        self.teacher_view: TeacherView | None = None
        self.prototypes: torch.Tensor | None = None  # [C', d]
        self.teacher_probs: torch.Tensor | None = None  # [N, C'] (cached mode)

    @staticmethod
    def model_from_meta(cfg: LeadConfig, meta: dict[str, Any]) -> nn.Module:
        return build_student(cfg)

    def build(self, device: torch.device, for_training: bool = True) -> None:
        from fgkd.data.transforms import TwoCrops, moco_v2_augmentation, simclr_augmentation

        cfg = self.cfg
        self.device = device
        self.module = build_student(cfg)
        if not for_training:
            return
        augment = simclr_augmentation if cfg.method == "simclr" else moco_v2_augmentation
        train = load_split(cfg, "train", TwoCrops(augment(cfg.image_size)))
        self.meta = {"classes": list(train.classes), "num_classes": len(train.classes), "num_train": len(train)}
        self.train_set = IndexedDataset(train)
        if cfg.method == "lead":
            self._build_teacher(device)

    def _build_teacher(self, device: torch.device) -> None:
        cfg = self.cfg
        teacher = self._teacher
        if teacher is None:
            from fgkd.teachers import get_teacher

            teacher = get_teacher(cfg.teacher, device=str(device), **cfg.teacher_options)
        teacher.to(device)
        if teacher.embed_dim != cfg.moco_dim:
            raise ConfigError(f"LeadConfig.moco_dim={cfg.moco_dim} must equal the teacher's embedding dim "
                              f"({cfg.teacher}: {teacher.embed_dim}): the student's projection is scored "
                              "against the teacher's text prototypes")
        plain = load_split(cfg, "train")  # PIL images: the teacher's own preprocessing applies
        names = category_names(cfg, plain)
        descriptions = class_descriptions(cfg, names, plain)
        # The run hash names the teacher; its key records which weights that name resolved to.
        self.meta.update(categories=names, descriptions=descriptions, teacher_key=getattr(teacher, "key", None))
        if cfg.teacher_mode == "cached":
            from fgkd.teachers.outputs import teacher_outputs

            source = plain if len(names) == len(plain.classes) and names == list(plain.classes) else Unlabelled(plain)
            out = teacher_outputs(teacher, source, descriptions, dataset_id=dataset_id(cfg), split="train",
                                  text_config=self._text_config(), temperature=cfg.kd_temperature)
            self.prototypes = out.prototypes.float().to(device)  # [C', d]
            self.teacher_probs = out.probs.float().to(device)  # [N, C']
            self.teacher = None  # never run while training
        else:
            self.prototypes = teacher.prototypes(descriptions).float().to(device)  # [C', d]
            self.teacher = teacher
            self.teacher_view = TeacherView(teacher).to(device)

    def _text_config(self) -> dict[str, Any]:
        """How the descriptions were written (provenance; the cache key also hashes their text)."""
        c = self.cfg
        return {"llm_backend": c.llm_backend, "llm_style": c.llm_style, "llm_options": c.llm_options,
                "max_words": c.max_words, "word_removal": c.word_removal, "num_categories": c.num_categories}

    @torch.no_grad()
    def teacher_distribution(self, x_q: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """p_t ``[N, C']`` in float32: the cached row of each image, or the teacher on the query view."""
        if self.teacher_probs is not None:
            return self.teacher_probs[index]
        from fgkd.teachers.clip import probs

        emb = self.teacher.encode_images(self.teacher_view(x_q), batch_size=x_q.shape[0])  # [N, d]
        with torch.autocast(x_q.device.type, enabled=False):
            return probs(emb.float(), self.prototypes, self.cfg.kd_temperature)

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        from fgkd.losses import lead_loss, nt_xent

        cfg = self.cfg
        (x_q, x_k), _, index = batch
        if cfg.method == "simclr":
            z1, z2 = self.forward_module(x_q, x_k)
            with torch.autocast(x_q.device.type, enabled=False):
                return {"loss": nt_xent(z1.float(), z2.float(), cfg.simclr_temperature)}
        if cfg.method == "ibot":
            out = self.forward_module(x_q, x_k)
            return {"loss": out["total"], "cls": out["cls"], "mim": out["mim"]}
        out = self.forward_module(x_q, x_k)
        p_t = self.teacher_distribution(x_q, index) if cfg.method == "lead" else None
        # The losses run in float32: at T = 0.02 a bf16 cosine error of 4e-3 would move a logit by 0.2.
        with torch.autocast(x_q.device.type, enabled=False):
            q, k, queue = out.q.float(), out.k.float(), out.queue.float()
            if cfg.method == "moco":
                terms = lead_loss(q, k, queue, alpha=1.0, beta=0.0, moco_temperature=cfg.moco_temperature,
                                  kd_temperature=cfg.kd_temperature, weighting="none")
            else:
                terms = lead_loss(q, k, queue, q, p_t, self.prototypes, alpha=cfg.alpha, beta=cfg.beta,
                                  moco_temperature=cfg.moco_temperature, kd_temperature=cfg.kd_temperature,
                                  weighting=cfg.weighting)
        terms["loss"] = terms.pop("total")
        return terms

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        if self.cfg.schedule == "cosine":  # MoCo v2: lr * (1 + cos(pi * epoch / epochs)) / 2, per epoch
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.cfg.epochs, eta_min=0.0)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    # --- evaluation --------------------------------------------------------------------------

    def extract(self, split: str) -> dict[str, np.ndarray]:
        """Frozen backbone features ``[N, F]`` and labels ``[N]`` under the test transform."""
        from fgkd.data.transforms import test_transform
        from fgkd.eval import extract_features

        data = load_split(self.cfg, split, test_transform(self.cfg.image_size))
        feats, labels = extract_features(self.module, data, batch_size=256, device=self.device,
                                         num_workers=self.cfg.num_workers)
        return {"features": feats.numpy(), "labels": labels.numpy()}

    def evaluate(self, features: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """Linear-probe Top-1/Top-5 (train -> test) and test-split retrieval R-1/R-5/mAP, in percent."""
        from fgkd.eval import linear_probe, retrieval_metrics

        cfg = self.cfg
        train, test = features("train"), features("test")
        num_classes = int(max(train["labels"].max(), test["labels"].max())) + 1
        probe = linear_probe(torch.from_numpy(train["features"]), torch.from_numpy(train["labels"]),
                             torch.from_numpy(test["features"]), torch.from_numpy(test["labels"]),
                             epochs=cfg.probe_epochs, lr=cfg.probe_lr, batch_size=cfg.probe_batch_size,
                             weight_decay=cfg.probe_weight_decay, num_classes=num_classes, seed=cfg.seed,
                             device=self.device)
        retrieval = retrieval_metrics(torch.from_numpy(test["features"]), torch.from_numpy(test["labels"]))
        return {"top1": probe["top1"], "top5": probe["top5"], **retrieval}
