"""``params.yaml`` read strictly, one section at a time: the core every stage loads its values through.

A stage reads only the sections it uses (``profiles.<active>.<section>``, ``variants.<name>``), each
converted into its part's frozen dataclass with the full key path in every error. Nothing here knows a
part's schema or a registry, so a stage's import closure (its ``dvc.yaml`` code deps) holds its own
config classes and no one else's: training does not depend on the metric, dataset or weights registries.

The whole file (every profile, every section, the ``pipeline:`` lists) is loaded by
:func:`replication.params.load_params`; the checks that tie parts together (a dataset, metric, baseline
or weights name exists) are :mod:`replication.params_check` (``replication params --check``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from replication.errors import UsageError
from replication.strict import ParamsError, convert, load_yaml, to_dict

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")
MIRROR_ENV = "REPLICATION_MIRROR"
# The top level of params.yaml (replication.params.Params has the same fields, plus `source`).
TOP_LEVEL_KEYS = ("profile", "mirror", "external_models", "variants", "profiles", "pipeline")


@dataclass(frozen=True)
class ParamsFile:
    """The parsed file: the active profile's name, the mirror, and the raw mapping to load sections from."""

    source: str  # the file this was read from
    profile: str  # the active profile (the file's, or an override)
    mirror: str
    data: dict = field(repr=False)  # the top-level mapping as YAML gave it (profile override applied)

    def mirror_dir(self) -> Path | None:
        return mirror_dir(self.mirror, self.source)

    def section(self, tp: type[T], key: str) -> T:
        """``profiles.<active>.<key>`` converted to ``tp`` (a dataclass or a plain type)."""
        return self._convert(tp, self.data["profiles"][self.profile], key, f"profiles.{self.profile}")

    def variant(self, tp: type[T], name: str) -> T:
        """``variants.<name>`` converted to ``tp``."""
        variants = self.data.get("variants")
        if not isinstance(variants, dict):
            raise ParamsError(f"{self.source}: variants: expected a mapping, got {type(variants).__name__}")
        if name not in variants:
            raise ParamsError(
                f"{self.source}: variants.{name}: unknown variant (known: {', '.join(map(str, variants))})"
            )
        return self._convert(tp, variants, name, "variants")

    def _convert(self, tp: Any, mapping: dict, key: str, where: str) -> Any:
        if key not in mapping:
            raise ParamsError(f"{self.source}: {where}.{key}: missing key")
        try:
            return convert(tp, mapping[key], f"{where}.{key}")
        except ParamsError as exc:
            raise ParamsError(f"{self.source}: {exc}") from None


def read_params(path: str | os.PathLike = DEFAULT_PARAMS, profile: str | None = None) -> ParamsFile:
    """Parse ``path`` (duplicate and unknown top-level keys are errors); ``profile`` overrides the active one.

    Only the structure is checked here; each section is validated when a stage loads it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "run in the project folder or pass --params FILE"
        raise ParamsError(f"{path}: parameter file not found ({hint})") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a UTF-8 text file (is it really params.yaml?)") from None
    data = load_yaml(text, str(path))  # duplicate keys are an error, not "last one wins"
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    unknown = sorted((k for k in data if k not in TOP_LEVEL_KEYS), key=str)
    if unknown:
        raise ParamsError(f"{path}: {unknown[0]}: unknown key (allowed here: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    if profile is not None:
        known = data.get("profiles")
        if isinstance(known, dict) and profile not in known:  # the flag's value, not the file: usage error
            raise UsageError(f"--profile {profile!r}: unknown profile of {path} (known: {', '.join(map(str, known))})")
        data = {**data, "profile": profile}
    for key, tp in (("profile", str), ("mirror", str), ("profiles", dict[str, Any])):
        if key not in data:
            raise ParamsError(f"{path}: {key}: missing key")
        try:
            convert(tp, data[key], key)
        except ParamsError as exc:
            raise ParamsError(f"{path}: {exc}") from None
    profiles = data["profiles"]
    if data["profile"] not in profiles:
        raise ParamsError(
            f"{path}: profile: unknown profile {data['profile']!r} (known: {', '.join(map(str, profiles))})"
        )
    if not isinstance(profiles[data["profile"]], dict):
        raise ParamsError(f"{path}: profiles.{data['profile']}: expected a mapping")
    return ParamsFile(source=str(path), profile=data["profile"], mirror=data["mirror"], data=data)


def mirror_dir(mirror: str, source: str) -> Path | None:
    """The offline mirror: ``$REPLICATION_MIRROR`` if set, else ``mirror`` relative to the params file."""
    env = os.environ.get(MIRROR_ENV)
    raw = env if env is not None else mirror
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and env is None:
        path = Path(source).resolve().parent / path
    return path


def fingerprint(*sections: object) -> str:
    """Stable sha256 of the given config sections (dataclasses or plain data)."""
    blob = json.dumps([to_dict(s) for s in sections], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
