"""Import boundaries: application code never imports the emulator, in any spelling, and the
unit tests (tests/unit) run without the app stack or the heavy pytest plugins."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mentora"
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


# What tests/unit must never load: the app, its services, database layer, emulator, web and
# CLI packages, the web and database libraries under them, and the plugins kept off in
# pyproject.toml's addopts. Any of them makes a one-file unit run cost seconds of CPU again.
UNIT_FORBIDDEN_MODULES = (
    "mentora.app",
    "mentora.asgi",
    "mentora.cli",
    "mentora.db",
    "mentora.emulator",
    "mentora.services",
    "mentora.web",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "schemathesis",
    "respx",
    "time_machine",
)
# Plugins by the names pytest registers them under (anyio the library comes with httpx; its
# pytest plugin is what stays off).
UNIT_FORBIDDEN_PLUGINS = (
    "hypothesispytest",
    "schemathesis",
    "time_machine",
    "respx",
    "anyio",
    "platformdirs",
)

# Runs tests/unit in a fresh interpreter and reports its exit status, every module it loaded,
# and every pytest plugin it registered, as one JSON line after pytest's own output.
UNIT_PROBE = """
import json, sys
import pytest

class Report:
    def pytest_sessionfinish(self, session):
        self.plugins = [
            name
            for name, plugin in session.config.pluginmanager.list_name_plugin()
            if plugin is not None  # a blocked plugin is listed with None
        ]

report = Report()
code = pytest.main(["-q", "-p", "no:cacheprovider", "--basetemp", sys.argv[1], "tests/unit"],
                   plugins=[report])
print(json.dumps({"exit": int(code), "modules": sorted(sys.modules), "plugins": report.plugins}))
"""


def forbidden(names: list[str], rule: tuple[str, ...]) -> list[str]:
    """The names that are, or are inside, one the rule forbids (`a.b` is inside `a`)."""
    return sorted(
        name for name in names if any(name == bad or name.startswith(f"{bad}.") for bad in rule)
    )


def test_the_unit_rule_sees_the_app_stack_and_not_its_neighbours() -> None:
    """Submodules of a forbidden package count; modules that only share a prefix do not."""
    loaded = ["mentora.app", "mentora.db.models.user", "starlette.routing", "mentora.config"]
    expected = ["mentora.app", "mentora.db.models.user", "starlette.routing"]
    assert forbidden(loaded, UNIT_FORBIDDEN_MODULES) == expected
    neighbours = ["mentora.apps_guide", "mentora.webhooks.verify", "sqlalchemy_utils"]
    assert forbidden(neighbours, UNIT_FORBIDDEN_MODULES) == []


def test_unit_tests_pass_without_the_app_stack_or_heavy_plugins(tmp_path: Path) -> None:
    """tests/unit passes alone, in a fresh interpreter that never loads the app, its database
    layer, the emulator, the web stack or the plugins kept off: no unit test needs them."""
    done = subprocess.run(  # noqa: S603 - this interpreter and our own probe, no shell
        [sys.executable, "-c", UNIT_PROBE, str(tmp_path / "basetemp")],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0, done.stdout[-3000:]
    assert "asyncio" in report["plugins"]  # the async unit tests still run under pytest-asyncio
    assert forbidden(report["modules"], UNIT_FORBIDDEN_MODULES) == []
    assert forbidden(report["plugins"], UNIT_FORBIDDEN_PLUGINS) == []
