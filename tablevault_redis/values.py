"""Record values to JSON text: what ``append_record`` stores and how.

A record is stored as one JSON object per list entry, readable with ``redis-cli
LRANGE``. Besides JSON's own values, the values an ML loop logs are accepted:

- NaN and the infinities, stored as the tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` (Python's ``json`` extension: ``json.loads`` reads them back as
  floats; strict JSON parsers such as ``jq`` refuse them);
- numpy, PyTorch, JAX and other scalars with ``.item()`` (stored as the plain
  number, bool or string);
- arrays with ``.tolist()`` (numpy arrays, tensors), stored as nested lists, up to
  :data:`MAX_ARRAY_ELEMENTS` elements each: a larger array belongs in a file, with
  its path in the record.

What JSON would silently change is refused: non-string keys (``{1: 2}`` would come
back as ``{"1": 2}``) and tuples (would come back as lists).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ValidationError

MAX_ARRAY_ELEMENTS = 10_000
_PLAIN = (str, int, float, bool, type(None))


def record_text(name: str, record: dict[str, Any]) -> str:
    """The JSON text of ``record`` (a dict already checked for its column names)."""
    plain = {key: to_plain(name, value, f"record[{key!r}]") for key, value in record.items()}
    try:
        text = json.dumps(plain, allow_nan=True, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
        raise ValidationError(f"record for list {name!r} is not JSON-serialisable: {e}") from None
    return text


def to_plain(name: str, value: object, where: str) -> Any:
    """``value`` as plain Python JSON values, or ValidationError naming ``where``."""
    if type(value) in _PLAIN:
        return value
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
            out[key] = to_plain(name, item, f"{where}[{key!r}]")
        return out
    if isinstance(value, tuple):
        raise ValidationError(
            f"record for list {name!r}: {where} is a tuple; use a list (JSON has no tuples)"
        )
    if isinstance(value, list):
        return [to_plain(name, item, f"{where}[{i}]") for i, item in enumerate(value)]
    return _array_or_scalar(name, value, where)


def _array_or_scalar(name: str, value: Any, where: str) -> Any:
    """numpy/torch/JAX values: arrays through ``tolist()``, scalars through ``item()``."""
    size = _size(value)
    if size is not None and size > MAX_ARRAY_ELEMENTS:
        raise ValidationError(
            f"record for list {name!r}: {where} is an array of {size} elements; the limit "
            f"is {MAX_ARRAY_ELEMENTS}: store large arrays in a file and record its path"
        )
    for method in ("tolist", "item"):
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
        return to_plain(name, converted, where)
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
