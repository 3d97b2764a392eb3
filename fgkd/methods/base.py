"""What every training method shares: the run config's identity in the store, and LEAD's family.

:class:`RunConfig` is a :class:`fgkd.config.Config` that the run store can key: ``config_hash()``
is ``stable_hash(hash_dict())``. Fields named in :data:`RUNTIME_FIELDS` say *how* to compute
(device, loader workers, CPU threads, progress bar, mixed precision, memory layout, where real data
lives), not
*what*: they are left out of the hash, so a run trained on a GPU is found again on a laptop.

Run keys are stable across releases: a field renamed since runs were first stored is hashed under
its stored name (``HASH_NAMES``), so a user's cache keeps its runs.

:class:`SSLConfig` / :class:`SSLMethod` hold what LEAD and its self-supervised baselines (MoCo v2,
SimCLR, the iBOT-style ViT) share, as solo-learn's base method does: the data, the optimisation,
the cosine schedule and the evaluation (LEAD supplement, section 10: a linear probe on frozen
backbone features for Top-1/Top-5, and leave-one-out retrieval R-1/R-5/mAP on the test split).
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from fgkd.config import Config, check
from fgkd.io import stable_hash
from fgkd.train.engine import Method

RUNTIME_FIELDS = frozenset({"device", "num_workers", "progress", "data_root", "amp", "channels_last", "threads",
                            "probe_report"})
DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("cosine", "constant")
PROBES = ("fast", "authors")
AUGMENTS = ("pil", "batched")  # SSLConfig.augment: torchvision per image, or fgkd.data.batch_augment
PROBE_REPORTS = ("final", "best", "selected")
WORLD_INIT = "world"  # pretrained: "world", the embedded ImageNet (fgkd.models.embedded_imagenet)
REPORTED_PROBE_KEYS = {"final": ("top1", "top5"), "best": ("top1_best", "top5_best"),
                       "selected": ("top1_selected", "top5_selected")}
SSL_HASHED_WHEN_SET = frozenset({"probe", "validation_fraction", "augment", "track_test"})  # added after runs were stored


class RunConfig(Config):
    """A config the run store keys by hash. Subclasses set ``family`` and may set ``method``."""

    family: ClassVar[str]  # the hash's "family" entry: "lead" (LEAD and its baselines) or "makd"
    method: ClassVar[str]  # the method's registry name; the run store's folder under cache_dir("runs")
    HASH_NAMES: ClassVar[dict[str, str]] = {}  # field -> the name it is hashed under (renamed fields)
    # Fields added after runs were stored: hashed only when set away from their default, so adding
    # an option keeps the key (and the cached run) of every config that does not use it.
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = frozenset()

    def unused_fields(self) -> frozenset[str]:
        """Fields this configuration does not read (left out of the hash); see subclasses."""
        return frozenset()

    def hash_dict(self) -> dict[str, Any]:
        """What identifies the run: every field except runtime and unused ones, plus the family."""
        skip = RUNTIME_FIELDS | self.unused_fields()
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in self.HASHED_WHEN_SET}
        d = {self.HASH_NAMES.get(k, k): v for k, v in self.to_dict().items()
             if k not in skip and not (k in defaults and v == defaults[k])}
        # One process keeps the key runs were stored under; N processes train another run: batch_size
        # is per process, so N of them step on N times the images.
        if d.get("world_size", 1) == 1:
            d.pop("world_size", None)
        else:
            d["global_batch_size"] = d["batch_size"] * d["world_size"]
        return {"family": self.family, **d}

    def config_hash(self) -> str:
        """``stable_hash`` of :meth:`hash_dict`: the run store's folder name."""
        return stable_hash(self.hash_dict())

    def record(self) -> dict[str, Any]:
        """The config as written to a run's ``config.json`` (``fgkd.methods.config_from_dict`` reads it)."""
        return {"family": self.family, "method": self.method, "hash": self.config_hash(), **self.to_dict()}

    def dependencies(self) -> dict[str, "RunConfig"]:
        """Other runs this run needs, by the keyword its method takes them under (the run store
        trains them first and hands their models in)."""
        return {}

    def __hash__(self) -> int:  # dict fields make the generated hash fail; the config hash is stable
        return hash(self.config_hash())


def validate_common(c: Any) -> None:
    """Checks every run config shares (dataset, optimisation, runtime)."""
    n = type(c).__name__
    check(bool(c.dataset.strip()), n, "dataset", c.dataset, "give a dataset name, e.g. 'world:bird' or 'cub200'")
    check(c.image_size >= 8, n, "image_size", c.image_size, "must be >= 8 pixels")
    check(c.lr > 0, n, "lr", c.lr, "must be > 0")
    check(0 <= c.momentum < 1, n, "momentum", c.momentum, "SGD momentum must be in [0, 1)")
    check(c.weight_decay >= 0, n, "weight_decay", c.weight_decay, "must be >= 0")
    check(c.epochs >= 1, n, "epochs", c.epochs, "must be >= 1")
    check(c.batch_size >= 2, n, "batch_size", c.batch_size, "must be >= 2 (batch norm needs two samples)")
    check(c.num_workers >= 0, n, "num_workers", c.num_workers, "must be >= 0")
    check(c.threads >= 1, n, "threads", c.threads, "must be >= 1 (CPU threads used to train and evaluate)")
    check(c.world_size >= 1, n, "world_size", c.world_size, "must be >= 1 (the processes that train the run)")
    check(c.seed >= 0, n, "seed", c.seed, "must be >= 0")
    check(c.device in DEVICES, n, "device", c.device, f"choose one of {DEVICES}")
    if "fraction" in c.dataset_options:
        from fgkd.config import ConfigError

        raise ConfigError(f"{n}.dataset_options must not hold 'fraction': use the config's own "
                          "train_fraction field (MakdConfig) so the test split stays whole")


def validate_llm_options(c: Any) -> None:
    """An LLM backend's ``api_key_env`` must name a variable, never hold the key (which would then be
    written into the run's config.json and the reports); the message does not echo it."""
    from fgkd.config import ConfigError
    from fgkd.secrets import env_name_problem

    problem = env_name_problem(c.llm_options.get("api_key_env"), f"{type(c).__name__}.llm_options['api_key_env']")
    if problem:
        raise ConfigError(problem.replace(". Fix: ", "; "))


def validate_questions(c: Any) -> None:
    """MaKD's question counts and scorer (classifier and detector): N generated, the n_select ranked
    ones, the top-Q prefix of those, and a scorer name."""
    n = type(c).__name__
    check(c.n_generate >= 1, n, "n_generate", c.n_generate, "must be >= 1")
    check(1 <= c.n_select <= c.n_generate, n, "n_select", c.n_select, f"must be in [1, n_generate={c.n_generate}]")
    check(1 <= c.num_aspects <= c.n_select, n, "num_aspects", c.num_aspects,
          f"must be in [1, n_select={c.n_select}] (the top-Q prefix of the selected questions)")
    check(bool(c.scorer.strip()), n, "scorer", c.scorer, "give a scorer name: vlm, clip or oracle")


def validate_step_schedule(c: Any) -> None:
    """A step schedule's ``milestones`` (None: the method's default scaled to ``epochs``) and ``gamma``."""
    n = type(c).__name__
    if c.milestones is not None:
        check(all(1 <= m < c.epochs for m in c.milestones), n, "milestones", c.milestones,
              f"each must be in [1, epochs={c.epochs}); or leave it None to scale the method's to epochs")
        check(list(c.milestones) == sorted(c.milestones), n, "milestones", c.milestones, "must be sorted")
    check(0 < c.gamma <= 1, n, "gamma", c.gamma, "must be in (0, 1]")


def hashed_scorer_options(scorer: str, scorer_options: dict) -> dict:
    """The scorer options that identify a run: the vlm scorer's runtime settings (question batch,
    attention kernel, device map: ``fgkd.teachers.vlm.config.RUNTIME_OPTIONS``) change how its
    scores are computed, not what they are, so they are left out (``device`` stays: runs stored
    with it keep their keys)."""
    if scorer != "vlm":
        return dict(scorer_options)
    from fgkd.teachers.vlm.config import RUNTIME_OPTIONS

    return {k: v for k, v in scorer_options.items() if k not in RUNTIME_OPTIONS - {"device"}}


def clip_scorer_identity(scorer: str, scorer_options: dict) -> dict[str, Any]:
    """Hash entries naming the embedded CLIP teacher behind a ``clip`` scorer (its own key: a
    retrained teacher is another run), and the scorer's version; none for other scorers."""
    if scorer != "clip":
        return {}
    from fgkd.teachers.clip import CLIP_SCORER_VERSION, DEFAULT_SCORER_TEACHER
    from fgkd.teachers.embedded import teacher_identity

    options = dict(scorer_options)
    options.pop("batch_size", None)  # ClipAspectScorer's own forward batch, not the teacher's
    key = teacher_identity(options.pop("teacher", DEFAULT_SCORER_TEACHER), options)
    return {**({"scorer_teacher_key": key} if key is not None else {}), "clip_scorer_version": CLIP_SCORER_VERSION}


def validate_backbone(c: Any) -> None:
    check(bool(c.backbone.strip()), type(c).__name__, "backbone", c.backbone, "give a backbone name, e.g. 'resnet18'")


@dataclass(frozen=True, eq=True)
class SSLConfig(RunConfig):
    """Fields of every LEAD-family run: data, optimisation, linear probe, runtime.

    Defaults are the paper's (LEAD supplement section 11 and its public run script).
    """

    family: ClassVar[str] = "lead"
    HASHED_WHEN_SET: ClassVar[frozenset[str]] = SSL_HASHED_WHEN_SET
    __hash__ = RunConfig.__hash__  # set in the body, so the dataclass keeps it

    # --- data
    dataset: str = "cub200"  # fgkd.data.get_dataset name
    dataset_options: dict = field(default_factory=dict)  # extra get_dataset keywords (world size etc.)
    data_root: str | None = None  # folder of a real dataset (runtime: not hashed)
    image_size: int = 224  # training crop; test: resize image_size*256/224 then centre crop
    # --- optimisation
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    epochs: int = 100
    batch_size: int = 64
    # --- evaluation: linear probe on frozen, standardised backbone features (fgkd.eval.linear_probe)
    probe_epochs: int = 100
    probe_lr: float = 0.1
    probe_batch_size: int = 256
    probe_weight_decay: float = 0.0
    # fast: fgkd's (standardised features extracted once, the probe_* settings, cosine); authors:
    # LEAD-pp's linear_probing.py (L2-normalised features of a fresh RandomResizedCrop + flip view
    # each epoch, lr 30, batch 256, x0.1 at 60 % and 80 % of probe_epochs)
    probe: str = "fast"
    # > 0: this share of each class of the training split is held out of the probe (seeded) and
    # picks its epoch: metrics top1_selected / top5_selected (honest model selection)
    validation_fraction: float = 0.0
    # which probe accuracy the tables report as Top-1/Top-5 (metrics.json holds all): final (the
    # last epoch), best (the best test epoch, as LEAD-pp and MoCo report) or selected (the epoch the
    # validation split picked); a read-out, not part of the run's identity
    probe_report: str = "final"
    # --- views: pil: torchvision's transforms per image (the authors'); batched: the crop per image,
    # jitter, grayscale, blur and flip per batch on uint8 tensors (fgkd.data.batch_augment; the
    # same distribution of views, other random draws, so another run key)
    augment: str = "pil"
    # weighted kNN Top-1 of the test split after every epoch, in history.json (test_knn_top1): a
    # curve to see whether the runs have converged; the forked RNG leaves the training unchanged
    track_test: bool = False
    # --- runtime
    num_workers: int = 4
    # CPU intra-op threads that train and evaluate the run (fgkd.determinism): fixed, so the
    # weights do not depend on OMP_NUM_THREADS or the machine's load; another value gives
    # other last digits under the same run key
    threads: int = 1
    world_size: int = 1  # processes that train the run (torchrun); in the run key with the global batch when > 1
    seed: int = 0
    device: str = "auto"  # auto = cuda when available
    amp: bool = True  # bf16/fp16 autocast, CUDA only
    channels_last: bool = True  # CUDA; on CPU only for models with depthwise convolutions
    progress: bool = True  # tqdm bar

    def validate(self) -> None:
        n = type(self).__name__
        validate_common(self)
        check(self.schedule in SCHEDULES, n, "schedule", self.schedule, "choose 'cosine' or 'constant'")
        check(self.probe_epochs >= 1, n, "probe_epochs", self.probe_epochs, "must be >= 1")
        check(self.probe_lr > 0, n, "probe_lr", self.probe_lr, "must be > 0")
        check(self.probe_batch_size >= 1, n, "probe_batch_size", self.probe_batch_size, "must be >= 1")
        check(self.probe_weight_decay >= 0, n, "probe_weight_decay", self.probe_weight_decay, "must be >= 0")
        check(self.probe in PROBES, n, "probe", self.probe, f"choose one of {PROBES}")
        check(self.augment in AUGMENTS, n, "augment", self.augment, f"choose one of {AUGMENTS}")
        check(self.probe_report in PROBE_REPORTS, n, "probe_report", self.probe_report,
              f"choose one of {PROBE_REPORTS}")
        check(self.probe_report != "selected" or self.validation_fraction > 0, n, "probe_report",
              self.probe_report, "'selected' needs validation_fraction > 0 (the split that selects)")
        check(0 <= self.validation_fraction < 0.5, n, "validation_fraction", self.validation_fraction,
              "must be in [0, 0.5): the share of each class held out to pick the probe's epoch")

    def hash_dict(self) -> dict[str, Any]:
        return {**super().hash_dict(), "method": self.method}


@dataclass(frozen=True, eq=True)
class BackboneSSLConfig(SSLConfig):
    """An SSL run whose student is a named CNN backbone (``fgkd.models.get_backbone``)."""

    __hash__ = RunConfig.__hash__

    backbone: str = "resnet50"  # fgkd.models.get_backbone name
    # true: torchvision's ImageNet weights (LEAD section 11); "world": the embedded ImageNet (a
    # supervised pre-training on the world's disjoint pools, fgkd.models.embedded_imagenet); false: none
    pretrained: bool | str = True
    small_input: bool = False  # CIFAR-style stem for 32-64 px images

    def validate(self) -> None:
        super().validate()
        validate_backbone(self)
        n = type(self).__name__
        check(self.pretrained in (True, False, WORLD_INIT), n, "pretrained", self.pretrained,
              f"use true (ImageNet weights), false (from scratch) or {WORLD_INIT!r} (the embedded ImageNet)")
        check(self.pretrained != WORLD_INIT or self.dataset.startswith("world:"), n, "pretrained", self.pretrained,
              f"{WORLD_INIT!r} pre-trains on the procedural world's pools, for world:* datasets only; "
              f"dataset={self.dataset!r} needs true (ImageNet weights) or false")

    def hash_dict(self) -> dict[str, Any]:
        d = super().hash_dict()
        if self.pretrained == WORLD_INIT:  # its recipe, not just its name, identifies the run
            d["pretrained_key"] = self.embedded_imagenet().key
        return d

    def embedded_imagenet(self):
        """The :class:`~fgkd.models.embedded_imagenet.EmbeddedImageNetConfig` behind ``pretrained: "world"``."""
        from fgkd.models.embedded_imagenet import embedded_imagenet_config

        return embedded_imagenet_config(self.backbone, self.small_input, self.image_size,
                                        int(self.dataset_options.get("seed", 0)))

    def backbone_weights(self, progress: bool = False) -> bool | Any:
        """What ``get_backbone(pretrained=...)`` gets: a bool, or the embedded ImageNet's weights file
        (pre-trained first if it is not cached)."""
        if self.pretrained != WORLD_INIT:
            return self.pretrained
        from fgkd.models.embedded_imagenet import embedded_imagenet_weights

        return embedded_imagenet_weights(self.embedded_imagenet(), progress=progress)


class SSLMethod(Method):
    """Shared machinery of LEAD's family: two augmented views per image, the cosine schedule and
    the evaluation. Subclasses give ``augmentation``, ``build_module`` and ``training_step``."""

    @staticmethod
    def augmentation(image_size: int) -> Callable:
        from fgkd.data.transforms import moco_v2_augmentation

        return moco_v2_augmentation(image_size)

    @staticmethod
    def view_recipe(image_size: int):
        """:meth:`augmentation`'s parameters for the batched pipeline (``augment: "batched"``)."""
        from fgkd.data.batch_augment import ViewRecipe

        return ViewRecipe.moco_v2(image_size)

    @classmethod
    def build_module(cls, cfg: SSLConfig) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def model_from_meta(cls, cfg: SSLConfig, meta: dict[str, Any]) -> nn.Module:
        # The stored weights replace the initial ones: loading a run needs no ImageNet file and no
        # embedded pre-training.
        if getattr(cfg, "pretrained", False) is not False:
            cfg = dataclasses.replace(cfg, pretrained=False)
        return cls.build_module(cfg)

    def build(self, device: torch.device, for_training: bool = True) -> None:
        from fgkd.data.splits import load_split
        from fgkd.data.transforms import TwoCrops
        from fgkd.train.engine import IndexedDataset

        cfg = self.cfg
        self.device = device
        self.module = self.build_module(cfg)
        if not for_training:
            return
        if cfg.augment == "batched":
            from fgkd.data.batch_augment import two_view_pipeline

            views, self.collate_fn = two_view_pipeline(self.view_recipe(cfg.image_size))
        else:
            views = TwoCrops(self.augmentation(cfg.image_size))
        train = load_split(cfg, "train", views)
        self.meta = {"classes": list(train.classes), "num_classes": len(train.classes), "num_train": len(train)}
        self.train_set = IndexedDataset(train)

    def make_scheduler(self, optimizer: torch.optim.Optimizer):
        if self.cfg.schedule == "cosine":  # MoCo v2: lr * (1 + cos(pi * epoch / epochs)) / 2, per epoch
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.cfg.epochs, eta_min=0.0)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    def extract(self, split: str) -> dict[str, np.ndarray]:
        """Frozen backbone features ``[N, F]`` and labels ``[N]`` under the test transform."""
        from fgkd.data.splits import load_split
        from fgkd.data.transforms import test_transform
        from fgkd.eval import extract_features

        data = load_split(self.cfg, split, test_transform(self.cfg.image_size))
        feats, labels = extract_features(self.module, data, batch_size=256, device=self.device,
                                         num_workers=self.cfg.num_workers)
        return {"features": feats.numpy(), "labels": labels.numpy()}

    def epoch_metrics(self, epoch: int) -> dict[str, float]:
        """With ``track_test``: this epoch's weighted kNN Top-1 on the test split (k 20, T 0.07, the
        training split as the memory bank, as in :meth:`evaluate`), the model back in training mode
        afterwards; extracted under a forked RNG, so the training draws what it would have drawn."""
        if not self.cfg.track_test:
            return {}
        with torch.random.fork_rng(devices=[]):
            train, test = self.extract("train"), self.extract("test")
        return {"test_knn_top1": _knn(train, test, _num_classes(train, test))["top1"]}

    def evaluate(self, arrays: Callable[[str], dict[str, np.ndarray]]) -> dict[str, float]:
        """Linear-probe Top-1/Top-5 (train -> test), test-split retrieval R-1/R-5/mAP and weighted
        kNN Top-1/Top-5 (train -> test), in percent."""
        from fgkd.eval import linear_probe, retrieval_metrics

        cfg = self.cfg
        train, test = arrays("train"), arrays("test")
        num_classes = _num_classes(train, test)
        labels = torch.from_numpy(train["labels"])
        keep, held = self.validation_split(train["labels"])
        val = {}
        if len(held):
            val = {"val_features": torch.from_numpy(train["features"][held]), "val_labels": labels[held]}
        features: Any = torch.from_numpy(train["features"][keep])
        options: dict[str, Any] = {"lr": cfg.probe_lr, "batch_size": cfg.probe_batch_size}
        if cfg.probe == "authors":
            features = self._augmented_train_features(keep)
            options = {"lr": 30.0, "batch_size": 256, "normalise": "l2", "schedule": "steps", "milestones": (0.6, 0.8)}
        probe = linear_probe(features, labels[keep], torch.from_numpy(test["features"]),
                             torch.from_numpy(test["labels"]), epochs=cfg.probe_epochs,
                             weight_decay=cfg.probe_weight_decay, num_classes=num_classes, seed=cfg.seed,
                             device=self.device, **options, **val)
        retrieval = retrieval_metrics(torch.from_numpy(test["features"]), torch.from_numpy(test["labels"]))
        knn = _knn(train, test, num_classes)
        return {**probe, **retrieval, "knn_top1": knn["top1"], "knn_top5": knn["top5"]}

    def validation_split(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(kept, held_out)`` row indices of the training split: ``validation_fraction`` of each
        class held out, chosen by a generator seeded by ``(run seed, class)``; none when 0."""
        from fgkd.data.subsets import class_permutations

        if self.cfg.validation_fraction <= 0:
            return np.arange(len(labels)), np.zeros(0, dtype=np.int64)
        held = []
        for _, order in sorted(class_permutations(labels, seed=self.cfg.seed).items()):
            k = min(max(1, round(self.cfg.validation_fraction * len(order))), len(order) - 1)
            held += order[:k].tolist()
        held = np.sort(np.asarray(held, dtype=np.int64))
        return np.setdiff1d(np.arange(len(labels)), held), held

    def _augmented_train_features(self, rows: np.ndarray) -> Callable[[int], torch.Tensor]:
        """LEAD-pp's probe input for the training ``rows``: each epoch (the first included), the
        frozen backbone (eval mode) on a fresh RandomResizedCrop + flip view of each image, seeded
        per epoch so the probe is deterministic."""
        from torch.utils.data import Subset
        from torchvision import transforms as T

        from fgkd.data.splits import load_split
        from fgkd.data.transforms import normalize
        from fgkd.eval import extract_features
        from fgkd.train.engine import derive_seed

        cfg = self.cfg
        view = T.Compose([T.RandomResizedCrop(cfg.image_size), T.RandomHorizontalFlip(), T.ToTensor(), normalize()])
        data = Subset(load_split(cfg, "train", view), rows.tolist())

        def features(epoch: int) -> torch.Tensor:
            torch.manual_seed(derive_seed(cfg.seed, "probe-view", epoch) % 2**63)
            return extract_features(self.module, data, batch_size=256, device=self.device, num_workers=0)[0]

        return features


def _num_classes(train: dict[str, np.ndarray], test: dict[str, np.ndarray]) -> int:
    return int(max(train["labels"].max(), test["labels"].max())) + 1


def _knn(train: dict[str, np.ndarray], test: dict[str, np.ndarray], num_classes: int) -> dict[str, float]:
    """DINO-style weighted kNN (k 20, T 0.07) of the test features on the training ones: the cheap
    check beside the probe, no training."""
    from fgkd.eval import knn_classifier

    return knn_classifier(torch.from_numpy(train["features"]), torch.from_numpy(train["labels"]),
                          torch.from_numpy(test["features"]), torch.from_numpy(test["labels"]),
                          num_classes=num_classes)
