"""Loading a VLM offline: ``(model, processor)`` through the transformers Auto classes, device and dtype."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from fgkd.teachers.vlm.config import VlmConfig, remote_code_message


class ModelNotAvailableError(FileNotFoundError):
    """A model asked for offline is not in the local Hugging Face cache."""


def hf_cache_dir() -> str:
    """Where ``huggingface_hub`` keeps downloaded models (``$HF_HUB_CACHE``, ``$HF_HOME/hub``...)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _missing_model_message(model_id: str, cause: BaseException) -> str:
    return (
        f"VLM {model_id!r} is not available offline: fgkd loads models with local_files_only=True and it "
        f"is not in the Hugging Face cache ({hf_cache_dir()}) nor a local folder.\n"
        f"Download it once with:  hf download {model_id}   (older huggingface_hub: "
        f"huggingface-cli download {model_id})\n"
        "or set HF_HOME / HF_HUB_CACHE to the cache that holds it, or pass model_id=<local folder>. "
        f"(transformers said: {str(cause).splitlines()[0] if str(cause) else type(cause).__name__})"
    )


def model_source(model_id: str) -> str:
    """Where ``model_id``'s files are: an embedded MLLM's name (``embedded-vlm-S``,
    ``embedded-vlm-L``) is its folder in fgkd's cache, trained first if it is not there
    (:mod:`fgkd.teachers.embedded_vlm`); any other id is returned as it is (a Hugging Face id or a
    local folder)."""
    from fgkd.teachers.embedded_vlm import embedded_vlm_config, embedded_vlm_folder, is_embedded_vlm

    if is_embedded_vlm(model_id):
        return str(embedded_vlm_folder(embedded_vlm_config(model_id)))
    return model_id


def resolve_device_dtype(device: str | None, dtype: str):
    """``(torch.device, torch.dtype)`` from the config strings (auto: bf16 on CUDA, fp32 on CPU)."""
    dev = torch.device(device if device else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype == "auto":
        return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    return dev, getattr(torch, dtype)


def load_vlm(config: VlmConfig):
    """Load ``(model, processor)`` with the transformers Auto classes, eval mode, on the device.

    Raises:
        ModelNotAvailableError: the model is neither cached nor a local folder (offline loading).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device, dtype = resolve_device_dtype(config.device, config.dtype)
    source = model_source(config.model_id)
    common = dict(
        local_files_only=config.local_files_only,
        trust_remote_code=config.trust_remote_code,
        revision=config.revision,
    )
    extra = {}
    if config.attn_implementation:
        extra["attn_implementation"] = config.attn_implementation
    if config.quantization:
        extra["quantization_config"] = _bitsandbytes(config.quantization, dtype)
    try:
        processor = AutoProcessor.from_pretrained(source, **common)
        # Loading straight onto one accelerator avoids a full copy of the weights in host memory;
        # device_map="auto" shards a model too large for one GPU over all of them.
        placement = ({"device_map": config.device_map} if config.device_map
                     else {} if device.type == "cpu" else {"device_map": str(device)})
        model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype, **placement, **extra,
                                                            **common)
    except OSError as exc:  # transformers reports missing files / offline misses as OSError
        if config.local_files_only:
            raise ModelNotAvailableError(_missing_model_message(config.model_id, exc)) from None
        raise
    except ValueError as exc:  # a remote-code architecture the Auto classes do not know
        if "Unrecognized configuration class" not in str(exc):
            raise
        raise ValueError(remote_code_message(config.model_id) + f" (transformers said: {str(exc).splitlines()[0]})") \
            from None
    if not (config.device_map or config.quantization):  # placed (and quantised) by transformers already
        model.to(device)
    model.eval()
    return model, processor


def _bitsandbytes(quantization: str, dtype: torch.dtype):
    """transformers' ``BitsAndBytesConfig`` for 4- or 8-bit weights; a clear error without bitsandbytes."""
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"quantization={quantization!r} needs bitsandbytes: pip install bitsandbytes "
                          "(CUDA only), or leave quantization unset")
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype)
    return BitsAndBytesConfig(load_in_8bit=True)


# One (model, processor) per loading setting and process: a notebook's MaKD runs (84 in makd_main)
# each build a scorer, and reading a multi-GB model for every one of them would dominate the time.
_LOADED: dict[tuple, tuple] = {}


def loading_key(config: VlmConfig) -> tuple:
    """What decides which ``(model, processor)`` :func:`load_vlm` returns: the config's loading
    settings, not its prompt or batching ones."""
    return (config.model_id, config.revision, config.device, config.dtype, config.trust_remote_code,
            config.local_files_only, config.attn_implementation, config.quantization, config.device_map)


def load_vlm_once(config: VlmConfig):
    """:func:`load_vlm`, once per process for each :func:`loading_key`; later calls return the same
    objects (eval mode, frozen by use: scorers never train them). ``clear_loaded_vlms()`` frees them."""
    key = loading_key(config)
    if key not in _LOADED:
        _LOADED[key] = load_vlm(config)
    return _LOADED[key]


@contextmanager
def preloaded_vlm(config: VlmConfig, model, processor) -> Iterator[None]:
    """Within the block, scorers of ``config`` use this in-memory ``(model, processor)`` instead of
    loading one (a benchmark's random model of a real size: nothing on disk)."""
    key = loading_key(config)
    _LOADED[key] = (model, processor)
    try:
        yield
    finally:
        _LOADED.pop(key, None)


def clear_loaded_vlms() -> None:
    """Forget the models :func:`load_vlm_once` holds (their memory is freed when no scorer uses them)."""
    _LOADED.clear()

