"""`mentora doctor`: a configuration checked against the Whop it points at, read-only.

Each check is one row: what was checked, ✔ or ✘, what was seen, and for a ✘ a one-line fix.
Nothing here writes anything, here or at Whop: the database is read (its migration revision)
without creating a file or a table, discovery and JWKS are fetched, and the API key makes one
read call per permission the app needs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mentora.config import Settings
from mentora.db.engine import describe_error
from mentora.db.migrate import READ_TIMEOUT_SECONDS, current_revision, head_revision
from mentora.errors import ConfigError
from mentora.oauth.discovery import parse_metadata
from mentora.oauth.errors import DiscoveryError
from mentora.whop.client import WhopClient
from mentora.whop.errors import WhopAuthError, WhopError, WhopNotFound, WhopPermissionDenied
from mentora.whop.schemas import CompanyProfile

T = TypeVar("T")

GUIDE = "docs/going-live.md"
MEMBER_READ = "member:basic:read"
COMPANY_READ = "company:basic:read"
# Beyond this, Whop's webhook timestamps and our token expiry checks disagree noticeably.
MAX_CLOCK_SKEW_SECONDS = 30
UPGRADE = "run `mentora db upgrade`"
# Whop's secrets are `ws_` and a long random tail; the whole string is the HMAC key.
WEBHOOK_SECRET = re.compile(r"ws_[A-Za-z0-9_-]{16,}")


@dataclass(frozen=True)
class Check:
    """One row of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row for `--json`."""
        return asdict(self)


@dataclass(frozen=True)
class _Discovered:
    """What the discovery request gave: the document (if any), Whop's Date, and the row."""

    document: dict[str, Any] | None
    date: str | None
    check: Check


async def diagnose(
    settings: Settings, *, http: httpx.AsyncClient, whop: WhopClient, now: datetime
) -> list[Check]:
    """Run every check, in the order an operator fixes things."""
    checks = [_settings(settings), await database_check(settings.database_url)]
    try:
        issuer = settings.issuer
    except KeyError:  # WHOP_ENV names no preset: the settings row says so
        return checks
    discovered = await _discovery(http, issuer)
    checks.append(discovered.check)
    # A document naming another issuer is not trusted for its key URL either.
    trusted = discovered.document if discovered.check.ok else None
    checks.append(await _jwks(http, issuer, trusted))
    company_id = settings.whop_company_id
    members = await _attempt(lambda: whop.list_memberships(company_id=company_id, first=1))
    company = await _attempt(lambda: whop.retrieve_company(company_id))
    checks.append(_api_key([members, company]))
    checks.append(_permission(MEMBER_READ, "list memberships", members))
    checks.append(_permission(COMPANY_READ, "retrieve the company", company))
    checks.append(_company(company_id, company))
    checks.append(_webhook_secret(settings))
    checks.append(_redirect_uri(settings))
    checks.append(_clock(discovered.date, now))
    return checks


async def _attempt(call: Callable[[], Awaitable[T]]) -> T | WhopError:
    """The call's answer, or the Whop error it ended with (each check reads its own)."""
    try:
        return await call()
    except WhopError as exc:
        return exc


async def database_check(database_url: str, *, wait_seconds: float = READ_TIMEOUT_SECONDS) -> Check:
    """The database row: reachable within `wait_seconds` and migrated to the revision this code
    ships; read without creating anything (a missing SQLite file is reported, not made)."""
    # The drivers block, so the read runs in a thread; the drivers' own timeouts bound it (a
    # cancelled wait would leave the thread running anyway).
    return await asyncio.to_thread(_database, database_url, wait_seconds)


def _database(database_url: str, timeout: float) -> Check:
    head = head_revision()
    try:
        revision = current_revision(database_url, timeout=timeout)
    except ConfigError as exc:
        return Check("database", False, str(exc), "set DATABASE_URL (README)")
    except FileNotFoundError as exc:
        fix = f"{UPGRADE} to create it, or point DATABASE_URL at the existing file"
        return Check("database", False, _missing_file(Path(str(exc.filename))), fix)
    except (SQLAlchemyError, ValueError) as exc:
        fix = "start the database, or correct DATABASE_URL (host, port, name, user, password)"
        if database_url.lower().startswith("sqlite"):
            fix = "correct DATABASE_URL's path, or let this user read the file"
        return Check("database", False, describe_error(exc, database_url), fix)
    if revision != head:
        at = revision or "none (never migrated)"
        return Check("database", False, f"at revision {at}, code ships {head}", UPGRADE)
    shown = make_url(database_url).render_as_string(hide_password=True)
    return Check("database", True, f"{shown} at revision {head} (head)")


def _missing_file(path: Path) -> str:
    if not path.parent.is_dir():
        return f"no SQLite file at {path} (its folder {path.parent} does not exist)"
    return f"no SQLite file at {path}"


def _settings(settings: Settings) -> Check:
    client = "public client (PKCE, no secret)" if settings.is_public_client else "confidential"
    try:
        settings.check()
    except ConfigError as exc:
        return Check("settings", False, str(exc), "set each setting named above (README)")
    return Check("settings", True, f"{settings.mentora_env.value}; {client}")


async def _discovery(http: httpx.AsyncClient, issuer: str) -> _Discovered:
    url = f"{issuer}/.well-known/openid-configuration"
    fix = "set WHOP_ENV (or WHOP_OAUTH_ISSUER) to Whop's issuer and allow HTTPS to it"
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        return _Discovered(
            None, None, Check("discovery", False, f"{url}: {type(exc).__name__}", fix)
        )
    date = response.headers.get("date")
    try:
        document = response.json() if response.status_code == 200 else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        detail = f"{url} answered {response.status_code} without a JSON document"
        return _Discovered(None, date, Check("discovery", False, detail, fix))
    published = document.get("issuer")
    if published != issuer:
        detail = f"Whop's issuer is {published!r}, configured {issuer!r}"
        fix = f"set WHOP_OAUTH_ISSUER to exactly {published!r} (or the matching WHOP_ENV)"
        return _Discovered(document, date, Check("discovery", False, detail, fix))
    try:
        parse_metadata(document, expected_issuer=issuer)
    except DiscoveryError as exc:
        return _Discovered(document, date, Check("discovery", False, str(exc), fix))
    return _Discovered(document, date, Check("discovery", True, f"issuer {issuer}"))


async def _jwks(http: httpx.AsyncClient, issuer: str, document: dict[str, Any] | None) -> Check:
    uri = (document or {}).get("jwks_uri") or f"{issuer}/.well-known/jwks.json"
    fix = "point WHOP_OAUTH_ISSUER at Whop: ID tokens and user tokens are ES256"
    try:
        response = await http.get(str(uri))
        keys = response.json().get("keys", []) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Check("jwks", False, f"{uri}: {type(exc).__name__}", fix)
    if not isinstance(keys, list):
        return Check("jwks", False, f"{uri} answered {response.status_code}", fix)
    es256 = [
        key
        for key in keys
        if isinstance(key, dict)
        and key.get("kty") == "EC"
        and key.get("crv") == "P-256"
        and key.get("alg", "ES256") == "ES256"
    ]
    if not es256:
        return Check("jwks", False, f"no ES256 key among {len(keys)} at {uri}", fix)
    return Check("jwks", True, f"{len(es256)} ES256 key(s), kid {es256[0].get('kid')}")


def _api_key(answers: list[object]) -> Check:
    refused = [a for a in answers if isinstance(a, WhopAuthError)]
    if refused and all(not isinstance(a, WhopPermissionDenied) for a in refused):
        return Check(
            "api key",
            False,
            "Whop refused WHOP_API_KEY (401)",
            "set WHOP_API_KEY to the app's API key (sandbox and production keys differ)",
        )
    failed = [a for a in answers if isinstance(a, WhopError) and not isinstance(a, WhopAuthError)]
    if len(failed) == len(answers):
        detail = f"could not ask Whop: {failed[0].code}"
        return Check("api key", False, detail, "check WHOP_API_BASE_URL and HTTPS to it")
    return Check("api key", True, "accepted")


def _permission(permission: str, call: str, answer: object) -> Check:
    name = f"permission {permission}"
    grant = f"grant {permission} to the API key in Whop's developer dashboard ({GUIDE})"
    if isinstance(answer, WhopPermissionDenied):
        return Check(name, False, f"the API key lacks it (403 on {call})", grant)
    if isinstance(answer, WhopAuthError):
        return Check(name, False, "not checked: the API key was refused", "fix the api key row")
    if isinstance(answer, WhopError) and not isinstance(answer, WhopNotFound):
        return Check(name, False, f"not checked: {answer.code} on {call}", "run doctor again")
    return Check(name, True, f"usable ({call})")


def _company(company_id: str, answer: CompanyProfile | WhopError) -> Check:
    if isinstance(answer, CompanyProfile):
        return Check("company", True, f"{answer.name} ({company_id})")
    if isinstance(answer, WhopNotFound):
        fix = "set WHOP_COMPANY_ID to your company's biz_ id (in your dashboard's URL)"
        return Check("company", False, f"Whop has no company {company_id}", fix)
    if isinstance(answer, WhopPermissionDenied):
        return Check(
            "company",
            False,
            f"cannot tell: the API key lacks {COMPANY_READ}",
            f"grant {COMPANY_READ} to the API key ({GUIDE})",
        )
    return Check("company", False, f"not checked: {answer.code}", "fix the rows above")


def _webhook_secret(settings: Settings) -> Check:
    fix = "paste the webhook's whole ws_… secret from Whop into WHOP_WEBHOOK_SECRET (no quotes)"
    secrets = settings.webhook_secrets
    for index, secret in enumerate(secrets, start=1):
        if WEBHOOK_SECRET.fullmatch(secret) is None:
            # Never print the secret: say only what is wrong with its shape.
            problem = (
                "does not start with ws_"
                if not secret.startswith("ws_")
                else "has characters a Whop secret never has, or is too short"
            )
            return Check(
                "webhook secret", False, f"secret {index} of {len(secrets)} {problem}", fix
            )
    return Check("webhook secret", True, f"{len(secrets)} secret(s) shaped like Whop's")


def _redirect_uri(settings: Settings) -> Check:
    uri = settings.redirect_uri
    fix = "set APP_URL to the public https URL; register APP_URL/api/whop/callback at Whop"
    if not uri.startswith(settings.app_url.rstrip("/") + "/"):
        return Check("redirect uri", False, f"{uri} is not under APP_URL {settings.app_url}", fix)
    if settings.is_production and not uri.startswith("https://"):
        return Check("redirect uri", False, f"{uri} is not https (production)", fix)
    return Check("redirect uri", True, f"{uri} (register exactly this at Whop)")


def _clock(date: str | None, now: datetime) -> Check:
    fix = "sync this machine's clock (NTP); webhooks outside WEBHOOK_TOLERANCE_SECONDS fail"
    if date is None:
        return Check("clock", False, "no Date header from Whop to compare with", fix)
    try:
        whop_now = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return Check("clock", False, f"unreadable Date header {date!r}", fix)
    skew = (now - whop_now).total_seconds()
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        side = "ahead of" if skew > 0 else "behind"
        return Check("clock", False, f"{abs(skew):.0f} s {side} Whop's", fix)
    return Check("clock", True, f"within {abs(skew):.0f} s of Whop's")
