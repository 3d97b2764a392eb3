"""Name registries behind params validation: which datasets, backbones, teachers, scorers and LLMs
exist, and which parameter keys hold such names.

A key's spelling says its kind (:func:`key_kind`): ``dataset``/``*_dataset``, ``backbone(s)``,
``teacher``, ``scorer``, ``llm``/``*_llm``; a plural key is a comma-separated list. Each kind's
names come from its fgkd registry, imported when validation runs (a kind whose fgkd module is not
importable is unchecked); :func:`register_names`, :func:`register_validator` and
:func:`register_key` extend them. Teachers have no list (any open_clip ``ARCH/TAG`` is valid), so
they get validators: an embedded name or ``ARCH/TAG``, and pretrained weights on disk.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from fgkd.reproduce.sets import did_you_mean

Validator = Callable[[Any, Mapping[str, Any]], "str | None"]
"""``validator(value, all_params) -> None`` if fine, else a message "<problem>. Fix: <fix>" or "<problem>"."""
NameSource = Callable[[], Iterable[str]]


def _datasets() -> list[str]:
    from fgkd.data.registry import list_datasets

    return list_datasets()


def _backbones() -> list[str]:
    from fgkd.models.backbones import list_backbones

    return list_backbones()


def _scorers() -> list[str]:
    from fgkd.scorers import list_scorers

    return list_scorers()


def _detection_datasets() -> list[str]:
    from fgkd.data.detection import DETECTION_DATASETS

    return list(DETECTION_DATASETS)


def _llms() -> list[str]:
    from fgkd.llm import list_llms

    return list_llms()


KINDS = ("dataset", "backbone", "teacher", "scorer", "llm")
# Imported when validation runs. Teachers: any open_clip "ARCH/TAG" is valid, so they get
# validators (below) instead of a list.
_NAME_SOURCES: dict[str, list[NameSource]] = {
    "dataset": [_datasets], "backbone": [_backbones], "scorer": [_scorers], "llm": [_llms],
    "detection_dataset": [_detection_datasets],  # MaKD Table 7: coco or world scenes (fgkd.data.detection)
}
_VALIDATORS: dict[str, list[tuple[Validator, bool]]] = {}  # kind -> [(validator, checks_files)]
_KEY_KINDS: dict[str, str] = {}


def register_names(kind: str, source: NameSource | Iterable[str]) -> None:
    """Add allowed names for ``kind`` (``"dataset"``, ``"backbone"``...): a callable returning names
    (called when validation runs) or a fixed iterable of names."""
    if isinstance(source, str):
        raise TypeError(f"register_names({kind!r}, {source!r}): pass a callable returning names or an "
                        "iterable of names, not a string")
    if callable(source):
        _NAME_SOURCES.setdefault(kind, []).append(source)
    else:
        names = tuple(source)
        _NAME_SOURCES.setdefault(kind, []).append(lambda: names)


def register_validator(kind: str, validator: Validator, *, checks_files: bool = False) -> None:
    """Add a value check for ``kind``, called as ``validator(value, params)`` for every key of that
    kind (after the name check passed). Return None when fine, else the problem (optionally
    followed by ``". Fix: ..."``). Use it for checks beyond names, e.g. teacher weights on disk
    (then pass ``checks_files=True``: it is skipped when validating with ``check_files=False``)."""
    _VALIDATORS.setdefault(kind, []).append((validator, checks_files))


def validators(kind: str) -> list[tuple[Validator, bool]]:
    """The ``(validator, checks_files)`` pairs registered for ``kind``."""
    return list(_VALIDATORS.get(kind, []))


def register_key(key: str, kind: str) -> None:
    """Declare that parameter ``key`` holds a name of ``kind`` when its spelling does not say so."""
    _KEY_KINDS[key] = kind


def key_kind(key: str) -> tuple[str | None, bool]:
    """``(kind, plural)`` for a parameter name: ``"dataset"`` and ``"pretrain_dataset"`` are
    datasets, ``"backbones"`` is a comma-separated list of backbones, ``"seed"`` is ``(None, False)``."""
    if key in _KEY_KINDS:
        return _KEY_KINDS[key], False
    for kind in sorted(set(KINDS) | set(_NAME_SOURCES) | set(_VALIDATORS), key=len, reverse=True):
        for plural, suffix in ((False, kind), (True, kind + "s")):
            if key == suffix or key.endswith("_" + suffix):
                return kind, plural
    return None, False


def known_names(kind: str) -> list[str] | None:
    """All names registered for ``kind``; None when no source is available (the kind is unchecked:
    its fgkd module is not importable)."""
    names: list[str] = []
    any_source = False
    for source in _NAME_SOURCES.get(kind, []):
        try:
            found = list(source())
        except ModuleNotFoundError as error:
            if (error.name or "").startswith("fgkd."):  # that part of fgkd is not there (yet)
                continue
            raise
        any_source = True
        names.extend(str(n) for n in found)
    return sorted(set(names)) if any_source else None


def _optional_import(module_name: str) -> Any | None:
    """The module, or None if it does not exist (yet); errors inside an existing module propagate."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            return None
        raise


def _teacher_name(name: Any, params: Mapping[str, Any]) -> str | None:
    """An embedded teacher (``embedded-M``) or an open_clip ``ARCH/TAG`` (``ViT-B-16/openai``)."""
    embedded = _optional_import("fgkd.teachers.embedded")
    if embedded is None:
        return None
    names = tuple(getattr(embedded, "EMBEDDED_TEACHERS", ()))
    arch, _, tag = str(name).partition("/")
    if name in names or (arch and tag):
        return None
    return (f"unknown teacher {name!r}{did_you_mean(str(name), names)}. Fix: use one of {', '.join(names)} "
            "(trained by fgkd) or an open_clip pretrained name ARCH/TAG such as 'ViT-B-16/openai'")


def _teacher_weights(name: Any, params: Mapping[str, Any]) -> str | None:
    """Pretrained CLIP weights must be on disk (fgkd never downloads them)."""
    arch, _, tag = str(name).partition("/")
    if not (arch and tag) or params.get("pretrained_path"):
        return None
    pretrained = _optional_import("fgkd.teachers.pretrained")
    if pretrained is None:
        return None
    try:
        pretrained.resolve_checkpoint(arch, tag)
    except (ValueError, FileNotFoundError) as error:
        return f"teacher {name!r}: {error}. Fix: put the weights where the message says, or pick another teacher"
    return None


def _detection_data(name: Any, params: Mapping[str, Any]) -> str | None:
    """COCO must be unpacked before a detection notebook starts (fgkd never downloads it)."""
    if name != "coco":
        return None
    from fgkd.data.detection import check_coco
    from fgkd.data.registry import DatasetNotFoundError

    folder = params.get("data_root")  # the folder holding one sub-folder per dataset
    try:
        check_coco(Path(str(folder)).expanduser() / "coco" if folder else None)
    except DatasetNotFoundError as error:
        return f"{error.problem} (at {error.root}). Fix: unpack COCO 2017 there ({error.source}) or set data_root"
    return None


def _backbone_weights(name: Any, params: Mapping[str, Any]) -> str | None:
    """With ``pretrained: true`` the backbone's ImageNet weights must be in torch's hub cache."""
    if params.get("pretrained") is not True:
        return None
    backbones = _optional_import("fgkd.models.backbones")
    return None if backbones is None else backbones.imagenet_weights_problem(str(name))


def _vlm_on_disk(name: Any, params: Mapping[str, Any]) -> str | None:
    """The ``vlm`` scorer's model (``scorer_model``) must be a local folder or in the Hugging Face
    cache, or be an embedded MLLM (``embedded-vlm-S``), which fgkd trains before the notebooks."""
    model_id = str(params.get("scorer_model") or "")
    if name != "vlm" or not model_id or Path(model_id).expanduser().is_dir():
        return None
    from fgkd.teachers.embedded_vlm import is_embedded_vlm

    if is_embedded_vlm(model_id):
        return None
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return None
    return (f"the vlm scorer's model {model_id!r} is neither a local folder nor in the Hugging Face cache "
            f"(fgkd loads it offline). Fix: `hf download {model_id}` once, or set scorer_model to a local folder")


def _llm_key(name: Any, params: Mapping[str, Any], key: str = "llm") -> str | None:
    """An ``openai`` LLM reads its API key from an environment variable, which must be set."""
    if name != "openai":
        return None
    import os

    prefix = key[: -len("llm")]
    env = next((str(params[k]) for k in (f"{prefix}llm_key_env", f"{prefix}llm_api_key_env", f"{prefix}api_key_env")
                if params.get(k)), "OPENAI_API_KEY")
    if os.environ.get(env):
        return None
    return (f"the openai LLM ({key}) reads its API key from ${env}, which is not set. Fix: export {env}=... "
            f"before fgkd reproduce (the key never lands in params, reports or caches), or use llm: file / template")


register_validator("detection_dataset", _detection_data, checks_files=True)
register_validator("backbone", _backbone_weights, checks_files=True)
register_validator("scorer", _vlm_on_disk, checks_files=True)
register_validator("llm", _llm_key, checks_files=True)
register_validator("teacher", _teacher_name)
register_validator("teacher", _teacher_weights, checks_files=True)
