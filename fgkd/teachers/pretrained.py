"""Pretrained open_clip teachers (``ViT-B-16/openai``...) from the local cache only.

fgkd never downloads weights. A name ``ARCH/TAG`` is resolved to a file that open_clip would have
downloaded for ``create_model(ARCH, pretrained=TAG)``: first the Hugging Face cache (the tag's
``hf_hub`` id), then open_clip's URL cache (``~/.cache/clip/<file>``). If neither holds it, one
error says what to download and where to put it. ``pretrained_path=`` skips the lookup.

Loading itself is open_clip's: ``create_model_and_transforms(ARCH, pretrained=<file>)`` and
``get_tokenizer(ARCH)``, inside :func:`~fgkd.teachers.clip.hub_offline`. OpenAI's own files
(``ViT-B-32.pt``, ``ViT-B-16.pt``, ``ViT-L-14.pt`` as OpenAI distributes them into
``~/.cache/clip``) are TorchScript archives, which open_clip's checkpoint loader refuses
(``weights_only``): they go through ``open_clip.load_openai_model``, which rebuilds the model from
the archive's state dict, as ``open_clip.create_model(ARCH, pretrained="openai")`` does.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import open_clip
from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

from fgkd.teachers.clip import LEAD_TEMPERATURE, ClipTeacher, hub_offline, register_embedded_configs

# open_clip's default folder for weights fetched by URL (pretrained.download_pretrained_from_url).
OPEN_CLIP_URL_CACHE = Path("~/.cache/clip")


class PretrainedWeightsMissing(FileNotFoundError):
    """The weights of a pretrained teacher are not in the local cache."""


def parse_pretrained_name(name: str) -> tuple[str, str]:
    """``"ViT-B-16/openai"`` -> ``("ViT-B-16", "openai")``, after checking open_clip knows the architecture."""
    arch, sep, tag = name.partition("/")
    if not sep or not arch or not tag or "/" in tag:
        raise ValueError(
            f"pretrained teacher name {name!r} must be written ARCH/TAG, e.g. 'ViT-B-16/openai' "
            f"(open_clip.list_pretrained() lists them)"
        )
    register_embedded_configs()
    if arch not in open_clip.list_models():
        raise ValueError(
            f"unknown open_clip architecture {arch!r} in {name!r}; known ones include "
            f"{', '.join(m for m in open_clip.list_models() if m.startswith(('ViT-B', 'ViT-L', 'RN50', 'embedded')))}"
        )
    return arch, tag


def _hf_candidates(hf_hub: str) -> tuple[str, list[str]]:
    """Repo id and the file names open_clip tries for an ``hf_hub`` entry (safetensors first)."""
    # open_clip's convention: 'org/repo/' means the default file, 'org/repo/file.pt' a named one.
    repo_id, filename = os.path.split(hf_hub)
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return repo_id, [HF_SAFE_WEIGHTS_NAME, filename]
    if filename.endswith((".bin", ".pth")):
        return repo_id, [filename[:-4] + ".safetensors", filename]
    return repo_id, [filename]


def resolve_checkpoint(arch: str, tag: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local file holding open_clip's ``(arch, tag)`` weights; never downloads.

    Args:
        cache_dir: the ``cache_dir`` you gave open_clip when downloading (a Hugging Face cache
            folder for hub files, a plain folder for URL files); None: the defaults
            (``$HF_HUB_CACHE`` or ``~/.cache/huggingface/hub``, and ``~/.cache/clip``).

    Raises:
        ValueError: the tag is not one open_clip knows for this architecture.
        PretrainedWeightsMissing: known, but not downloaded; the message says what to fetch.
    """
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        if arch not in open_clip.list_models():
            from fgkd.config import did_you_mean

            raise ValueError(f"unknown CLIP architecture {arch!r}{did_you_mean(arch, open_clip.list_models())}; "
                             f"known architectures: {', '.join(open_clip.list_models())}")
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ValueError(
            f"open_clip has no pretrained tag {tag!r} for {arch}; known tags: {', '.join(tags) or 'none'}. "
            f"For weights of your own pass pretrained_path='/path/to/weights.pt'"
        )
    hf_hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    looked: list[str] = []
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filenames = _hf_candidates(hf_hub)
        for filename in filenames:
            hit = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
            if isinstance(hit, str) and os.path.isfile(hit):
                return Path(hit)
        looked.append(f"Hugging Face cache {cache_dir or '$HF_HUB_CACHE (~/.cache/huggingface/hub)'} for {repo_id}/{filenames[-1]}")
    if url:
        folder = Path(cache_dir).expanduser() if cache_dir else OPEN_CLIP_URL_CACHE.expanduser()
        target = folder / os.path.basename(url)
        if target.is_file():
            return target
        looked.append(str(target))

    how = []
    if hf_hub:
        repo_id, filenames = _hf_candidates(hf_hub)
        how.append(
            f"`huggingface-cli download {repo_id} {filenames[-1]}` (hf-hub id {repo_id}; it lands in the "
            f"Hugging Face cache, or pass cache_dir= where you put it)"
        )
    if url:
        how.append(f"download {url} into {folder}/")
    raise PretrainedWeightsMissing(
        f"CLIP teacher '{arch}/{tag}' is not in the local cache and fgkd never downloads weights. "
        f"Download it once: " + ", or ".join(how) + f"; or pass pretrained_path='/path/to/file' (an "
        f"open_clip or OpenAI checkpoint for {arch}). Looked in: {'; '.join(looked)}."
    )


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """True for a TorchScript archive (``torch.jit.save``: a zip with a ``code/`` folder), such as
    OpenAI's CLIP files; False for ``torch.save`` checkpoints and safetensors files."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def _load_openai_archive(arch: str, checkpoint: Path, cfg: dict[str, Any], device: str):
    """``(model, preprocess)`` of an OpenAI TorchScript archive, checked against ``arch``."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    import warnings

    with warnings.catch_warnings():  # torch deprecates jit.load; the archive is read once, into a plain module
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=FutureWarning)
        model = open_clip.load_openai_model(str(checkpoint), precision="fp32", device=device)
    expected = open_clip.get_model_config(arch) or {}
    found = {"embed_dim": int(model.text_projection.shape[1]), "image_size": int(model.visual.image_size[0])
             if isinstance(model.visual.image_size, (tuple, list)) else int(model.visual.image_size)}
    wanted = {"embed_dim": expected.get("embed_dim"), "image_size": (expected.get("vision_cfg") or {}).get("image_size")}
    wrong = {k: (found[k], v) for k, v in wanted.items() if v is not None and found[k] != v}
    if wrong:
        details = ", ".join(f"{k} {got} (not {want})" for k, (got, want) in wrong.items())
        raise ValueError(f"{checkpoint} is an OpenAI CLIP archive of another architecture than {arch}: {details}; "
                         f"name the teacher after the file's architecture, e.g. ViT-B-16/openai for ViT-B-16.pt")
    preprocess = open_clip.image_transform(found["image_size"], is_train=False,
                                           mean=cfg.get("mean") or OPENAI_DATASET_MEAN,
                                           std=cfg.get("std") or OPENAI_DATASET_STD,
                                           interpolation=cfg.get("interpolation") or "bicubic",
                                           resize_mode=cfg.get("resize_mode") or "shortest")
    return model, preprocess


def load_pretrained_teacher(
    name: str,
    *,
    pretrained_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    quick_gelu: bool | None = None,
    device: str = "cpu",
    encode_batch_size: int = 256,
    temperature: float = LEAD_TEMPERATURE,
) -> ClipTeacher:
    """A frozen :class:`ClipTeacher` from open_clip weights on disk.

    Args:
        name: ``ARCH/TAG``; with ``pretrained_path`` the tag is only a label (unless open_clip
            knows it, in which case its preprocessing and QuickGELU setting are used).
        pretrained_path: a local checkpoint file; skips the cache lookup.
        cache_dir: where open_clip downloaded to, if not its default (see :func:`resolve_checkpoint`).
        quick_gelu: force the activation; None: the tag's setting (True for OpenAI weights).
        device: where the teacher runs.
        encode_batch_size: images / texts per forward pass.
        temperature: default T of ``teacher.probs`` (LEAD: 0.02).
    """
    arch, tag = parse_pretrained_name(name)
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if pretrained_path is not None:
        checkpoint = Path(pretrained_path).expanduser()
        if not checkpoint.is_file():
            raise FileNotFoundError(f"pretrained_path={str(pretrained_path)!r} is not a file; give the path of a checkpoint for {arch}")
    else:
        checkpoint = resolve_checkpoint(arch, tag, cache_dir)
    if quick_gelu is None:
        quick_gelu = bool(cfg.get("quick_gelu", False))
    with hub_offline():
        if is_torchscript_archive(checkpoint):  # OpenAI's files: QuickGELU is in the architecture they encode
            model, preprocess = _load_openai_archive(arch, checkpoint, cfg, device)
            quick_gelu = True
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch,
                pretrained=str(checkpoint),
                force_quick_gelu=quick_gelu,
                image_mean=cfg.get("mean"),
                image_std=cfg.get("std"),
                image_interpolation=cfg.get("interpolation"),
                image_resize_mode=cfg.get("resize_mode"),
                device=device,
            )
        tokenizer = open_clip.get_tokenizer(arch)
    provenance: dict[str, Any] = {
        "kind": "pretrained",
        "arch": arch,
        "tag": tag,
        "checkpoint": str(checkpoint),
        "quick_gelu": quick_gelu,
        # What identifies the weights for caches keyed on the teacher: file name and size (hashing
        # a 1.7 GB ViT-L file on every load would cost seconds).
        "weights": {"arch": arch, "tag": tag, "file": checkpoint.name, "bytes": checkpoint.stat().st_size},
    }
    return ClipTeacher(
        model, tokenizer, preprocess, name=name, provenance=provenance, device=device,
        batch_size=encode_batch_size, temperature=temperature,
    )
