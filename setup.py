"""The optional C accelerator of ttlv.codec's decode loop (everything else is in pyproject.toml).

``optional=True``: a machine without a C compiler still installs the pure-Python package;
``ttlv.codec.ACCELERATED`` then says False. ``scripts/test`` sets OPENKCM_REQUIRE_SPEEDUPS=1 so
that a build that silently failed on CI fails a test instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ttlv._speedups",
            sources=["src/ttlv/_speedups.c"],  # C99; tests/unit/ttlv/test_speedups.py compiles it
            optional=True,
        )
    ]
)
