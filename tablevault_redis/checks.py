"""Checks of numeric arguments and on/off settings, so a bad one is refused with a
ValidationError naming it before anything is sent to Redis (a NaN timeout would wait
forever, a string one fail deep inside, an index past 64 bits come back as a raw
server error)."""

from __future__ import annotations

import math
import os

from .errors import ValidationError

# Indexes and positions must be exact in a Lua number (a double) and in Redis's
# 64-bit integers.
MAX_INDEX = 2**53 - 1


def seconds(value: object, what: str, *, positive: bool = False) -> float:
    """``value`` as seconds: a finite int or float, >= 0 (> 0 with ``positive``).
    Strings, bools, NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} must be seconds, got {value!r}: it needs a number")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValidationError(f"{what} must be {bound} seconds, got {value!r}: a finite number")
    return number


def index(value: object, what: str) -> int:
    """``value`` as an index or position: an int (not a bool) within +-MAX_INDEX."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be an integer, got {value!r}")
    if abs(value) > MAX_INDEX:
        raise ValidationError(f"{what} is out of range (|{what}| <= 2**53 - 1), got {value}")
    return value


def switch(value: object, what: str, env: str, default: bool) -> bool:
    """An on/off setting: ``value`` (True, False or None), else the environment
    variable ``env`` (1/0, true/false, yes/no, on/off), else ``default``."""
    if value is not None:
        if not isinstance(value, bool):
            raise ValidationError(f"{what} must be True, False or None, got {value!r}")
        return value
    raw = os.environ.get(env, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return raw in ("1", "true", "yes", "on")
    raise ValidationError(f"{env}={raw!r}: use 1 or 0")
