"""Strict conversion of plain YAML data into frozen, typed dataclasses.

Every error names the full key path (``profiles.smoke.train_net.lr: expected float, got str '2e-4'``),
so a typo in ``params.yaml`` fails before any work starts instead of being silently ignored. Floats
must be finite: ``.nan`` and ``.inf`` are refused, naming the key.

Supported field types: ``bool``, ``int``, ``float`` (an ``int`` is accepted and converted), ``str``,
``typing.Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``,
``dict[str, X]`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from replication.errors import UserError

T = TypeVar("T")


class ParamsError(UserError, ValueError):
    """A parameter file does not match its schema. The message names the key path."""


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def convert(tp: Any, value: Any, path: str) -> Any:
    """Convert ``value`` to type ``tp`` or raise :class:`ParamsError` naming ``path``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed or type(value) is not type(allowed[allowed.index(value)]):
            raise ParamsError(f"{path}: expected one of {list(allowed)}, got {_describe(value)}")
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ParamsError(f"{path}: expected {_type_name(tp)}, got None")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return convert(option, value, path)
            except ParamsError as exc:
                errors.append(str(exc))
        raise ParamsError(
            errors[0] if len(errors) == 1 else f"{path}: expected {_type_name(tp)}, got {_describe(value)}"
        )
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, list):
            raise ParamsError(f"{path}: expected a list, got {_describe(value)}")
        return [convert(item_tp, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{path}: expected a list, got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ParamsError(f"{path}: expected a list of {len(args)} items, got {len(value)}")
        return tuple(convert(a, item, f"{path}[{i}]") for i, (a, item) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        if not isinstance(value, dict):
            raise ParamsError(f"{path}: expected a mapping, got {_describe(value)}")
        out = {}
        for key, item in value.items():
            if key_tp is str and not isinstance(key, str):
                raise ParamsError(f"{path}: keys must be strings, got {_describe(key)}")
            out[key] = convert(value_tp, item, f"{path}.{key}")
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{path}: expected bool, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{path}: expected int, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{path}: expected float, got {_describe(value)}")
        if not math.isfinite(value):  # YAML's .nan / .inf: no parameter is meaningful there
            raise ParamsError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParamsError(f"{path}: expected str, got {_describe(value)}")
        return value
    raise TypeError(f"{path}: unsupported schema type {tp!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from mapping ``data``; unknown, missing or mistyped keys are errors."""
    where = path or "<root>"
    if not isinstance(data, dict):
        raise ParamsError(f"{where}: expected a mapping, got {_describe(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # T is a dataclass
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        prefix = f"{path}." if path else ""
        raise ParamsError(f"{prefix}{unknown[0]}: unknown key (allowed here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, field in fields.items():
        key_path = f"{path}.{name}" if path else name
        if name not in data:
            if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
                continue
            raise ParamsError(f"{key_path}: missing key")
        kwargs[name] = convert(hints[name], data[name], key_path)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ParamsError:
            raise
        except ValueError as exc:
            raise ParamsError(f"{where}: {exc}") from None
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data view of a (nested) dataclass, for fingerprints and sidecars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


__all__ = ["ParamsError", "convert", "from_dict", "to_dict"]


def load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (plain YAML keeps the last one silently).

    The error names the key, its mapping's path and both line numbers.
    """
    import yaml

    class _NoDuplicates(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:  # before `<<:` merges are expanded: overriding a merged key is fine
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParamsError(
                    f"{source}: duplicate key {key!r} at lines {seen[key]} and {line} (YAML would silently keep "
                    f"the second value); remove one of them"
                )
            seen[key] = line
        return loader.construct_mapping(node, deep=deep)

    _NoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=_NoDuplicates)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise ParamsError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ParamsError(f"{source}: invalid YAML: nested too deeply to be a parameter file") from None
