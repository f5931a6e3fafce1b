"""The generic validating builder: a YAML mapping into a (nested) frozen dataclass, by its type hints.

Unknown keys, missing required keys and wrong types are a ConfigError naming the file and key path
(``tables.events.partitions[1].transform``), with the closest known key suggested.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, Literal, Union

from lakeloader.errors import ConfigError


def _yaml_key(f: dataclasses.Field) -> str:
    return f.name.rstrip("_")  # `from_` in Python is `from` in YAML


def build(cls: type, data: Any, key: str, src: str) -> Any:
    where = f"{src}: {key}" if key else src
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {_yaml_key(f): f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            raise ConfigError(f"{src}: {_join(key, k)}: unknown key{suggest(str(k), fields)}")
    kwargs = {}
    for yk, f in fields.items():
        if yk in data:
            kwargs[f.name] = _coerce(hints[f.name], data[yk], _join(key, yk), src)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{src}: {_join(key, yk)}: missing required key")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, src: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key, src)
    if origin is Literal:
        if value not in args:
            choices = " | ".join(map(str, args))
            raise ConfigError(f"{src}: {key}: {value!r} is not one of {choices}{suggest(str(value), args)}")
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, src)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{src}: {key}: expected a list, got {_describe(value)}")
        return [_coerce(args[0], v, f"{key}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: {key}: expected a mapping, got {_describe(value)}")
        if args and args[1] is str:
            for k, v in value.items():
                if isinstance(v, bool) or v is None or isinstance(v, (dict, list)):
                    # YAML reads true as a boolean, which str() would turn into "True" (Spark and EMR want "true").
                    hint = f'; quote it: "{str(v).lower()}"' if isinstance(v, bool) else ""
                    raise ConfigError(f"{src}: {_join(key, k)}: expected a string, got {_describe(v)}{hint}")
            return {str(k): str(v) for k, v in value.items()}
        if args and dataclasses.is_dataclass(args[1]):
            return {str(k): build(args[1], v, _join(key, k), src) for k, v in value.items()}
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ConfigError(f"{src}: {key}: expected {tp.__name__}, got {_describe(value)}")
    return value


def _join(key: str, sub: Any) -> str:
    return f"{key}.{sub}" if key else str(sub)


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def suggest(word: str, choices: Any) -> str:
    """' (did you mean X?)' for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
