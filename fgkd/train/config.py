"""Typed training configurations for the two methods: :class:`LeadConfig` and :class:`MakdConfig`.

Defaults are the papers' settings (LEAD supplement section 11 and its public run script; MaKD
section 4.1); the embedded scale overrides them from its params files. Every config is a frozen
dataclass validated once in ``__post_init__``; ``from_dict`` rejects unknown keys and wrong types
with one message naming the key and the allowed keys, and ``config_hash`` keys the run store.

Fields named in ``RUNTIME_FIELDS`` say *how* to compute (device, loader workers, progress bar,
mixed precision, memory layout, where real data lives), not *what*: they are left out of the hash,
so a run trained on a GPU is found again on a laptop. Fields a method does not read (the teacher of
a plain MoCo run, the aspect settings of a CE baseline) are left out too, so every LEAD ablation
shares one MoCo baseline and every MaKD ablation one CE baseline.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from fgkd.io import stable_hash

RUNTIME_FIELDS = frozenset({"device", "num_workers", "progress", "data_root", "amp", "channels_last"})

LEAD_METHODS = ("lead", "moco", "simclr", "ibot")
WEIGHTINGS = ("entropy", "fixed", "linear", "none")
TEACHER_MODES = ("online", "cached")
PROJ_HEADS = ("lead", "mocov2")
ASPECT_LOSSES = ("bce", "kl")
TARGET_KINDS = ("real", "random")
DEVICES = ("auto", "cpu", "cuda")

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


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the field, the value and what is allowed."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(cls_name: str, key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against annotation ``tp`` (int, float, bool, str, dict, tuple[int, ...], X | None).

    Ints are accepted for floats; lists for tuples. Bools are never accepted as numbers (JSON's
    ``true`` for an epoch count is a typo, not a 1).
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(cls_name, key, value, inner[0])
    bad = ConfigError(f"{cls_name}.{key} must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise bad
        return dict(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        return tuple(_coerce(cls_name, f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    raise TypeError(f"{cls_name}.{key}: unsupported annotation {tp!r}")  # a bug in this module


def _check(cond: bool, cls_name: str, key: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"{cls_name}.{key}={value!r} is invalid: {allowed}")


class _Config:
    """Shared behaviour: type coercion, ``from_dict``/``to_dict``/``replace`` and the run-store hash."""

    kind: ClassVar[str]  # "lead" or "makd": the run store's first folder level for this config family

    def _coerce_fields(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(type(self).__name__, f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a plain dict (a params file, a JSON/YAML config); unknown keys are an error."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{cls.__name__}.from_dict expects a dict, got {type(d).__name__}")
        allowed = cls.field_names()
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"allowed keys: {', '.join(allowed)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-friendly values (tuples become lists); ``from_dict`` inverts it."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else (dict(v) if isinstance(v, dict) else v)
        return out

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied and validated again."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ConfigError(f"{type(self).__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"allowed keys: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    def unused_fields(self) -> frozenset[str]:
        """Fields this configuration does not read (left out of the hash); see subclasses."""
        return frozenset()

    def hash_dict(self) -> dict[str, Any]:
        """What identifies the run: every field except runtime and unused ones, plus the family."""
        skip = RUNTIME_FIELDS | self.unused_fields()
        d = {k: v for k, v in self.to_dict().items() if k not in skip}
        return {"family": self.kind, **d}

    def config_hash(self) -> str:
        """``stable_hash`` of :meth:`hash_dict`: the run store's folder name."""
        return stable_hash(self.hash_dict())

    @property
    def run_method(self) -> str:
        """Folder under ``cache_dir("runs")`` for this run (``lead``, ``moco``, ..., ``makd``)."""
        return self.kind

    def __hash__(self) -> int:  # dict fields make the generated hash fail; the config hash is stable
        return hash(self.config_hash())


def _validate_common(c: Any) -> None:
    n = type(c).__name__
    _check(bool(c.dataset.strip()), n, "dataset", c.dataset, "give a dataset name, e.g. 'world:bird' or 'cub200'")
    _check(c.image_size >= 8, n, "image_size", c.image_size, "must be >= 8 pixels")
    _check(bool(c.backbone.strip()), n, "backbone", c.backbone, "give a backbone name, e.g. 'resnet18'")
    _check(c.lr > 0, n, "lr", c.lr, "must be > 0")
    _check(0 <= c.momentum < 1, n, "momentum", c.momentum, "SGD momentum must be in [0, 1)")
    _check(c.weight_decay >= 0, n, "weight_decay", c.weight_decay, "must be >= 0")
    _check(c.epochs >= 1, n, "epochs", c.epochs, "must be >= 1")
    _check(c.batch_size >= 2, n, "batch_size", c.batch_size, "must be >= 2 (batch norm needs two samples)")
    _check(c.num_workers >= 0, n, "num_workers", c.num_workers, "must be >= 0")
    _check(c.seed >= 0, n, "seed", c.seed, "must be >= 0")
    _check(c.device in DEVICES, n, "device", c.device, f"choose one of {DEVICES}")
    if "fraction" in c.dataset_options:
        raise ConfigError(f"{n}.dataset_options must not hold 'fraction': use the config's own "
                          "train_fraction field (MakdConfig) so the test split stays whole")


@dataclass(frozen=True, eq=True)
class LeadConfig(_Config):
    """One LEAD run (or one of its SSL baselines: ``method`` moco, simclr, ibot).

    Loss (``fgkd.losses.lead_loss``): ``mean_n [alpha * w_cl(n) * L_cl(n) + beta * w_kd(n) *
    KL(p_t || p_s)(n)]``, ``p = softmax(f . P^T / kd_temperature)`` against the CLIP text
    prototypes ``P`` of the LLM's class descriptions, ``w`` from the teacher's normalised entropy.
    """

    kind: ClassVar[str] = "lead"
    __hash__ = _Config.__hash__  # set in the body, so the dataclass keeps it

    # --- data
    dataset: str = "cub200"  # fgkd.data.get_dataset name
    dataset_options: dict = field(default_factory=dict)  # extra get_dataset keywords (world size etc.)
    data_root: str | None = None  # folder of a real dataset (runtime: not hashed)
    image_size: int = 224  # training crop; test: resize image_size*256/224 then centre crop
    # --- student (MoCo v2 query/key encoders)
    method: str = "lead"  # lead | moco (LEAD without KD) | simclr | ibot (Table 5 baselines; a tiny ViT)
    backbone: str = "resnet50"  # fgkd.models.get_backbone name
    pretrained: bool = True  # ImageNet weights (LEAD section 11)
    small_input: bool = False  # CIFAR-style stem for 32-64 px images
    proj_head: str = "lead"  # "lead": 2 FC + ReLU + linear + BN (section 11); "mocov2": MoCo v2's
    proj_hidden_dim: int | None = None  # head width; None = backbone feature dim (as MoCo v2)
    moco_dim: int = 512  # projection dim = the teacher's embedding dim (CLIP ViT-B/16: 512)
    queue_size: int = 65536  # K
    moco_momentum: float = 0.999  # m of the key-encoder EMA
    moco_temperature: float = 0.2  # tau of InfoNCE (MoCo v2; LEAD-pp uses 0.27)
    simclr_dim: int = 128  # SimCLR projection dim
    simclr_temperature: float = 0.5  # SimCLR NT-Xent tau
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
    kd_temperature: float = 0.02  # tau of p_t and p_s (LEAD-pp)
    alpha: float = 0.5  # weight of the contrastive branch (LEAD-pp)
    # weight of the KD branch; fgkd averages KD over the batch where LEAD-pp sums it and averages over
    # classes, so LEAD-pp's beta 20 at N=64, C=200 is 20 * 64 / 200 = 6.4 here
    # (fgkd.losses.reference_beta_to_fgkd)
    beta: float = 6.4
    weighting: str = "entropy"  # entropy: w_cl=H^2, w_kd=1-H^2; linear: H, 1-H; fixed: 1, 1; none: 1, 0 (no KD)
    # --- optimisation
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    epochs: int = 100
    batch_size: int = 64
    # --- evaluation: linear probe on frozen, standardised backbone features (fgkd.eval.linear_probe;
    # LEAD-pp's lr 30 is for raw features, standardising makes 0.1 the equivalent)
    probe_epochs: int = 100
    probe_lr: float = 0.1
    probe_batch_size: int = 256
    probe_weight_decay: float = 0.0
    # --- runtime
    num_workers: int = 4
    seed: int = 0
    device: str = "auto"  # auto = cuda when available
    amp: bool = True  # bf16/fp16 autocast, CUDA only
    channels_last: bool = True  # CUDA; on CPU only for models with depthwise convolutions
    progress: bool = True  # tqdm bar

    def __post_init__(self) -> None:
        self._coerce_fields()
        n = type(self).__name__
        _validate_common(self)
        _check(self.method in LEAD_METHODS, n, "method", self.method, f"choose one of {LEAD_METHODS}")
        _check(self.proj_head in PROJ_HEADS, n, "proj_head", self.proj_head, f"choose one of {PROJ_HEADS}")
        _check(self.proj_hidden_dim is None or self.proj_hidden_dim >= 1, n, "proj_hidden_dim",
               self.proj_hidden_dim, "must be >= 1 or None")
        _check(self.moco_dim >= 1, n, "moco_dim", self.moco_dim, "must be >= 1 (the teacher embedding dim)")
        _check(self.queue_size >= self.batch_size, n, "queue_size", self.queue_size,
               f"must be >= batch_size={self.batch_size} so one batch of keys fits the queue")
        _check(0 <= self.moco_momentum <= 1, n, "moco_momentum", self.moco_momentum, "must be in [0, 1]")
        for key in ("moco_temperature", "simclr_temperature", "kd_temperature"):
            _check(getattr(self, key) > 0, n, key, getattr(self, key), "must be > 0")
        _check(self.simclr_dim >= 1, n, "simclr_dim", self.simclr_dim, "must be >= 1")
        _check(bool(self.teacher.strip()), n, "teacher", self.teacher, "give a teacher name, e.g. 'ViT-B-16'")
        _check("device" not in self.teacher_options, n, "teacher_options", self.teacher_options,
               "must not set 'device': the teacher runs on the run's device")
        _check(self.teacher_mode in TEACHER_MODES, n, "teacher_mode", self.teacher_mode,
               f"choose one of {TEACHER_MODES}")
        _check(1 <= self.max_words <= 70, n, "max_words", self.max_words,
               "must be in [1, 70] (CLIP's text encoder reads 77 tokens; LEAD caps at 70 words)")
        _check(0 <= self.word_removal < 1, n, "word_removal", self.word_removal, "must be in [0, 1)")
        _check(self.num_categories is None or self.num_categories >= 2, n, "num_categories",
               self.num_categories, "must be >= 2 or None (= number of classes)")
        _check(self.alpha >= 0, n, "alpha", self.alpha, "must be >= 0")
        _check(self.beta >= 0, n, "beta", self.beta, "must be >= 0")
        _check(self.weighting in WEIGHTINGS, n, "weighting", self.weighting, f"choose one of {WEIGHTINGS}")
        _check(self.schedule in ("cosine", "constant"), n, "schedule", self.schedule, "choose 'cosine' or 'constant'")
        _check(self.probe_epochs >= 1, n, "probe_epochs", self.probe_epochs, "must be >= 1")
        _check(self.probe_lr > 0, n, "probe_lr", self.probe_lr, "must be > 0")
        _check(self.probe_batch_size >= 1, n, "probe_batch_size", self.probe_batch_size, "must be >= 1")
        _check(self.probe_weight_decay >= 0, n, "probe_weight_decay", self.probe_weight_decay, "must be >= 0")

    @property
    def uses_teacher(self) -> bool:
        return self.method == "lead"

    def hash_dict(self) -> dict[str, Any]:
        from fgkd.teachers.embedded import teacher_identity

        d = super().hash_dict()
        key = teacher_identity(self.teacher, self.teacher_options) if self.uses_teacher else None
        if key is not None:  # an embedded teacher: its recipe, not just its name, identifies the run
            d["teacher_key"] = key
        return d

    @property
    def run_method(self) -> str:
        return self.method

    def unused_fields(self) -> frozenset[str]:
        teacher = {"teacher", "teacher_options", "teacher_mode", "llm_backend", "llm_style", "llm_options", "max_words",
                   "word_removal", "num_categories", "kd_temperature", "alpha", "beta", "weighting"}
        moco = {"proj_head", "proj_hidden_dim", "moco_dim", "queue_size", "moco_momentum", "moco_temperature"}
        simclr = {"simclr_dim", "simclr_temperature"}
        if self.method == "lead":
            return frozenset(simclr)
        if self.method == "moco":
            return frozenset(teacher | simclr)
        if self.method == "simclr":
            return frozenset(teacher | moco)
        # ibot: fgkd's tiny iBOT ViT with its own defaults; the ResNet-family fields do not apply
        return frozenset(teacher | moco | simclr | {"backbone", "pretrained", "small_input"})


@dataclass(frozen=True, eq=True)
class MakdConfig(_Config):
    """One MaKD run: a classifier with C class logits and Q aspect logits.

    Loss (MaKD eq. 4-6): ``CE(y_hat[:C], y) + alpha * BCE(sigmoid(y_hat[C:]), q)`` with ``q`` the
    MLLM's P(yes) per image and aspect question; ``alpha = 0`` is the CE baseline (no aspect logits).
    Extensions: ``mllm_kd_weight`` (section 5.1, KD from the MLLM's zero-shot class logits) and
    ``kd_teacher`` (Table 6, logit KD from a trained classifier run, alone or with MaKD).
    """

    kind: ClassVar[str] = "makd"
    __hash__ = _Config.__hash__

    # --- data
    dataset: str = "stanford_cars"
    dataset_options: dict = field(default_factory=dict)
    data_root: str | None = None  # runtime: not hashed
    image_size: int = 224
    train_fraction: float = 1.0  # Table 5: stratified fraction of the training split
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
    scorer: str = "vlm"  # fgkd.teachers.aspects.get_scorer name: vlm | clip | oracle
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
    # --- runtime
    num_workers: int = 4
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        self._coerce_fields()
        n = type(self).__name__
        _validate_common(self)
        _check(0 < self.train_fraction <= 1, n, "train_fraction", self.train_fraction, "must be in (0, 1]")
        _check(self.n_generate >= 1, n, "n_generate", self.n_generate, "must be >= 1")
        _check(1 <= self.n_select <= self.n_generate, n, "n_select", self.n_select,
               f"must be in [1, n_generate={self.n_generate}]")
        _check(1 <= self.num_aspects <= self.n_select, n, "num_aspects", self.num_aspects,
               f"must be in [1, n_select={self.n_select}] (the top-Q prefix of the selected questions)")
        _check(bool(self.scorer.strip()), n, "scorer", self.scorer, "give a scorer name: vlm, clip or oracle")
        _check(self.alpha >= 0, n, "alpha", self.alpha, "must be >= 0 (0 = the CE baseline)")
        _check(self.aspect_loss in ASPECT_LOSSES, n, "aspect_loss", self.aspect_loss, f"choose one of {ASPECT_LOSSES}")
        _check(self.targets in TARGET_KINDS, n, "targets", self.targets, f"choose one of {TARGET_KINDS}")
        _check(self.mllm_kd_weight >= 0, n, "mllm_kd_weight", self.mllm_kd_weight, "must be >= 0 (0 = off)")
        for key in ("mllm_kd_temperature", "kd_temperature"):
            _check(getattr(self, key) > 0, n, key, getattr(self, key), "must be > 0")
        _check(self.kd_weight >= 0, n, "kd_weight", self.kd_weight, "must be >= 0")
        if self.milestones is not None:
            _check(all(1 <= m < self.epochs for m in self.milestones), n, "milestones", self.milestones,
                   f"each must be in [1, epochs={self.epochs}); or leave it None to scale MaKD's to epochs")
            _check(list(self.milestones) == sorted(self.milestones), n, "milestones", self.milestones,
                   "must be sorted")
        _check(0 < self.gamma <= 1, n, "gamma", self.gamma, "must be in (0, 1]")
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
        from fgkd.teachers.clip import CLIP_SCORER_VERSION, DEFAULT_SCORER_TEACHER
        from fgkd.teachers.embedded import teacher_identity

        d = super().hash_dict()
        d["milestones"] = list(self.lr_milestones)  # None and its explicit value are the same run
        if self.kd_teacher is not None:  # the teacher is identified by its own hash, runtime keys ignored
            d["kd_teacher"] = MakdConfig.from_dict(self.kd_teacher).config_hash()
        if self.scorer == "clip" and "scorer" not in self.unused_fields():
            options = dict(self.scorer_options)
            options.pop("batch_size", None)  # ClipAspectScorer's own forward batch, not the teacher's
            key = teacher_identity(options.pop("teacher", DEFAULT_SCORER_TEACHER), options)
            if key is not None:
                d["scorer_teacher_key"] = key
            d["clip_scorer_version"] = CLIP_SCORER_VERSION
        if self.uses_zero_shot and self.mllm_teacher is not None:
            key = teacher_identity(self.mllm_teacher)
            if key is not None:
                d["mllm_teacher_key"] = key
        return d


def config_from_dict(d: Mapping[str, Any]) -> LeadConfig | MakdConfig:
    """A config from a dict carrying ``"family": "lead" | "makd"`` (the CLI's config files)."""
    d = dict(d)
    family = d.pop("family", None)
    families = {"lead": LeadConfig, "makd": MakdConfig}
    if family not in families:
        raise ConfigError(f"the config needs a 'family' key, one of {sorted(families)}; got {family!r}")
    return families[family].from_dict(d)
