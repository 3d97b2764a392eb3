"""Language-model backends: LEAD's class descriptions and MaKD's aspect questions.

    >>> llm = get_llm("template", world=world, style="a")       # offline, embedded world
    >>> llm = get_llm("openai", model="gpt-4o")                 # any OpenAI-compatible endpoint
    >>> llm = get_llm("file", descriptions="descriptions.json") # committed output
    >>> llm.describe(["Red-winged Finch"], max_words=70)        # {name: description}
    >>> llm.aspect_questions(names, n_generate=100, n_select=50)  # [AspectQuestion], best first
"""

from __future__ import annotations

from typing import Any, Callable

from fgkd.llm.base import (
    MAX_WORDS_LIMIT,
    LLM,
    ChatLLM,
    LLMError,
    LLMReplyError,
    MissingAPIKeyError,
)
from fgkd.llm.perturb import remove_words, truncate_words
from fgkd.llm.questions import AspectQuestion, answer_matrix, derive_statements

_REGISTRY: dict[str, Callable[..., LLM]] = {}


def register(name: str, factory: Callable[..., LLM], *, overwrite: bool = False) -> None:
    """Make ``get_llm(name, **options)`` call ``factory(**options)``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"register: name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"an LLM backend named {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = factory


def list_llms() -> list[str]:
    """Names accepted by :func:`get_llm`."""
    return sorted(_REGISTRY)


def get_llm(name: str, **options: Any) -> LLM:
    """An LLM backend by name: ``openai``, ``template`` or ``file`` (see each for its options)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown LLM backend {name!r}; known: {', '.join(list_llms())}")
    return _REGISTRY[name](**options)


def llm_for(backend: str, style: str | None, options: dict[str, Any], dataset: Any) -> LLM:
    """The backend a run names (``llm_backend``, ``llm_style``, ``llm_options``); the template
    backend writes from the procedural world the dataset was drawn from."""
    from fgkd.config import ConfigError

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


# Imports inside the factories keep `import fgkd.llm` light (no openai, no world rendering).
def _openai(**options: Any) -> LLM:
    from fgkd.llm.openai_backend import OpenAIChatLLM

    return OpenAIChatLLM(**options)


def _template(**options: Any) -> LLM:
    from fgkd.llm.template import TemplateLLM

    return TemplateLLM(**options)


def _file(**options: Any) -> LLM:
    from fgkd.llm.file_backend import FileLLM

    return FileLLM(**options)


register("openai", _openai)
register("template", _template)
register("file", _file)

__all__ = [
    "AspectQuestion",
    "ChatLLM",
    "LLM",
    "LLMError",
    "LLMReplyError",
    "MAX_WORDS_LIMIT",
    "MissingAPIKeyError",
    "answer_matrix",
    "derive_statements",
    "get_llm",
    "list_llms",
    "llm_for",
    "register",
    "remove_words",
    "truncate_words",
]
