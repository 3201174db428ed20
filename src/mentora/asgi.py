"""ASGI entry point for `uvicorn mentora.asgi:app` (settings from the environment)."""

from __future__ import annotations

from mentora.app import create_app

app = create_app()
