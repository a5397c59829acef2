"""Config files: a YAML preset (or the defaults) with `section.key=value` overrides, built into the
typed tree of seqgan.config, validated, and dumped back to YAML."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from seqgan.config import AUTO, Config, ConfigError, ConfigFileError, Size, to_dict
from seqgan.errors import BadFileError
from seqgan.files import read_text, short
from seqgan.validation import validate


def _coerce(value, hint, key: str):
    """Check `value` against a type hint; ints are accepted where floats are expected, bools
    only where bools are (YAML reads `true` as a bool, which Python counts as an int)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if hint == Size:
            return _coerce_size(value, key)
        return _coerce(value, inner[0], key)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of {item.__name__}, got {short(value)}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        return _to_float(value, key)
    if isinstance(value, bool) != (hint is bool) or not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {short(value)}")
    return value


def _to_float(value: int | str, key: str) -> float:
    """An int, or a string YAML 1.1 did not read as a float (1e-3: no dot), as a float."""
    try:
        return float(value)
    except OverflowError:  # an int past 1e308
        raise ConfigError(f"{key}: {short(value)} is too large for a float") from None
    except ValueError:
        raise ConfigError(f"{key}: expected float, got {short(value)}") from None


def _coerce_size(value, key: str):
    if value == AUTO or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected a positive int or {AUTO!r}, got {value!r}")


def _build(cls, raw: dict, prefix: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {short(raw)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names, key=str)  # YAML keys may be numbers or null
    if unknown:
        raise ConfigError(f"unknown key {prefix}{str(unknown[0])[:60]}; known keys: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def _set_override(raw: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r}: expected section.key=value")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {assignment!r}: {part} is not a section")
    node[parts[-1]] = _parse_yaml(text, f"override {assignment!r}")  # 3 -> int, 0.5 -> float, null -> None


MAX_CONFIG_BYTES = 1 << 20  # a config is a few kilobytes; a bigger file is not one


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that names a key twice (it would keep the last one
    without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue  # PyYAML itself refuses an unhashable key, with its own message
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {short(key)}",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)


def _parse_yaml(text: str, where: str, error_type: type[ConfigError] = ConfigError):
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: plain data only
    except (yaml.YAMLError, ValueError) as error:  # ValueError: a tagged value that does not convert
        raise error_type(f"{where} is not valid YAML: {' '.join(str(error).split())[:300]}") from None
    except RecursionError:  # PyYAML recurses once per nesting level
        raise error_type(f"{where} is nested too deeply to be a config") from None


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Read a YAML preset (or the defaults) and apply `section.key=value` overrides. Errors name
    the key and value, and the file when there is one (a ConfigFileError when the file alone is
    at fault: it cannot be read, or it is refused without overrides)."""
    raw = _read_config_file(Path(path)) if path is not None else {}
    for assignment in overrides:
        _set_override(raw, assignment)
    try:
        config = _build(Config, raw, "")
        validate(config)
    except ConfigError as error:
        if path is None:
            raise
        if overrides:
            raise ConfigError(f"config file {str(path)!r} with --set overrides: {error}") from None
        raise ConfigFileError(f"config file {str(path)!r}: {error}") from None
    return config


def _read_config_file(path: Path) -> dict:
    size = path.stat().st_size if path.is_file() else 0  # anything else: read_text names it
    if size > MAX_CONFIG_BYTES:  # checked before reading: a huge file is not read into memory
        raise ConfigFileError(f"config file {str(path)!r} is {size} bytes, more than a config can be "
                              f"(at most {MAX_CONFIG_BYTES}): is it the right file?")
    try:
        text = read_text(path, "config file")
    except BadFileError as error:  # missing, a folder, not UTF-8, ...
        raise ConfigFileError(str(error)) from None
    raw = _parse_yaml(text, f"config file {str(path)!r}", ConfigFileError) or {}
    if not isinstance(raw, dict):
        raise ConfigFileError(f"config file {str(path)!r}: expected a mapping of sections (model:, train:, ...) "
                              f"at the top level, got a {type(raw).__name__}")
    return raw


def dump_config(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
