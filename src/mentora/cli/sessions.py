"""`mentora sessions`: list and revoke sign-in sessions (incident response, S09).

Sessions are read from the database on every request, so a revocation here takes effect on
the next request in every app process. Each revocation writes one `session_revoked` audit
event naming the actor (`cli:<os user>`) and the target (a Whop user id, or `*` for all).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mentora.audit.record import record
from mentora.cli.common import fail, run, settings_or_exit
from mentora.clock import SystemClock
from mentora.config import Settings
from mentora.db.engine import make_engine, make_sessionmaker
from mentora.db.models import User, UserSession
from mentora.db.uow import transaction
from mentora.sessions import store
from mentora.sessions.store import SessionPolicy

app = typer.Typer(help="List and revoke sign-in sessions.", no_args_is_help=True)
ALL_USERS = "*"


def cli_actor() -> str:
    """`cli:<os user>`: who ran the command, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "cli:unknown"


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory for DATABASE_URL, disposed of afterwards."""
    engine = make_engine(settings.database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class SessionLine:
    """One session as `sessions list` prints it."""

    id: int
    user: str
    status: str
    created_at: str
    last_seen_at: str
    ip: str | None
    user_agent: str | None


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _list(settings: Settings, user: str | None, include_ended: bool) -> list[SessionLine]:
    now = SystemClock().now()
    policy = SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )
    query = (
        select(UserSession, User.whop_user_id)
        .join(User, User.id == UserSession.user_id)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    if user:
        query = query.where(User.whop_user_id == user)
    if not include_ended:
        query = query.where(UserSession.revoked_at.is_(None))
    async with database(settings) as sessionmaker, sessionmaker() as db:
        rows = (await db.execute(query)).all()
    lines = []
    for row, whop_user_id in rows:
        ended = store.expiry_reason(row, now=now, policy=policy)
        if ended is not None and not include_ended:
            continue
        lines.append(
            SessionLine(
                id=row.id,
                user=whop_user_id,
                status="live" if ended is None else f"ended:{ended}",
                created_at=_iso(row.created_at),
                last_seen_at=_iso(row.last_seen_at),
                ip=row.ip,
                user_agent=row.user_agent,
            )
        )
    return lines


async def _revoke_user(settings: Settings, whop_user_id: str, actor: str) -> int | None:
    now = SystemClock().now()
    async with (
        database(settings) as sessionmaker,
        transaction(sessionmaker, write=True) as db,
    ):
        user = (
            await db.execute(select(User).where(User.whop_user_id == whop_user_id))
        ).scalar_one_or_none()
        if user is None:
            return None
        count = await store.revoke_for_user(db, user.id, now=now, reason="admin_revoke")
        record(
            db,
            kind="session_revoked",
            outcome="success",
            reason="admin_revoke",
            now=now,
            actor=actor,
            subject=whop_user_id,
            details={"sessions": count},
        )
        return count


async def _revoke_all(settings: Settings, actor: str) -> int:
    now = SystemClock().now()
    async with (
        database(settings) as sessionmaker,
        transaction(sessionmaker, write=True) as db,
    ):
        count = await store.revoke_all(db, now=now, reason="admin_revoke_all")
        record(
            db,
            kind="session_revoked",
            outcome="success",
            reason="admin_revoke_all",
            now=now,
            actor=actor,
            subject=ALL_USERS,
            details={"sessions": count},
        )
        return count


@app.command("list")
def list_sessions(
    user: Annotated[str | None, typer.Option(help="Only this Whop user id (user_...).")] = None,
    include_ended: Annotated[
        bool, typer.Option("--all", help="Include revoked and timed-out sessions.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List sessions, most recently active first (live ones only unless --all)."""
    settings = settings_or_exit()
    lines = run(_list(settings, user, include_ended))
    for line in lines:
        if as_json:
            typer.echo(json.dumps(asdict(line)))
        else:
            agent = (line.user_agent or "-")[:60].encode("unicode_escape").decode()
            typer.echo(
                f"{line.id:>6}  {line.user:<24} {line.status:<22} created {line.created_at}  "
                f"seen {line.last_seen_at}  {line.ip or '-':<15} {agent}"
            )
    if not as_json:
        typer.echo(f"{len(lines)} session(s)", err=True)


@app.command("revoke")
def revoke(
    user: Annotated[str, typer.Option(help="The Whop user id (user_...) to sign out.")],
) -> None:
    """Sign one user out everywhere: every live session of theirs ends now."""
    settings = settings_or_exit()
    count = run(_revoke_user(settings, user, cli_actor()))
    if count is None:
        fail(f"no user with Whop id {user!r}")
    typer.echo(f"revoked {count} session(s) of {user}")


@app.command("revoke-all")
def revoke_all(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Sign everyone out: every live session ends now (incident response)."""
    settings = settings_or_exit()
    if not yes:
        typer.confirm("Sign out every user of this Mentora now?", abort=True)
    count = run(_revoke_all(settings, cli_actor()))
    typer.echo(f"revoked {count} session(s) of all users")
