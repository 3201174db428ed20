"""The layer contract (pyproject.toml, [tool.importlinter]) holds, and it would catch a back-edge.

import-linter's `lint-imports` reads the contracts from pyproject.toml and the import graph
from the `mentora` package it finds on the path. The second test runs it on a copy of src/ in
which one domain module imports the web layer, and expects the build to fail naming that edge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with `src` first on the path and the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603 - our own command, no shell
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_layer_contracts_hold_for_the_source_tree(tmp_path: Path) -> None:
    """Every import in src/mentora points down the layers, and only web/cli know HTTP."""
    result = _lint(ROOT / "src", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_edge_from_the_domain_to_web_fails_the_build(tmp_path: Path) -> None:
    """A domain module importing a FastAPI dependency module breaks the layers contract."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "mentora", copy / "mentora", ignore=shutil.ignore_patterns("__pycache__")
    )
    policy = copy / "mentora" / "access" / "policy.py"
    policy.write_text(policy.read_text() + "\nfrom mentora.web import deps as _web_deps  # noqa\n")
    result = _lint(copy, tmp_path)
    assert result.returncode != 0
    assert "mentora.access.policy -> mentora.web.deps" in result.stdout
