"""The source stays typed, linted and formatted: mypy strict, ruff check and ruff format.

These run the project's own pinned tools on the tree, so CI (which runs the whole suite) fails
on a type error, a lint finding or an unformatted file, not only on a failing test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CODE = ["src", "tests", "bench"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's tools from the project root."""
    return subprocess.run(  # noqa: S603 - our own pinned tools, no shell
        [str(BIN / command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_mypy_strict_passes_on_src() -> None:
    """`mypy` (strict, pyproject.toml) finds no error in src/."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_finds_nothing() -> None:
    """`ruff check` is clean on src, tests and bench."""
    result = _run("ruff", "check", *CODE)
    assert result.returncode == 0, result.stdout[-4000:]


def test_every_file_is_formatted() -> None:
    """`ruff format --check` would change no file."""
    result = _run("ruff", "format", "--check", *CODE)
    assert result.returncode == 0, result.stdout[-4000:]
