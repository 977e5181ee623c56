"""Record values to JSON text: what ``append_record`` stores and how.

A record is stored as one JSON object per list entry, readable with ``redis-cli
LRANGE``. Besides JSON's own values, the values an ML loop logs are accepted:

- NaN and the infinities, stored as the tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` (Python's ``json`` extension: ``json.loads`` reads them back as
  floats; strict JSON parsers such as ``jq`` refuse them);
- numpy, PyTorch, JAX and other scalars with ``.item()`` (stored as the plain
  number, bool or string);
- arrays with ``.tolist()`` (numpy arrays, tensors), or that convert to one through
  ``__array__()``, stored as nested lists, up to
  :data:`MAX_ARRAY_ELEMENTS` elements each: a larger array belongs in a file, with
  its path in the record.

What JSON would silently change is refused: non-string keys (``{1: 2}`` would come
back as ``{"1": 2}``) and tuples (would come back as lists).

Records and descriptions have limits (:class:`Limits`), so that one runaway value
cannot fill the server's memory or a reader's: a record's JSON is at most
``max_record_bytes`` (default 4 MiB), a description's at most
``max_description_bytes`` (default 1 MiB), and values nest at most ``max_depth``
levels (default 64). Each can be changed through its ``TABLEVAULT_MAX_*``
environment variable, or per client by assigning ``client.limits``. A value past a
limit is a ValidationError naming the limit, and nothing is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any

from .errors import ValidationError

MAX_ARRAY_ELEMENTS = 10_000
_PLAIN = (str, int, float, bool, type(None))
_MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Size and nesting limits of what a client writes (see the module docstring)."""

    max_record_bytes: int = 4 * _MiB  # TABLEVAULT_MAX_RECORD_BYTES
    max_description_bytes: int = 1 * _MiB  # TABLEVAULT_MAX_DESCRIPTION_BYTES
    max_depth: int = 64  # TABLEVAULT_MAX_DEPTH: nesting levels of lists and dicts

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(f"{f.name} must be a positive integer, got {value!r}")

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, overridden by ``TABLEVAULT_MAX_RECORD_BYTES``,
        ``TABLEVAULT_MAX_DESCRIPTION_BYTES`` and ``TABLEVAULT_MAX_DEPTH``."""
        values: dict[str, int] = {}
        for f in fields(cls):
            env = "TABLEVAULT_" + f.name.upper()
            raw = os.environ.get(env, "").strip()
            if raw:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ValidationError(f"{env} must be an integer, got {raw!r}") from None
        return cls(**values)


def record_text(name: str, record: dict[str, Any], limits: Limits | None = None) -> str:
    """The JSON text of ``record`` (a dict already checked for its column names)."""
    limits = limits or Limits()
    plain = {
        key: to_plain(name, value, f"record[{key!r}]", 1, limits.max_depth)
        for key, value in record.items()
    }
    try:
        text = json.dumps(plain, allow_nan=True, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
        raise ValidationError(f"record for list {name!r} is not JSON-serialisable: {e}") from None
    if size > limits.max_record_bytes:
        raise ValidationError(
            f"record for list {name!r} is {size} bytes of JSON; the limit is "
            f"max_record_bytes={limits.max_record_bytes} (TABLEVAULT_MAX_RECORD_BYTES): "
            "nothing was written"
        )
    return text


def check_description_size(item: str, text: str, limits: Limits) -> None:
    """ValidationError when a description's JSON ``text`` is past the limit."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_description_bytes:
        raise ValidationError(
            f"description of {item!r} is {size} bytes of JSON; the limit is "
            f"max_description_bytes={limits.max_description_bytes} "
            "(TABLEVAULT_MAX_DESCRIPTION_BYTES): nothing was written"
        )


def to_plain(name: str, value: object, where: str, depth: int = 1, max_depth: int = 64) -> Any:
    """``value`` as plain Python JSON values, or ValidationError naming ``where``."""
    if type(value) in _PLAIN:
        return value
    if depth > max_depth:
        raise ValidationError(
            f"record for list {name!r}: {where[:80]}... nests deeper than the limit "
            f"max_depth={max_depth} (TABLEVAULT_MAX_DEPTH): nothing was written"
        )
    for plain in (str, int, float):  # subclasses (numpy.float64 is a float)
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"record for list {name!r}: {where} has a non-string key {key!r}; JSON "
                    "keys are strings"
                )
            out[key] = to_plain(name, item, f"{where}[{key!r}]", depth + 1, max_depth)
        return out
    if isinstance(value, tuple):
        raise ValidationError(
            f"record for list {name!r}: {where} is a tuple; use a list (JSON has no tuples)"
        )
    if isinstance(value, list):
        return [
            to_plain(name, item, f"{where}[{i}]", depth + 1, max_depth)
            for i, item in enumerate(value)
        ]
    return _array_or_scalar(name, value, where, depth, max_depth)


def _array_or_scalar(name: str, value: Any, where: str, depth: int, max_depth: int) -> Any:
    """numpy/torch/JAX values: arrays through ``tolist()``, scalars through ``item()``;
    other array-likes through ``__array__()`` (the numpy array they convert to)."""
    size = _size(value)
    if size is not None and size > MAX_ARRAY_ELEMENTS:
        raise ValidationError(
            f"record for list {name!r}: {where} is an array of {size} elements; the limit "
            f"is {MAX_ARRAY_ELEMENTS}: store large arrays in a file and record its path"
        )
    for method in ("tolist", "item", "__array__"):
        convert = getattr(value, method, None)
        if not callable(convert):
            continue
        try:
            converted = convert()
        except (TypeError, ValueError, RuntimeError):
            continue
        if converted is value or isinstance(converted, type(value)):
            break
        if isinstance(converted, tuple):  # tolist() of a numpy record
            converted = list(converted)
        return to_plain(name, converted, where, depth, max_depth)
    raise ValidationError(
        f"record for list {name!r}: {where} is not JSON-serialisable: a "
        f"{type(value).__name__} ({value!r:.60})"
    )


def _size(value: Any) -> int | None:
    size = getattr(value, "size", None)
    if callable(size):  # torch: numel(); size() is the shape
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def abbreviate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
