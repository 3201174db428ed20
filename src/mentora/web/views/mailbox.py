"""The development outbox: `.eml` files the FileMailer wrote to MAIL_DIR, listed and read.

Only names the mailer writes (hex Message-ID digest + `.eml`) are ever opened, and only from
MAIL_DIR itself, so a crafted name cannot reach another file.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.eml$")
MAX_LISTED = 50
MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Mail:
    """One stored message: file name, headers and (when opened) the text body."""

    name: str
    subject: str
    recipient: str
    sender: str
    date: str
    written_at: datetime
    body: str = ""


def _parse(path: Path, *, with_body: bool) -> Mail:
    data = path.read_bytes()[:MAX_BYTES]
    message = BytesParser(policy=policy.default).parsebytes(data)
    body = ""
    if with_body and isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
    return Mail(
        name=path.name,
        subject=str(message.get("Subject", "")),
        recipient=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        date=str(message.get("Date", "")),
        written_at=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC),
        body=body,
    )


def _list(directory: Path) -> list[Mail]:
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.is_file() and NAME.match(p.name)]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [_parse(p, with_body=False) for p in files[:MAX_LISTED]]


def _open(directory: Path, name: str) -> Mail | None:
    if not NAME.match(name):
        return None
    path = directory / name
    if not path.is_file():
        return None
    return _parse(path, with_body=True)


async def list_mail(mail_dir: str) -> list[Mail]:
    """The newest messages in MAIL_DIR (none when it is unset or missing)."""
    if not mail_dir:
        return []
    return await asyncio.to_thread(_list, Path(mail_dir))


async def open_mail(mail_dir: str, name: str) -> Mail | None:
    """One message with its text, or None for an unknown or malformed name."""
    if not mail_dir:
        return None
    return await asyncio.to_thread(_open, Path(mail_dir), name)
