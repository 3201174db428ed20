"""A short run of bench/soak.py: mixed traffic over 2 app workers and 2 worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.soak import render, soak

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


def _server_errors_in_logs(log_dir: Path, limit: int = 3) -> str:
    """The first few tracebacks and error records the processes logged, to explain a failure."""
    found: list[str] = []
    for log in sorted(log_dir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Traceback") or '"level": "error"' in line:
                found.append(f"--- {log.name}:{i + 1}\n" + "\n".join(lines[i : i + 40]))
                if len(found) >= limit:
                    return "\n".join(found)
    return "\n".join(found) or "(no traceback or error record in the logs)"


def test_soak_20s_no_5xx_no_lost_or_duplicated_effects(pg_admin: str, tmp_path: Path) -> None:
    """20 s of sign-ins, gated requests, webhooks and logouts: no 5xx, every effect once."""
    result = soak(seconds=20, warmup=2, pg_admin_url=pg_admin, log_dir=tmp_path)
    print(render(result))  # the memory table is printed, not judged, on a run this short
    assert result.server_errors == 0, _server_errors_in_logs(tmp_path)
    assert result.effects.sent > 0 and result.signed_in > 0
    assert result.effects.lost == 0 and result.effects.duplicated == 0
    assert result.effects.state_mismatches == 0
    assert result.ok, result.failures
