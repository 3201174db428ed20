"""ASGI entry point for `uvicorn mentora.asgi:app` (settings from the environment)."""

from __future__ import annotations

from mentora.app import create_app
from mentora.config import load_settings
from mentora.heap import freeze_startup_heap
from mentora.logging import configure_logging

# Each uvicorn worker of `mentora serve --workers N` is a fresh process that only imports
# this module: it configures its own logging (format, level, redaction) like every process.
settings = load_settings()
configure_logging(fmt=settings.log_format, level=settings.log_level, serving=True)
app = create_app(settings)
# Each served process imports this module once, after which its startup objects never change.
freeze_startup_heap()
