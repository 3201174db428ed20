"""Where outbox emails go: SMTP (aiosmtplib), `.eml` files for development, or the log.

`SMTP_URL` is `smtp://[user:password@]host[:port][?starttls=true|false]` (STARTTLS is used
when the server offers it unless `starttls=false`; `true` requires it) or
`smtps://...` for implicit TLS. Without SMTP_URL, messages are written to MAIL_DIR, where the
dev UI can show them; with neither, they are logged (without their text) and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import structlog

from mentora.config import Settings
from mentora.errors import ConfigError

log = structlog.get_logger("mentora.outbox")
SMTP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Email:
    """One message ready to send; `key` is stable across retries (it names the Message-ID)."""

    key: str
    sender: str
    recipient: str
    subject: str
    body: str


def build_message(email: Email, *, date_header: str) -> EmailMessage:
    """The MIME message for `email`.

    The same `key` always yields the same Message-ID, so a resend after a crash (the outbox
    delivers at least once) can be recognised as a duplicate by the receiving side.
    """
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "mentora.invalid"
    digest = hashlib.sha256(email.key.encode()).hexdigest()[:24]
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Date"] = date_header
    message["Message-ID"] = f"<{digest}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.body)
    return message


class Mailer(Protocol):
    """Anything that sends a message or raises."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message`; raise on any failure so the outbox retries it."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    """Sends through an SMTP server."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None

    @classmethod
    def from_url(cls, url: str) -> SmtpMailer:
        """Parse SMTP_URL; raise ConfigError naming the setting when it is malformed."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP_URL must look like smtp://user:password@host:port")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError("SMTP_URL has an invalid port") from None
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=None if starttls is None or implicit else starttls in ("1", "true", "yes"),
        )

    async def send(self, message: EmailMessage) -> None:
        """Send one message (a new connection each time: the outbox is low-volume)."""
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


@dataclass(frozen=True)
class FileMailer:
    """Writes each message as an `.eml` file (development; the dev UI lists them)."""

    directory: Path

    async def send(self, message: EmailMessage) -> None:
        """Write atomically, named after the Message-ID so a resend overwrites, not doubles."""
        name = str(message["Message-ID"]).strip("<>").partition("@")[0] + ".eml"
        await asyncio.to_thread(self._write, name, bytes(message))

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, self.directory / name)


class LogMailer:
    """Logs that a message was dropped (no SMTP_URL and no MAIL_DIR configured)."""

    async def send(self, message: EmailMessage) -> None:
        """Log the drop without the address or text."""
        log.warning("mail_dropped", reason="no SMTP_URL or MAIL_DIR configured")


def build_mailer(settings: Settings) -> Mailer:
    """The mailer the settings ask for."""
    if settings.smtp_url:
        return SmtpMailer.from_url(settings.smtp_url)
    if settings.mail_dir:
        return FileMailer(Path(settings.mail_dir))
    return LogMailer()


__all__ = [
    "Email",
    "FileMailer",
    "LogMailer",
    "Mailer",
    "SmtpMailer",
    "build_mailer",
    "build_message",
]
