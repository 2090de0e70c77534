"""argparse ``type=`` validators: a bad value is a usage error naming the flag (argparse adds it).

argparse turns an :class:`argparse.ArgumentTypeError` into ``argument --gt-size: must be a
positive integer, got '0'`` and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def nonneg_float(text: str) -> float:
    """A finite number >= 0 (tolerances)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


SEED_MAX = 2**64 - 1  # torch.Generator.manual_seed takes at most 64 bits


def seed(text: str) -> int:
    """A random seed: an integer 0 .. 2**64-1 (larger values would overflow the generator)."""
    value = _int(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**64-1, got {text!r}")
    return value


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def pixel_count(text: str) -> int:
    """A number of pixels: ``50000000``, ``50M``, ``1.5G`` or ``12000x12000``; 0 means no limit."""
    raw = text.strip().lower()
    try:
        if "x" in raw:
            w, h = raw.split("x", 1)
            value = int(w) * int(h)
        else:
            unit = raw[-1] if raw and raw[-1] in _UNITS else ""
            number = float(raw[: len(raw) - len(unit)])
            if not (0 <= number < float("inf")):
                raise ValueError
            value = int(number * _UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a pixel count (50000000, 50M, 12000x12000, 0 = none), got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


MAX_COUNT = 10_000_000


def item_count(text: str) -> int:
    """A number of items to write: 1 .. 10,000,000 (a typo of a few more digits would otherwise try to
    plan an impossible run in memory)."""
    value = positive_int(text)
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT:,}, got {text!r}")
    return value
