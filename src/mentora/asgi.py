"""ASGI entry point for `uvicorn mentora.asgi:app` (settings from the environment)."""

from __future__ import annotations

from mentora.app import create_app
from mentora.heap import freeze_startup_heap

app = create_app()
# Each served process imports this module once, after which its startup objects never change.
freeze_startup_heap()
