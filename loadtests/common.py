"""Command-line value parsers the benchmark commands share (``--connections 1,8,64``...)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["comma_names", "comma_positive_ints"]


def comma_positive_ints(text: str) -> list[int]:
    """``"1,8,64"`` -> ``[1, 8, 64]``; at least one, each positive."""
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def comma_names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """A parser of ``"a,b"`` into names, each one of ``allowed``, at least one."""

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        if not names or any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(allowed)}")
        return names

    return parse
