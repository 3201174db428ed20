"""`mentora keys`: make token encryption keys and re-encrypt stored secrets under the newest.

Rotation, step by step (docs/security.md):
1. `mentora keys generate`, then put the new key FIRST in TOKEN_ENCRYPTION_KEYS, keeping the
   old ones after it, and restart every process: new writes use the new key, old values
   stay readable (MultiFernet).
2. `mentora keys rotate`: every stored Whop token and pending login verifier is re-encrypted
   under the first key, in batches. Running it again changes nothing (values already under
   the first key are skipped), so it can be resumed after an interruption.
3. Remove the old keys from TOKEN_ENCRYPTION_KEYS and restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.cli.common import current_clock, fail, run, settings_or_exit
from mentora.cli.sessions import cli_actor, database
from mentora.config import Settings
from mentora.crypto import TokenBox, TokenDecryptError, generate_key
from mentora.db.models import LoginAttempt, WhopToken
from mentora.db.uow import transaction

app = typer.Typer(help="Token encryption keys: generate and rotate.", no_args_is_help=True)


@dataclass
class RotationReport:
    """What a rotation did (or, with --dry-run, would do)."""

    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    changed_meanwhile: int = 0

    def __str__(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.rotated} re-encrypted, {self.current} already under the current key, "
            f"{self.unreadable} unreadable, {self.changed_meanwhile} changed meanwhile"
        )


class Rotator:
    """Re-encrypts values under the first key; knows which values are already there."""

    def __init__(self, keys: list[str]) -> None:
        """`keys` as in TOKEN_ENCRYPTION_KEYS, the current key first."""
        self.box = TokenBox(keys)
        self.newest = Fernet(keys[0].encode())

    def is_current(self, value: bytes | None) -> bool:
        """True when the current key alone decrypts `value` (None counts as current)."""
        if value is None:
            return True
        try:
            self.newest.decrypt(value)
        except InvalidToken:
            return False
        return True

    def rotate(self, value: bytes | None) -> bytes | None:
        """`value` re-encrypted under the current key; TokenDecryptError if no key reads it."""
        return None if value is None else self.box.rotate(value)


async def _rotate_tokens(
    sessionmaker: async_sessionmaker[AsyncSession], rotator: Rotator, batch: int, dry_run: bool
) -> RotationReport:
    report = RotationReport()
    last_id = 0
    while True:
        async with transaction(sessionmaker, write=not dry_run) as db:
            rows = list(
                (
                    await db.execute(
                        select(WhopToken)
                        .where(WhopToken.id > last_id)
                        .order_by(WhopToken.id)
                        .limit(batch)
                    )
                ).scalars()
            )
            for row in rows:
                last_id = row.id
                if rotator.is_current(row.access_token_enc) and rotator.is_current(
                    row.refresh_token_enc
                ):
                    report.current += 1
                    continue
                try:
                    access = rotator.rotate(row.access_token_enc)
                    refresh = rotator.rotate(row.refresh_token_enc)
                except TokenDecryptError:
                    report.unreadable += 1
                    continue
                if dry_run:
                    report.rotated += 1
                    continue
                # Compare-and-set on the version: a refresh that rotated the tokens meanwhile
                # wrote them under the current key already, and must not be overwritten.
                result = await db.execute(
                    update(WhopToken)
                    .where(WhopToken.id == row.id, WhopToken.version == row.version)
                    .values(access_token_enc=access, refresh_token_enc=refresh)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0):
                    report.rotated += 1
                else:
                    report.changed_meanwhile += 1
        if len(rows) < batch:
            return report


async def _rotate_verifiers(
    sessionmaker: async_sessionmaker[AsyncSession], rotator: Rotator, batch: int, dry_run: bool
) -> RotationReport:
    report = RotationReport()
    last_id = 0
    while True:
        async with transaction(sessionmaker, write=not dry_run) as db:
            rows = (
                await db.execute(
                    select(LoginAttempt.id, LoginAttempt.code_verifier_enc)
                    .where(LoginAttempt.id > last_id)
                    .order_by(LoginAttempt.id)
                    .limit(batch)
                )
            ).all()
            for row_id, value in rows:
                last_id = row_id
                if rotator.is_current(value):
                    report.current += 1
                    continue
                try:
                    rotated = rotator.rotate(value)
                except TokenDecryptError:
                    report.unreadable += 1
                    continue
                if not dry_run:
                    # A verifier never changes; a consumed login is simply gone (0 rows).
                    await db.execute(
                        update(LoginAttempt)
                        .where(
                            LoginAttempt.id == row_id,
                            LoginAttempt.code_verifier_enc == value,
                        )
                        .values(code_verifier_enc=rotated)
                        .execution_options(synchronize_session=False)
                    )
                report.rotated += 1
        if len(rows) < batch:
            return report


async def rotate_all(
    settings: Settings, *, batch: int, dry_run: bool, actor: str
) -> tuple[RotationReport, RotationReport]:
    """Re-encrypt Whop tokens and login verifiers under the current key; audit the run."""
    rotator = Rotator(settings.token_keys)
    async with database(settings) as sessionmaker:
        tokens = await _rotate_tokens(sessionmaker, rotator, batch, dry_run)
        verifiers = await _rotate_verifiers(sessionmaker, rotator, batch, dry_run)
        if not dry_run:
            await record_alone(
                sessionmaker,
                kind=AuditKind.SENSITIVE_UPDATE,
                outcome="failure" if tokens.unreadable + verifiers.unreadable else "success",
                reason="token_key_rotated",
                now=current_clock().now(),
                actor=actor,
                details={
                    "whop_tokens": tokens.rotated,
                    "login_verifiers": verifiers.rotated,
                    "unreadable": tokens.unreadable + verifiers.unreadable,
                    "keys_configured": len(settings.token_keys),
                },
            )
    return tokens, verifiers


@app.command()
def generate() -> None:
    """Print a new key for TOKEN_ENCRYPTION_KEYS (put it first; keep the old ones after it)."""
    typer.echo(generate_key())


@app.command()
def rotate(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
    dry_run: Annotated[bool, typer.Option(help="Count what would change; write nothing.")] = False,
) -> None:
    """Re-encrypt every stored Whop token and pending login verifier under the first key."""
    settings = settings_or_exit()
    tokens, verifiers = run(
        rotate_all(settings, batch=batch_size, dry_run=dry_run, actor=cli_actor())
    )
    prefix = "would rotate: " if dry_run else ""
    typer.echo(f"{prefix}whop tokens: {tokens}")
    typer.echo(f"{prefix}login verifiers: {verifiers}")
    unreadable = tokens.unreadable + verifiers.unreadable
    if unreadable:
        fail(
            f"{unreadable} value(s) are readable by no configured key; they were left as they "
            "are (those sessions must sign in again). Was an old key removed too early?"
        )
    if tokens.changed_meanwhile and not dry_run:
        typer.echo("some tokens were refreshed while this ran: run `mentora keys rotate` again")
