"""Integration: outbox delivery through a real SMTP server (aiosmtpd), files, and failures."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from mentora.clock import as_utc
from mentora.db.models import AuditEvent, OutboxMessage
from mentora.db.uow import transaction
from mentora.outbox.delivery import deliver_due
from mentora.outbox.mailer import FileMailer, SmtpMailer
from mentora.outbox.queue import enqueue_email
from mentora.services import Services


class Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        """Start empty."""
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the message (aiosmtpd's hook name)."""
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a loopback port."""
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def _queue(services: Services, key: str = "welcome:mem_1:t1") -> None:
    async with transaction(services.sessionmaker, write=True) as db:
        added = await enqueue_email(
            db,
            dedupe_key=key,
            template="welcome",
            recipient="ann@example.test",
            context={"name": "Ann", "creator": "Demo Academy", "app_url": "https://m.test"},
            now=services.clock.now(),
        )
        again = await enqueue_email(
            db,
            dedupe_key=key,
            template="welcome",
            recipient="ann@example.test",
            context={},
            now=services.clock.now(),
        )
    assert (added, again) == (True, False)


async def _row(services: Services) -> OutboxMessage:
    async with services.sessionmaker() as db:
        return (await db.execute(select(OutboxMessage))).scalar_one()


async def test_smtp_delivery_sends_once_with_a_stable_message_id(
    services: Services, smtp: tuple[Inbox, int]
) -> None:
    """A queued welcome reaches the SMTP server once and is marked sent."""
    inbox, port = smtp
    await _queue(services)
    mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{port}")
    report = await deliver_due(services, mailer)
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    assert (await deliver_due(services, mailer)).sent == 0
    [message] = inbox.messages
    assert message["Subject"] == "Welcome to Demo Academy"
    assert message["To"] == "ann@example.test"
    assert message["Message-ID"].endswith("@mentora.test>")
    assert "Hi Ann," in message.get_payload()
    row = await _row(services)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_unreachable_smtp_backs_off_then_dead_letters(services: Services) -> None:
    """A server that never answers: retries with growing delays, then `dead` after
    OUTBOX_MAX_ATTEMPTS sends, and audited."""
    services.settings = services.settings.model_copy(update={"outbox_max_attempts": 4})
    await _queue(services)
    mailer = SmtpMailer.from_url(f"smtp://127.0.0.1:{_free_port()}")
    clock = services.clock
    delays = []
    for _ in range(10):
        report = await deliver_due(services, mailer)
        row = await _row(services)
        if row.status == "dead":
            break
        delays.append(row.next_attempt_at - clock.now())
        clock.current = row.next_attempt_at  # type: ignore[attr-defined]
    assert report.dead == 1
    row = await _row(services)
    assert (row.status, row.attempts) == ("dead", 4)
    assert row.last_error
    assert len(delays) == 3 and delays[0] < delays[-1]
    async with services.sessionmaker() as db:
        kinds = list((await db.execute(select(AuditEvent.kind))).scalars())
    assert kinds == ["outbox_dead"]


async def test_file_mailer_writes_one_file_per_message(services: Services, tmp_path: Path) -> None:
    """Without SMTP, messages land in MAIL_DIR as .eml files named by Message-ID."""
    await _queue(services)
    await deliver_due(services, FileMailer(tmp_path / "mail"))
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    assert b"Welcome to Demo Academy" in files[0].read_bytes()


def test_smtp_url_parsing() -> None:
    """SMTP_URL forms: credentials, implicit TLS, required STARTTLS; junk is refused clearly."""
    plain = SmtpMailer.from_url("smtp://user%40x:p%2Fw@mail.test:2525?starttls=true")
    assert (plain.hostname, plain.port, plain.username, plain.password) == (
        "mail.test",
        2525,
        "user@x",
        "p/w",
    )
    assert (plain.use_tls, plain.start_tls) == (False, True)
    implicit = SmtpMailer.from_url("smtps://mail.test")
    assert (implicit.port, implicit.use_tls, implicit.start_tls) == (465, True, None)
    from mentora.errors import ConfigError

    for bad in ("http://mail.test", "smtp://", "smtp://mail.test:99999"):
        with pytest.raises(ConfigError):
            SmtpMailer.from_url(bad)


class Recorder:
    """A mailer that keeps what it is asked to send; `die` makes the next send never return."""

    def __init__(self) -> None:
        """Start with nothing sent and no failure planned."""
        self.sent: list[str] = []
        self.die = False

    async def send(self, message: Any) -> None:
        """Keep the message's key, or stop the worker mid-send like a SIGKILL would."""
        if self.die:
            # Not an Exception: deliver_due records no outcome, as for a process killed here.
            raise asyncio.CancelledError
        self.sent.append(message["Message-ID"])


async def test_second_worker_reclaims_a_lease_the_first_let_expire(services: Services) -> None:
    """A worker dies mid-send: its claim holds for OUTBOX_LEASE_SECONDS of the clock, during
    which another worker sends nothing; once it has run out, the other worker sends it once."""
    services.settings = services.settings.model_copy(update={"outbox_lease_seconds": 30.0})
    clock = services.clock
    await _queue(services)
    first, second = Recorder(), Recorder()
    first.die = True
    with pytest.raises(asyncio.CancelledError):
        await deliver_due(services, first)
    claimed = await _row(services)
    assert claimed.claimed_until is not None
    assert as_utc(claimed.claimed_until) - clock.now() == timedelta(seconds=30)

    clock.advance(29.9)  # type: ignore[attr-defined]
    assert (await deliver_due(services, second)).sent == 0
    assert second.sent == []
    clock.advance(0.1)  # type: ignore[attr-defined]
    assert (await deliver_due(services, second)).sent == 1
    assert len(second.sent) == 1
    row = await _row(services)
    assert (row.status, row.attempts, row.claimed_until) == ("sent", 2, None)
