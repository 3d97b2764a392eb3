"""MaKD's shared recipe (``params/<set>/makd.yaml``): the settings every MaKD notebook shares, and
the LLM and scorer options it resolves to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from fgkd.data.registry import FOLDER_PREFIX
from fgkd.experiments.common import Recipe as RecipeBase
from fgkd.methods import MakdConfig

BASE = "Base"  # MaKD's name for the cross-entropy baseline


BASE = "Base"  # MaKD's name for the cross-entropy baseline
OURS = "Ours"  # MaKD's name for its own method


# The real benchmark each world domain stands in for (fgkd.data.world), in fgkd's dataset names.
WORLD_ANALOGUES = {"world:bird": "cub200", "world:car": "stanford_cars", "world:aircraft": "fgvc_aircraft"}


def llm_options(backend: str, *, model: str = "", questions_file: str = "", seed: int = 0) -> dict[str, Any]:
    """``MakdConfig.llm_options`` of a question writer.

    ``openai``: ``{"model": model}`` (the key stays in the environment); ``file``:
    ``{"questions": questions_file}``; ``template``: ``{"seed": seed}`` when ``seed != 0`` (the
    template "LLM" samples its candidate questions with that seed: another LLM's draft).
    """
    if backend == "openai":
        if not model:
            raise ValueError("the openai question writer needs a model name (llm_model), e.g. 'gpt-4o'")
        return {"model": model}
    if backend == "file":
        if not questions_file:
            raise ValueError("the file question writer needs questions_file=<path to a ranked questions file>")
        return {"questions": questions_file}
    return {"seed": int(seed)} if backend == "template" and seed else {}


VLM_RUN_OPTIONS = {"vlm_dtype": ("dtype", "auto"), "vlm_questions_per_batch": ("question_batch_size", 16),
                   "vlm_attention": ("attn_implementation", ""), "vlm_quantization": ("quantization", ""),
                   "vlm_device_map": ("device_map", "")}  # Recipe key -> (VlmConfig option, its default)


def scorer_options(scorer: str, *, model: str = "", oracle_noise: float = 1.0,
                   prompt_mode: str = "fgkd", vlm: dict[str, Any] | None = None) -> dict[str, Any]:
    """``MakdConfig.scorer_options``: the CLIP teacher (``clip``), the model id and prompt mode
    (``vlm``) or the oracle's logit-space noise sigma (``oracle``; world ground truth, not a model)."""
    if scorer == "clip":
        return {"teacher": model} if model else {}
    if scorer == "vlm":
        if not model:
            raise ValueError("the vlm scorer needs a model id (scorer_model), e.g. 'OpenGVLab/InternVL3-8B-hf'")
        # defaults are left out, so runs stored before an option keep their keys
        options = {"model_id": model, **({"prompt_mode": prompt_mode} if prompt_mode != "fgkd" else {})}
        for key, value in (vlm or {}).items():
            option, default = VLM_RUN_OPTIONS[key]
            if value != default:
                options[option] = value
        return options
    if scorer == "oracle":
        if not (isinstance(oracle_noise, (int, float)) and oracle_noise >= 0):
            raise ValueError(f"oracle_noise={oracle_noise!r} must be a number >= 0")
        return {"noise": float(oracle_noise)}
    return {"model": model} if model else {}


@dataclass(frozen=True)
class Recipe(RecipeBase):
    """The settings every MaKD notebook shares (``params/<set>/makd.yaml``).

    ``config(dataset)`` is the MaKD run ("Ours") of that dataset; the grids derive every other run
    from it by changing the fields they vary. World datasets get ``world_*`` as their options;
    real datasets read ``data_root``. Defaults: MaKD's schedule (section 4.1) and the embedded
    world's data; the notebooks' parameters (``params/<set>/makd.yaml``) set the scale.
    """

    world_classes: int = 20  # target classes C of a world dataset
    world_train_per_class: int = 30  # training images per class of a world dataset
    world_test_per_class: int = 100  # test images per class of a world dataset (2000 at C = 20: a Top-1 standard error near 1 point)
    image_size: int = 32  # training crop (world render size)
    backbone: str = "resnet18"
    pretrained: bool = False
    epochs: int = 240
    batch_size: int = 16
    lr: float = 0.01
    weight_decay: float = 5e-4
    transforms: str = "fgkd"  # fgkd: square resize + crop; authors: RandomResizedCrop / shorter side + centre crop
    llm: str = "template"  # question writer: template | openai | file
    llm_style: str = "a"  # template style (questions do not depend on it; kept for the record)
    llm_model: str = ""  # openai model
    questions_file: str = ""  # file backend: ranked questions
    n_generate: int = 100  # N questions generated
    n_select: int = 50  # questions selected and ranked; every Q is a prefix of this list
    num_aspects: int = 50  # Q
    rank_questions: bool = False  # chat LLMs: a further turn ranks the selected questions by importance
    track_test: bool = False  # test top-1 every epoch: tables add the best test epoch (the authors' report)
    scorer: str = "clip"  # P(yes) source: clip | vlm | oracle
    scorer_model: str = "embedded-M"  # clip: teacher name; vlm: model id
    scorer_prompt: str = "fgkd"  # vlm: fgkd (yes/no instruction, every answer spelling) | authors ("Yes"/"No" ids only)
    vlm_dtype: str = "auto"  # vlm scorer weights: auto (bf16 on CUDA), bfloat16, float16, float32
    vlm_questions_per_batch: int = 16  # vlm scorer: questions per forward after the shared image prefix
    vlm_attention: str = ""  # vlm scorer attention kernel: sdpa, eager, flash_attention_2; empty: the model default
    vlm_quantization: str = ""  # vlm scorer: 4bit or 8bit weights (bitsandbytes, CUDA); empty: none
    vlm_device_map: str = ""  # vlm scorer placement: auto shards a large model over the GPUs; empty: one device
    oracle_noise: float = 1.0  # oracle scorer only: sigma of the logit noise
    alpha: float = 1.0  # weight of the aspect loss
    seeds: str = "0"  # comma-separated training seeds; tables average over them
    data_root: str = ""  # folder holding one sub-folder per real dataset; empty: $FGKD_DATA_DIR or ~/data
    device: str = "auto"
    world_size: int = 1  # processes that train each run (fgkd reproduce --nproc-per-node sets it)
    progress: bool = False  # a bar per training epoch inside the notebooks (hours-long paper runs)
    num_workers: int = 0

    paper = "makd"

    def validate(self) -> None:
        for name in ("world_classes", "world_train_per_class", "world_test_per_class", "image_size", "epochs",
                     "batch_size", "n_generate", "n_select", "num_aspects", "num_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "num_workers" else 1):
                raise ValueError(f"{name}={value!r} must be a positive int")
        self.seed_list  # validates seeds
        # Building the config runs MakdConfig's own checks (lr, alpha, Q <= n_select...) once, here.
        self.config("world:bird")

    def dataset_options(self, dataset: str) -> dict[str, Any]:
        if not dataset.startswith("world:"):
            return {}
        return {"num_classes": self.world_classes, "image_size": self.image_size,
                "train_per_class": self.world_train_per_class, "test_per_class": self.world_test_per_class}

    def dataset_root(self, dataset: str) -> str | None:
        """``<data_root>/<dataset>`` for a real dataset (several datasets share one ``data_root``);
        None for the world or an empty ``data_root`` (the registry's default place)."""
        if not self.data_root or dataset.startswith(("world:", FOLDER_PREFIX)):  # these name no root
            return None
        return str(Path(self.data_root).expanduser() / dataset)

    def config(self, dataset: str, **changes: Any) -> MakdConfig:
        """The recipe's MaKD run on ``dataset`` (first seed), with ``changes`` applied."""
        cfg = MakdConfig(
            dataset=dataset, dataset_options=self.dataset_options(dataset), data_root=self.dataset_root(dataset),
            image_size=self.image_size, backbone=self.backbone, pretrained=self.pretrained, small_input=False,
            llm_backend=self.llm, llm_style=(self.llm_style or None) if self.llm == "template" else None,
            llm_options=llm_options(self.llm, model=self.llm_model, questions_file=self.questions_file),
            n_generate=self.n_generate, n_select=self.n_select, num_aspects=self.num_aspects,
            rank_questions=self.rank_questions, track_test=self.track_test,
            scorer=self.scorer, scorer_options=self.scorer_options(),
            alpha=self.alpha, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
            transforms=self.transforms, epochs=self.epochs, seed=self.seed_list[0], device=self.device, world_size=self.world_size, num_workers=self.num_workers,
            progress=self.progress,
        )
        return cfg.replace(**changes) if changes else cfg

    def scorer_options(self) -> dict[str, Any]:
        """``MakdConfig.scorer_options`` of this recipe's scorer (:func:`scorer_options`)."""
        vlm = {k: getattr(self, k) for k in VLM_RUN_OPTIONS}
        return scorer_options(self.scorer, model=self.scorer_model, oracle_noise=self.oracle_noise,
                              prompt_mode=self.scorer_prompt, vlm=vlm)

    def zero_shot_teacher(self) -> str | None:
        """The CLIP teacher whose zero-shot class logits stand in for the MLLM's (``clip`` scorer),
        None when the scorer has its own (``vlm``) or has none (``oracle``)."""
        if self.scorer == "clip":
            from fgkd.teachers.clip import DEFAULT_SCORER_TEACHER

            return self.scorer_model or DEFAULT_SCORER_TEACHER
        return None

    @property
    def has_zero_shot(self) -> bool:
        """Whether this recipe has an "MLLM" zero-shot classifier (the oracle is not a model)."""
        return self.scorer in ("clip", "vlm")

    def kit_label(self, datasets: str | Sequence[str], backbone: str | None = None) -> str:
        """``"fgkd embedded (world:bird, 32 px, 10 epochs)"``: the scale of this recipe's numbers."""
        from fgkd import report

        names = [datasets] if isinstance(datasets, str) else list(datasets)
        label = report.kit_label("/".join(names), self.image_size, backbone)
        return f"{label[:-1]}, {self.epochs} epoch{'s' if self.epochs != 1 else ''})"


def embedded_teachers(params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The embedded models a MaKD notebook with these parameters trains on first use, as ``(name,
    options)``: the ``clip`` scorer's CLIP teacher or the ``vlm`` scorer's embedded MLLM, and the
    ablation's other scorer's (``alt_scorer``). ``fgkd reproduce`` trains them before the notebooks, in parallel."""
    from fgkd.teachers.clip import DEFAULT_SCORER_TEACHER
    from fgkd.teachers.embedded_vlm import is_embedded_vlm

    names = [str(params.get(f"{prefix}scorer_model", "")) or DEFAULT_SCORER_TEACHER
             for prefix in ("", "alt_") if params.get(f"{prefix}scorer") == "clip"]
    names += [str(params.get(f"{prefix}scorer_model", "")) for prefix in ("", "alt_")
              if params.get(f"{prefix}scorer") == "vlm" and is_embedded_vlm(params.get(f"{prefix}scorer_model"))]
    return [(n, {}) for n in dict.fromkeys(names) if n.startswith("embedded-")]


def recipe_from(namespace: Mapping[str, Any]) -> Recipe:
    """The :class:`Recipe` of a notebook (``recipe_from(globals())``): the shared recipe of its
    params set, ``params/<params_set>/makd.yaml`` (``params_set`` from ``namespace``, default
    ``"embedded"``), with any Recipe field present in ``namespace`` overriding the file (so
    ``papermill -p epochs 10`` works); the other keys of ``namespace`` are ignored. A key of the
    file that is no Recipe field is a ``ParamsError`` naming the file, the key and the closest
    field; a field in neither keeps its default; a bad value raises ``ValueError``."""
    return Recipe.from_namespace(namespace)
