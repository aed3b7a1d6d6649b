"""Turn a nested dict (parsed YAML) into typed dataclasses; every error names the key."""
from __future__ import annotations

import dataclasses
import types
import typing


class ConfigError(ValueError):
    pass


def build(cls, data, prefix: str = ""):
    """An instance of dataclass `cls` from `data`, checking keys and types recursively."""
    where = prefix.rstrip(".") or "the config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(f"config key '{prefix}{key}' is not known (known keys here: {sorted(fields)})")
    values = {}
    for name, field in fields.items():
        key = prefix + name
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"config key '{key}' is required")
            continue
        values[name] = convert(hints[name], data[name], key)
    return cls(**values)


def convert(kind, value, key: str):
    if dataclasses.is_dataclass(kind):
        return build(kind, value if value is not None else {}, key + ".")
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(option, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"config key '{key}': {value!r} is not a {_name(kind)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (str, bool) and isinstance(value, kind):
        return value
    raise ConfigError(f"config key '{key}': expected {_name(kind)}, got {value!r}")


def _name(kind) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
