"""The served app's startup objects are frozen out of the cyclic garbage collector.

Without it, each full collection under load walked the ~145,000 objects every process holds
from startup and stalled all in-flight requests for 95-150 ms (bench.gate); see mentora.heap.
Checked in a fresh interpreter, as `uvicorn mentora.asgi:app` starts one per worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc, json
import mentora.asgi
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))
"""


def _probe(tmp_path: Path, code: str) -> dict[str, int]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "MENTORA_ENV": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path}/heap.db",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter and our own code, no shell
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_asgi_app_freezes_its_startup_heap(tmp_path: Path) -> None:
    """After `import mentora.asgi`, nearly every object is in the permanent generation."""
    counts = _probe(tmp_path, PROBE)
    assert counts["frozen"] > 20 * counts["tracked"], counts


def test_a_plain_import_of_the_app_factory_freezes_nothing(tmp_path: Path) -> None:
    """Only the serving entry point freezes: tests and tools building apps are left alone."""
    counts = _probe(
        tmp_path,
        "import gc, json\nfrom mentora.app import create_app\ncreate_app()\n"
        'print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": 0}))',
    )
    assert counts["frozen"] == 0
