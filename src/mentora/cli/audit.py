"""`mentora audit`: read the audit trail (incident step 3, "investigate").

`tail` shows the newest events; `search` filters by user (actor or subject), kind, outcome,
IP and time. `--json` prints one JSON object per line for `jq`. Text output escapes control
characters, so a hostile user agent cannot forge extra lines in a terminal (L04).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from sqlalchemy import Select, or_, select

from mentora.cli.common import current_clock, fail, run, settings_or_exit
from mentora.cli.sessions import database
from mentora.config import Settings
from mentora.db.models import AuditEvent

app = typer.Typer(help="Read the audit trail of security events.", no_args_is_help=True)
RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_since(text: str, now: datetime) -> datetime:
    """`15m`, `12h`, `7d`, `2w` before `now`, or an ISO 8601 date/time (UTC if no zone)."""
    match = RELATIVE.match(text.strip().lower())
    if match:
        try:
            return now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise ValueError(f"{text!r} reaches before the first calendar year") from None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use 30m, 12h, 7d or 2026-11-27T12:00)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Filters:
    """What `search` looks for; empty fields match everything."""

    user: str | None = None
    kinds: list[str] = field(default_factory=list)
    outcome: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def build_query(filters: Filters, limit: int) -> Select[AuditEvent]:
    """The newest `limit` events matching `filters` (pure: builds SQL, runs nothing)."""
    query = select(AuditEvent)
    if filters.user:
        query = query.where(
            or_(AuditEvent.subject == filters.user, AuditEvent.actor == filters.user)
        )
    if filters.kinds:
        query = query.where(AuditEvent.kind.in_(filters.kinds))
    if filters.outcome:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.ip:
        query = query.where(AuditEvent.ip == filters.ip)
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """An event as JSON-ready data."""
    return {
        "id": event.id,
        "at": event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "kind": event.kind,
        "outcome": event.outcome,
        "reason": event.reason,
        "actor": event.actor,
        "subject": event.subject,
        "creator_id": event.creator_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
    }


def as_line(event: AuditEvent) -> str:
    """An event as one terminal line, control characters escaped."""
    data = as_dict(event)
    parts = [data["at"], f"{event.kind:<28}", f"{event.outcome:<8}"]
    for name in ("reason", "actor", "subject", "ip", "request_id"):
        if data[name] is not None:
            parts.append(f"{name}={data[name]}")
    if event.details:
        parts.append(json.dumps(event.details, sort_keys=True, default=str))
    if event.user_agent:
        parts.append(f"ua={json.dumps(event.user_agent)}")
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", "  ".join(parts))


async def _fetch(settings: Settings, filters: Filters, limit: int) -> list[AuditEvent]:
    async with database(settings) as sessionmaker, sessionmaker() as db:
        rows = list((await db.execute(build_query(filters, limit))).scalars())
    return list(reversed(rows))  # oldest first, like a log


def _print(events: list[AuditEvent], as_json: bool) -> None:
    for event in events:
        typer.echo(json.dumps(as_dict(event), default=str) if as_json else as_line(event))


JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
UserOption = Annotated[
    str | None, typer.Option(help="A Whop user id or actor (e.g. cli:alice), either side.")
]
KindOption = Annotated[
    list[str] | None, typer.Option(help="Event kind, e.g. authn_login_fail (repeatable).")
]
SinceOption = Annotated[
    str | None, typer.Option(help="30m, 12h, 7d, or an ISO time (UTC by default).")
]


def _filters(**given: Any) -> Filters:
    """Filters from command-line values; exits with a clear message on a bad time."""
    now = current_clock().now()
    for name in ("since", "until"):
        if given.get(name):
            try:
                given[name] = parse_since(given[name], now)
            except ValueError as exc:
                fail(f"--{name}: {exc}", 2)
    given["kinds"] = list(given.pop("kind", None) or [])
    return Filters(**given)


@app.command()
def tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many events.")] = 20,
    user: UserOption = None,
    kind: KindOption = None,
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the newest audit events (optionally filtered), oldest first."""
    settings = settings_or_exit()
    filters = _filters(user=user, kind=kind, since=since)
    _print(run(_fetch(settings, filters, lines)), as_json)


@app.command()
def search(
    user: UserOption = None,
    kind: KindOption = None,
    since: SinceOption = None,
    until: Annotated[str | None, typer.Option(help="Same forms as --since.")] = None,
    outcome: Annotated[str | None, typer.Option(help="success or failure.")] = None,
    ip: Annotated[str | None, typer.Option(help="Client IP address.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (the newest).")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Find audit events by user, kind, outcome, IP and time."""
    settings = settings_or_exit()
    filters = _filters(user=user, kind=kind, since=since, until=until, outcome=outcome, ip=ip)
    events = run(_fetch(settings, filters, limit))
    _print(events, as_json)
    if not as_json:
        typer.echo(f"{len(events)} event(s)", err=True)
