"""Structured logs (structlog), every line passed through `mentora.redaction` (L02-L04)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mentora.redaction import AccessLineFilter, RedactingFilter, redact


def configure_logging(*, fmt: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger once; JSON in production."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Our middleware writes the access line without the query string (L03).
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.disabled = True
    if not any(isinstance(f, AccessLineFilter) for f in uvicorn_access.filters):
        uvicorn_access.addFilter(AccessLineFilter())
    logging.getLogger("httpx").setLevel("WARNING")
    logging.getLogger("httpcore").setLevel("WARNING")
