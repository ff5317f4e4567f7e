"""Config overrides checked by name and typed from the dataclass: keyword overrides and the command line's
``--set KEY=VALUE``. Generic over frozen dataclasses; a nested config is reached with a dotted key
(``state.alert_after=5`` sets PipelineConfig.state.alert_after). `fallkd_lib.config` re-exports these.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass, replace

from fallkd_lib.errors import UsageError


def keys(cls: type) -> list[str]:
    """Every settable key of a config class; nested configs give dotted keys (state.alert_after)."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if is_dataclass(hints[f.name]):
            out += [f"{f.name}.{k}" for k in keys(hints[f.name])]
        else:
            out.append(f.name)
    return out


def _unknown(cls: type, key: str) -> UsageError:
    valid = keys(cls)
    hint = difflib.get_close_matches(key, valid, n=1) or [k for k in valid if k.endswith(f".{key}")][:1]
    did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
    return UsageError(f"unknown {cls.__name__} key {key!r}.{did_you_mean} Valid keys: {', '.join(valid)}")


def with_overrides(config: typing.Any, overrides: Mapping[str, object]) -> typing.Any:
    """A copy of config with fields replaced (checked by name; dotted keys reach nested configs)."""
    cls = type(config)
    hints = typing.get_type_hints(cls)
    direct: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in hints or (rest and not is_dataclass(hints[head])):
            raise _unknown(cls, key)
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        direct[head] = with_overrides(direct.get(head, getattr(config, head)), sub)  # type: ignore[arg-type]
    return replace(config, **direct)


def _field_type(cls: type, key: str) -> object:
    head, _, rest = key.partition(".")
    hints = typing.get_type_hints(cls)
    if head not in hints:
        raise _unknown(cls, key)
    if rest:
        if not is_dataclass(hints[head]):
            raise _unknown(cls, key)
        return _field_type(hints[head], rest)
    if is_dataclass(hints[head]):
        raise _unknown(cls, key)
    return hints[head]


def convert(text: str, kind: object, key: str) -> object:
    """A --set value converted to a field's type (bool, int, float, str, X | None, tuple of numbers)."""
    text = text.strip()
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null", ""):
            return None
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if typing.get_origin(kind) is tuple:
            return tuple(args[0](part) for part in text.split(","))
    except ValueError:
        name = getattr(kind, "__name__", str(kind))
        example = "0.7,0.15,0.15" if typing.get_origin(kind) is tuple else {"bool": "true"}.get(name, "5")
        raise UsageError(f"--set {key}={text}: expected {name} (e.g. {key}={example})") from None
    return text


def parse_overrides(cls: type, items: Sequence[str]) -> dict[str, object]:
    """--set KEY=VALUE strings -> {key: typed value} for a config class (keys checked, values converted)."""
    overrides: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set takes KEY=VALUE (e.g. --set epochs=5), got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        overrides[key] = convert(value, _field_type(cls, key), key)
    return overrides
