"""Helpers for the hardening tests: audit rows, CSRF tokens from pages, extra browsers,
a scriptable transport in front of the emulator, and captured, really-configured logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from typer.testing import CliRunner

from mentora.cli import app as cli
from mentora.cli.common import CliContext
from mentora.clock import Clock
from mentora.db.models import AuditEvent
from mentora.logging import configure_logging
from mentora.services import Services
from tests.support.env import APP_URL, TEST_ENV
from tests.support.signin import SignIn

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
SAME_ORIGIN = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"}


async def audit_rows(services: Services, kind: str | None = None) -> list[AuditEvent]:
    """Audit events, oldest first, optionally of one kind."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if kind is not None:
        query = query.where(AuditEvent.kind == kind)
    async with services.sessionmaker() as db:
        return list((await db.execute(query)).scalars())


async def csrf_token(client: httpx.AsyncClient) -> str:
    """The CSRF token the sessions page renders for the client's session."""
    page = await client.get("/account/sessions", headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    found = CSRF_INPUT.search(page.text)
    assert found is not None
    return found.group(1)


async def signed_in_browser(app: Any, emulator: Any, user_id: str) -> httpx.AsyncClient:
    """A new client with a live session for `user_id` (the caller closes it)."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=APP_URL,
        follow_redirects=False,
    )
    done = await SignIn(client, emulator).sign_in(user_id)
    assert done.status_code == 303, done.text
    return client


Rule = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class ScriptedTransport(httpx.AsyncBaseTransport):
    """Forwards to the emulator, except where a rule answers (or raises) instead; records
    every exchange so a test can read what Whop sent."""

    inner: httpx.AsyncBaseTransport
    rules: dict[str, Rule] = field(default_factory=dict)
    exchanges: list[tuple[httpx.Request, bytes]] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer from a matching rule, else from the emulator."""
        for prefix, rule in self.rules.items():
            if request.url.path.startswith(prefix):
                answer = rule(request)
                if answer is not None:
                    return answer
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.exchanges.append((request, body))
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )


@dataclass
class CapturedLogs:
    """Everything the configured loggers (structlog and stdlib) wrote during a test."""

    stream: io.StringIO
    text: str = ""

    def refresh(self) -> str:
        """Everything written so far."""
        self.text = self.stream.getvalue()
        return self.text

    def json_lines(self) -> list[dict[str, Any]]:
        """The structlog JSON lines (stdlib lines are skipped)."""
        parsed = []
        for line in self.refresh().splitlines():
            if line.startswith("{"):
                parsed.append(json.loads(line))
        return parsed


_LOGGER_NAMES = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "alembic.runtime.plugins",
)


@contextmanager
def logging_restored() -> Iterator[None]:
    """Put the process's logging setup back as it was when the block started (structlog's
    configuration, the root handlers and the third-party loggers `configure_logging` sets)."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).propagate,
            logging.getLogger(name).disabled,
            list(logging.getLogger(name).filters),
            logging.getLogger(name).level,
        )
        for name in _LOGGER_NAMES
    }
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, propagate, disabled, filters, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled
            logger.filters[:] = filters
            logger.setLevel(level)


@contextmanager
def configured_logging(fmt: str, *, serving: bool = False) -> Iterator[CapturedLogs]:
    """Run `configure_logging` for real (as a served process does with `serving`), with stderr
    pointed at a buffer while it binds its stream, then put the logging setup back as it was
    for the tests that follow."""
    with logging_restored():
        stream = io.StringIO()
        real_stderr, sys.stderr = sys.stderr, stream
        try:
            # Binds sys.stderr, i.e. our buffer.
            configure_logging(fmt=fmt, level="INFO", serving=serving)
        finally:
            sys.stderr = real_stderr
        yield CapturedLogs(stream)


async def run_cli(
    clock: Clock, database_url: str, *args: str, input: str | None = None, **env: str
) -> Any:
    """Run `mentora ARGS` through Typer's CliRunner, in a thread (the CLI runs its own event
    loop), as OS user "alice", with the test settings and `database_url` in its environment
    (plus `env`, e.g. token_encryption_keys=...) and `input` on its stdin.

    The command runs on `clock`, the test's own: a CLI reading the real clock would judge
    rows written at the test's frozen time (sessions, audit events) by another calendar."""
    environ = {**TEST_ENV, "DATABASE_URL": database_url, "USER": "alice", "LOGNAME": "alice"}
    environ.update({key.upper(): value for key, value in env.items()})
    runner = CliRunner()
    # A command configures logging for the whole process, bound to the runner's stderr, which
    # is closed when it returns: the app under test would then fail on its next log line.
    with logging_restored():
        return await asyncio.to_thread(
            runner.invoke, cli, list(args), input=input, env=environ, obj=CliContext(clock=clock)
        )
