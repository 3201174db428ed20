"""Structured logs (structlog), every line passed through `mentora.redaction` (L02-L04)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mentora.redaction import AccessLineFilter, RedactingFilter, redact


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def stdlib_formatter(fmt: str = "console") -> logging.Formatter:
    """How a third-party (stdlib) record is written: our processors, `redact` included, and
    our format. Its traceback is rendered before redaction, so a secret in an exception's
    message is scrubbed like any other text."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *_shared(),
            structlog.stdlib.add_logger_name,
            structlog.processors.format_exc_info,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            _renderer(fmt),
        ],
    )


def configure_logging(*, fmt: str = "console", level: str = "INFO", serving: bool = False) -> None:
    """Configure structlog and the stdlib root logger; JSON in production.

    Every process calls this (the `mentora serve` parent, each uvicorn worker through
    `mentora.asgi`, `mentora worker`, the CLI). Third-party lines (uvicorn, httpx) go through
    the same processors as ours, `redact` included, and come out in the same format.

    `serving`: the process serves requests with this configuration until it exits (the served
    app, `mentora.asgi`), so each module's logger is assembled once, on first use, rather than
    on every call (a webhook delivery logs several times). Anything that may configure again
    in the same process (a CLI command run by a test) must not: a cached logger would keep
    writing to the stream it was first bound to.
    """
    structlog.configure(
        processors=[*_shared(), structlog.processors.format_exc_info, redact, _renderer(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=serving,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(stdlib_formatter(fmt))
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
    # Alembic announces each of its plugins at INFO whenever a process first loads it: noise
    # before every `mentora db upgrade` (its migration lines stay).
    logging.getLogger("alembic.runtime.plugins").setLevel("WARNING")
    logging.getLogger("httpx").setLevel("WARNING")
    logging.getLogger("httpcore").setLevel("WARNING")
