"""One base for every typed, frozen configuration in fgkd: run configs, recipes, teacher configs.

A config is a frozen dataclass deriving from :class:`Config`. Its field annotations are its types:
``__post_init__`` checks every value once with :func:`check_type` (the one type checker of fgkd),
then calls the subclass's ``validate()`` for ranges and cross-field rules, which uses
:func:`check`. ``from_dict`` rejects unknown keys with a did-you-mean; every error is a
:class:`ConfigError` naming the config, the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Iterable, Mapping


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the field, the value and what is allowed
    (anything shaped like an API key in it is masked: configs hold variable names, never keys)."""

    def __init__(self, message: str = "") -> None:
        from fgkd.secrets import mask

        super().__init__(mask(message))


def type_name(tp: Any) -> str:
    """``int``, ``tuple[int, ...]``, ``str | None``: how messages name an annotation."""
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_type(owner: str, key: str, value: Any, tp: Any) -> Any:
    """``value`` checked against annotation ``tp`` and returned in its canonical form.

    Handles ``int``, ``float``, ``bool``, ``str``, ``dict``, ``tuple[X, ...]`` and ``X | None``.
    Ints are accepted for floats; lists for tuples. Bools are never accepted as numbers (YAML's
    ``true`` for an epoch count is a typo, not a 1).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for option in inner[:-1]:  # ``bool | str``: the first type that takes the value
            try:
                return check_type(owner, key, value, option)
            except ConfigError:
                pass
        try:
            return check_type(owner, key, value, inner[-1])
        except ConfigError:
            raise ConfigError(f"{owner}.{key} must be {type_name(tp)}, got {value!r} ({type(value).__name__})") from None
    bad = ConfigError(f"{owner}.{key} must be {type_name(tp)}, got {value!r} ({type(value).__name__})")
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
        return tuple(check_type(owner, f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    raise TypeError(f"{owner}.{key}: unsupported annotation {tp!r}")  # a bug in the config class


def check(cond: bool, owner: str, key: str, value: Any, allowed: str) -> None:
    """Raise :class:`ConfigError` ``"<owner>.<key>=<value> is invalid: <allowed>"`` unless ``cond``."""
    if not cond:
        raise ConfigError(f"{owner}.{key}={value!r} is invalid: {allowed}")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'epochs'?)"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_keys_error(owner: str, unknown: Iterable[str], allowed: Iterable[str]) -> ConfigError:
    allowed = list(allowed)
    names = ", ".join(f"{k!r}{did_you_mean(k, allowed)}" for k in sorted(unknown))
    return ConfigError(f"{owner}: unknown key(s) {names}; allowed keys: {', '.join(allowed)}")


class Config:
    """Shared behaviour of frozen dataclass configs: type checks, ``from_dict``/``to_dict``/``replace``."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = check_type(type(self).__name__, f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Ranges and cross-field rules (subclasses); raise :class:`ConfigError` via :func:`check`."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a plain dict (a params file, a JSON/YAML config); unknown keys are an error."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{cls.__name__}.from_dict expects a dict, got {type(d).__name__}")
        unknown = set(d) - set(cls.field_names())
        if unknown:
            raise unknown_keys_error(cls.__name__, unknown, cls.field_names())
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
        unknown = set(changes) - set(self.field_names())
        if unknown:
            raise unknown_keys_error(type(self).__name__, unknown, self.field_names())
        return dataclasses.replace(self, **changes)
