"""YAML onto a tree of small frozen dataclasses, one per component, with errors that name the field.

Each component owns its config class in its own module (torchtitan / litgpt style); this module only
maps mappings onto them. Unknown keys, wrong types and out-of-range values raise ``ConfigError`` whose
message starts with the dotted path of the bad field, e.g. ``quality.min_words: must be >= 0``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class UserError(Exception):
    """An error the user can fix (bad input, bad config); the CLI prints it on one line, exit 2."""


class ConfigError(UserError):
    """A config value that is unknown, of the wrong type or out of range; names the field."""


def check(condition: bool, field: str, message: str) -> None:
    """Raise ``ConfigError("field: message")`` unless ``condition`` holds (used in ``__post_init__``)."""
    if not condition:
        raise ConfigError(f"{field}: {message}")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{path}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, path)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values name their dotted path."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(f"{where}: unknown config key (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{path}.{name}" if path else name)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(f"{path}.{msg}" if path else msg) from None


def to_dict(obj: Any) -> Any:
    """The inverse of ``from_dict``: plain mappings and lists, ready for YAML or JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def load_yaml(path: str | Path, cls: type[T]) -> T:
    """Read a YAML file onto ``cls``; a missing file or bad YAML is a ``ConfigError`` naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    return from_dict(cls, data or {})


def check_finite(obj: Any) -> None:
    """Raise ``ConfigError`` naming the first float field of dataclass ``obj`` that is NaN or infinite.

    YAML reads ``.nan`` and ``.inf`` as floats, and NaN passes every ``<``/``>`` check by failing none
    that is written as a rejection, so a range check alone lets them through.
    """
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float):
            check(math.isfinite(value), f.name, f"must be a finite number, got {value}")
