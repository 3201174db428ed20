"""Import boundaries: application code never imports the emulator, in any spelling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mentora"
ALLOWED = {"emulator", "cli"}  # the emulator itself, and the CLI that serves it in dev
EMULATOR = "mentora.emulator"
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def _package_of(relative: Path) -> list[str]:
    """The dotted package a module under src/mentora belongs to, as a list of names."""
    return ["mentora", *relative.parts[:-1]]


def imported_modules(source: str, relative: Path) -> list[str]:
    """Every module a source imports: plain, `from x import y` (as x and x.y), relative
    imports resolved against the module's package, and literal `importlib.import_module`
    or `__import__` arguments."""
    package = _package_of(relative)
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DYNAMIC_IMPORTERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append(first.value)
    return found


def _is_emulator(module: str) -> bool:
    return module == EMULATOR or module.startswith(f"{EMULATOR}.")


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("import mentora.emulator", "access/policy.py"),
        ("from mentora.emulator.app import x", "access/policy.py"),
        ("from mentora import emulator", "access/policy.py"),
        ("from .. import emulator", "access/policy.py"),
        ("from ..emulator import Emulator", "access/policy.py"),
        ("from . import emulator", "app.py"),
        ("from .emulator import DEMO", "__init__.py"),
        ("import importlib\nimportlib.import_module('mentora.emulator')", "app.py"),
        ("from importlib import import_module\nimport_module('mentora.emulator.app')", "app.py"),
        ("__import__('mentora.emulator')", "app.py"),
    ],
)
def test_every_spelling_of_an_emulator_import_is_seen(source: str, relative: str) -> None:
    """The checker recognises absolute, from-package, relative and dynamic imports."""
    assert any(_is_emulator(m) for m in imported_modules(source, Path(relative)))


@pytest.mark.parametrize(
    ("source", "relative"),
    [
        ("from mentora import emulators_guide", "app.py"),
        ("from . import policy", "access/gate.py"),
        ("from ..whop import client", "access/policy.py"),
    ],
)
def test_neighbouring_imports_are_not_mistaken_for_the_emulator(source: str, relative: str) -> None:
    """Names that merely start like the emulator, and sibling packages, are not flagged."""
    assert not any(_is_emulator(m) for m in imported_modules(source, Path(relative)))


def test_app_code_never_imports_the_emulator() -> None:
    """No module outside mentora.emulator/ and mentora.cli/ imports mentora.emulator."""
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if relative.parts[0] in ALLOWED:
            continue
        if any(_is_emulator(m) for m in imported_modules(path.read_text(), relative)):
            offenders.append(str(relative))
    assert offenders == []
