"""LEAD's shared recipe (``params/<set>/lead.yaml``), the names of its tables' rows, and the
teacher and LLM options a recipe resolves to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from fgkd.experiments.common import EMBEDDED_IMAGENET
from fgkd.experiments.common import Recipe as RecipeBase
from fgkd.methods import LeadConfig
from fgkd.reference import LEAD_METRICS

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


@dataclass(frozen=True)
class Recipe(RecipeBase):
    """Everything of a LEAD run except its dataset: the parameters every LEAD notebook shares.

    Defaults are the paper's (LEAD supplement section 11; ``LeadConfig``'s defaults); the embedded
    and smoke params sets override them. Field names are the notebooks' parameter names. Strings
    use ``""`` for "not set" because notebook parameters are flat scalars.
    """

    world_classes: int = 20  # target classes of a world:* dataset (WorldConfig.num_classes); unused for real data
    world_train_per_class: int = 30  # training images per class of a world:* dataset; unused for real data
    image_size: int = 224  # training crop in pixels; also the render size of a world:* dataset
    backbone: str = "resnet50"  # student backbone (fgkd.models)
    pretrained: bool | str = True  # true: ImageNet weights (section 11); "world": the embedded ImageNet; false: none
    small_input: bool = False  # CIFAR-style stem for 32-64 px images
    epochs: int = 100  # pre-training epochs of every run
    batch_size: int = 64
    lr: float = 0.03  # SGD learning rate (cosine schedule)
    weight_decay: float = 1e-4
    moco_temperature: float = 0.2  # InfoNCE tau
    queue_size: int = 65536  # MoCo negatives K
    moco_momentum: float = 0.999  # m of the key encoder's EMA
    shuffle_bn_splits: int = 1  # one process: shuffle-BN's substitute over this many sub-batches; 1 = off
    proj_hidden_dim: int = 0  # projection head width; 0 = the backbone's feature dimension (MoCo v2)
    ibot_vit: str = "tiny"  # Table 5's iBOT row: tiny (fgkd's small ViT) | vit_small_16 (iBOT's ViT-S/16)
    proj_head: str = "lead"  # lead: the supplement's FC-ReLU-FC-ReLU-FC-BN; mocov2: LEAD-pp's Linear-ReLU-Linear
    teacher: str = "ViT-B-16/openai"  # CLIP teacher: embedded-S/M/L or an open_clip ARCH/TAG
    teacher_mode: str = "online"  # online: teacher on each query view (paper); cached: once per image
    teacher_epochs: int = 0  # embedded teachers: training epochs; 0 = the teacher's default
    teacher_pool_per_class: int = 0  # embedded teachers: pre-training images per class; 0 = the default
    llm: str = "openai"  # LLM backend writing the class descriptions (fgkd.llm)
    llm_style: str = ""  # template backend's style (a or b); empty = the backend's default
    llm_model: str = ""  # openai backend's model name; empty = the backend's default
    max_words: int = 70  # description length in words (Table 2)
    alpha: float = 0.5  # weight of the contrastive branch
    beta: float = 6.4  # weight of the distillation branch (fgkd's convention: KD averaged over the batch)
    beta_reference: float = 0.0  # the authors' beta (LEAD-pp: 20), converted per run; 0 = use beta as given
    beta_world_size: int = 1  # processes the authors split the batch over (LEAD-pp's run script: 2)
    category_temperature: float = 0.02  # T of p_t and p_s (distributions over the categories)
    probe_epochs: int = 100  # linear-probe epochs
    probe: str = "fast"  # fast: fgkd's (standardised, cosine); authors: LEAD-pp's (L2, lr 30, steps, fresh views)
    validation_fraction: float = 0.0  # share of each class held out of the probe to pick its epoch
    probe_report: str = "final"  # Top-1 in the tables: final | best (best test epoch, as the authors) | selected
    augment: str = "pil"  # student views: pil (torchvision per image, the authors') | batched (fgkd.data.batch_augment)
    seeds: str = "0,1,2"  # comma-separated training seeds; every table shows mean and s.d. over them
    device: str = "auto"  # auto | cpu | cuda (not part of a run's identity)
    world_size: int = 1  # processes that train each run (fgkd reproduce --nproc-per-node sets it)
    progress: bool = False  # a bar per training epoch inside the notebooks (hours-long paper runs)
    num_workers: int = 4  # data-loader workers (not part of a run's identity)

    paper = "lead"

    def validate(self) -> None:
        self.seed_list  # validates seeds
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

    def config(self, dataset: str, **changes: Any) -> LeadConfig:
        """The base LEAD run on ``dataset`` (``changes``: further LeadConfig fields)."""
        options: dict[str, Any] = {}
        if dataset.startswith("world:"):
            options = {"num_classes": self.world_classes, "image_size": self.image_size,
                       "train_per_class": self.world_train_per_class}
        cfg = LeadConfig(
            dataset=dataset, dataset_options=options, image_size=self.image_size,
            backbone=self.backbone, pretrained=self.pretrained, small_input=self.small_input,
            proj_dim=teacher_embed_dim(self.teacher), proj_hidden_dim=self.proj_hidden_dim or None,
            proj_head=self.proj_head,
            queue_size=self.queue_size, moco_momentum=self.moco_momentum, shuffle_bn_splits=self.shuffle_bn_splits, moco_temperature=self.moco_temperature,
            teacher=self.teacher,
            teacher_options=teacher_options(self.teacher, self.teacher_epochs, self.teacher_pool_per_class),
            teacher_mode=self.teacher_mode, llm_backend=self.llm, llm_style=self.llm_style or None,
            llm_options=llm_options(self.llm, dataset, model=self.llm_model), max_words=self.max_words,
            category_temperature=self.category_temperature, alpha=self.alpha, beta=self.beta,
            beta_reference=self.beta_reference or None, beta_world_size=self.beta_world_size, lr=self.lr,
            weight_decay=self.weight_decay, epochs=self.epochs, batch_size=self.batch_size,
            probe_epochs=self.probe_epochs, probe=self.probe, validation_fraction=self.validation_fraction,
            probe_report=self.probe_report, augment=self.augment, seed=self.seed_list[0], device=self.device, world_size=self.world_size, num_workers=self.num_workers,
            progress=self.progress,
        )
        return cfg.replace(**changes) if changes else cfg

    def kit_label(self, dataset: str) -> str:
        """How reports label this recipe's numbers on ``dataset``."""
        from fgkd.report import kit_label

        label = kit_label(dataset, self.image_size, None if dataset.startswith("world:") else self.backbone)
        if self.probe_report != "final":  # say which probe epoch the Top-1 is
            epoch = "best test epoch, as the authors" if self.probe_report == "best" else "validation-selected epoch"
            label = f"{label[:-1]}, probe: {epoch})"
        return label


def recipe_from(namespace: Mapping[str, Any]) -> Recipe:
    """The :class:`Recipe` of a notebook (``recipe_from(globals())``): the shared recipe of its
    params set, ``params/<params_set>/lead.yaml`` (``params_set`` from ``namespace``, default
    ``"embedded"``), with any Recipe field present in ``namespace`` overriding the file (so
    ``papermill -p epochs 10`` works). A key of the file that is no Recipe field is a
    ``ParamsError`` naming the file, the key and the closest field; a field in neither keeps its
    default; a bad value raises ``ValueError``."""
    return Recipe.from_namespace(namespace)


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
    jobs = [(n, teacher_options(n, epochs, pool)) for n in dict.fromkeys(names) if n.startswith("embedded-")]
    if params.get("pretrained") == "world":  # the students' embedded ImageNet is trained first too
        jobs.append((EMBEDDED_IMAGENET, {"backbone": str(params.get("backbone", "")),
                                         "small_input": bool(params.get("small_input", False)),
                                         "image_size": int(params.get("image_size", 0))}))
    return jobs


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
