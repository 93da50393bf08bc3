"""Argument types shared by the commands: numbers refused with a usage error when out of range."""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Callable
from typing import Any


def at_least(kind: type, low: float, *, strict: bool = False) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)``, refused when below ``low`` (or equal, if ``strict``).

    argparse turns the refusal into ``error: argument --X: ...`` and exit status 2, before any
    work starts."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if strict else '>='} {low:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


#: Counts: items, workers, rounds, budgets.
positive_int = at_least(int, 1)
#: Counts where 0 means "none" (``match --budget 0``: no render).
non_negative_int = at_least(int, 0)
#: Durations and limits in seconds.
positive_float = at_least(float, 0, strict=True)


def json_object(text: str | None) -> dict[str, Any] | None:
    """Parse a JSON object given inline or as ``@path``."""
    if not text:
        return None
    from synthmatch.errors import ParameterError

    raw = pathlib.Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParameterError(
            f"{text!r} is not a JSON object ({exc}). Hint: quote it, e.g. '{{\"sigma\": 0.1}}'"
        ) from None
    if not isinstance(value, dict):
        raise ParameterError(f"{text!r} must be a JSON object")
    return value
