"""Command-line options the benchmark commands share (``--connections 1,8,64``, ``--generator``...)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from loadtests.loadgen import GeneratorUnavailable, build_c_generator

__all__ = ["GENERATORS", "add_generator_argument", "choose_generator", "comma_names", "comma_positive_ints"]

GENERATORS = ("auto", "c", "python")


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


def add_generator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generator",
        choices=GENERATORS,
        default="auto",
        help="load generator: c (one C process; built with cc and OpenSSL on first use), python "
        "(uvloop client processes), or auto (default: c when it builds, else python)",
    )


def choose_generator(choice: str, say: Callable[[str], None] = print) -> str:
    """The generator a run uses for ``--generator choice``: "c" or "python". ``auto`` falls back
    to Python (saying why) when the C one cannot be built here; ``c`` then fails."""
    if choice == "python":
        return "python"
    try:
        build_c_generator()
    except GeneratorUnavailable as exc:
        if choice == "c":
            raise SystemExit(f"--generator c: {exc}") from None
        say(f"  the C load generator is unavailable ({exc}): using the Python one")
        return "python"
    return "c"
