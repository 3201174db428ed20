"""`mentora sessions`: list and revoke sign-in sessions (incident response, S09).

Sessions are read from the database on every request, so a revocation here takes effect on
the next request in every app process. Each revocation writes one `session_revoked` audit
event naming the actor (`cli:<os user>`) and the target (a Whop user id, or `*` for all).

Before ending the sessions, `revoke` and `revoke-all` revoke the Whop grants stored with them
at Whop (best effort, a few at a time; `--skip-whop` when Whop is unreachable or the grants
are many), so refresh tokens copied from the database stop working too; the stored tokens
are deleted either way. The outcome is one `authn_token_revoked` audit event.
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

from mentora.cli.common import current_clock, fail, run, settings_or_exit
from mentora.cli.services import with_services
from mentora.config import Settings
from mentora.db.engine import make_engine, make_sessionmaker
from mentora.db.models import User, UserSession
from mentora.services import Services
from mentora.sessions import store
from mentora.sessions.store import SessionPolicy
from mentora.usecases import signout
from mentora.usecases.signout import Revocation

app = typer.Typer(help="List and revoke sign-in sessions.", no_args_is_help=True)


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
    now = current_clock().now()
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


def describe(done: Revocation, target: str) -> str:
    """One line for the operator."""
    if not done.grants:
        whop = "no stored Whop grants"
    elif done.revoked_at_whop is None:
        whop = f"{done.grants} stored Whop grant(s) deleted, not revoked at Whop (--skip-whop)"
    else:
        whop = f"Whop revoked {done.revoked_at_whop} of {done.grants} grant(s)"
    return f"revoked {done.sessions} session(s) of {target}; {whop}"


async def _revoke(
    settings: Settings, actor: str, whop_user_id: str | None, *, whop: bool
) -> Revocation | None:
    """End the sessions of one user (or everyone), revoking their grants at Whop first."""

    async def end(services: Services) -> Revocation | None:
        user_id: int | None = None
        if whop_user_id is not None:
            async with services.sessionmaker() as db:
                user_id = (
                    await db.execute(select(User.id).where(User.whop_user_id == whop_user_id))
                ).scalar_one_or_none()
            if user_id is None:
                return None
        return await signout.end_sessions(
            services,
            user_id=user_id,
            subject=whop_user_id or signout.EVERYONE,
            actor=actor,
            reason="admin_revoke" if user_id is not None else "admin_revoke_all",
            at_whop=whop,
        )

    return await with_services(settings, end)


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


SKIP_WHOP = typer.Option(
    "--skip-whop", help="Do not revoke the grants at Whop (the stored tokens are still deleted)."
)


@app.command("revoke")
def revoke(
    user: Annotated[str, typer.Option(help="The Whop user id (user_...) to sign out.")],
    skip_whop: Annotated[bool, SKIP_WHOP] = False,
) -> None:
    """Sign one user out everywhere: their grants are revoked at Whop, every session ends now."""
    settings = settings_or_exit()
    done = run(_revoke(settings, cli_actor(), user, whop=not skip_whop))
    if done is None:
        fail(f"no user with Whop id {user!r}")
    typer.echo(describe(done, user))


@app.command("revoke-all")
def revoke_all(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    skip_whop: Annotated[bool, SKIP_WHOP] = False,
) -> None:
    """Sign everyone out: every stored grant is revoked at Whop, every session ends now."""
    settings = settings_or_exit()
    if not yes:
        typer.confirm("Sign out every user of this Mentora now?", abort=True)
    done = run(_revoke(settings, cli_actor(), None, whop=not skip_whop))
    assert done is not None  # only a named user can be missing
    typer.echo(describe(done, "all users"))
