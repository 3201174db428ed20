"""Import boundaries: application code never imports the emulator."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "mentora"
ALLOWED = {"emulator", "cli"}  # the emulator itself, and the CLI that serves it in dev


def test_app_code_never_imports_the_emulator() -> None:
    """No module outside mentora.emulator/ and mentora.cli/ imports mentora.emulator."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] in ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.startswith("mentora.emulator") for name in names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
