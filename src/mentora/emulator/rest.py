"""The REST API under `/api/v1`: users, access checks, memberships, accounts (companies) and
experiences.

Callers authenticate with `Authorization: Bearer <app API key>` or a live user access
token from the OAuth flow. The API key sees everything; a user token sees the user's own
memberships plus those of companies whose team the user is on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mentora.emulator.config import COMPANY_READ, MEMBERSHIP_READ
from mentora.emulator.httputil import BadRequest, api_error, bearer_token
from mentora.emulator.records import Membership
from mentora.emulator.shapes import (
    account_detail_json,
    experience_json,
    membership_json,
    user_json,
)

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


@dataclass
class Caller:
    """Who is calling: the app (API key, `user_id` None) or a signed-in user."""

    user_id: str | None
    scopes: set[str] = field(default_factory=set)


def multi(http: Request, *names: str) -> list[str]:
    """Collect a list parameter sent repeated, with `[]`, or comma-separated."""
    values: list[str] = []
    for name in names:
        for key in (name, f"{name}[]"):
            for raw in http.query_params.getlist(key):
                values.extend(v for v in raw.split(",") if v)
    return values


def encode_cursor(m: Membership) -> str:
    """Return an opaque cursor for a membership's position."""
    return base64.urlsafe_b64encode(f"mem:{m.seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Return the position a cursor points at, or raise BadRequest."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = raw.partition(":")
        if kind != "mem":
            raise ValueError(raw)
        return int(seq)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest(f"invalid cursor {cursor!r}") from exc


def page_size(http: Request, name: str) -> int | None:
    """Read `first`/`last`, clamped to 1..100 as Whop caps page sizes."""
    raw = http.query_params.get(name)
    if raw is None:
        return None
    try:
        return max(1, min(MAX_PAGE_SIZE, int(raw)))
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc


def status_matches(m: Membership, wanted: str) -> bool:
    """Apply Whop's status filter semantics (`canceling` is derived from the flag)."""
    if wanted == "canceling":
        return m.cancel_at_period_end or m.status == "canceling"
    if wanted in ("active", "trialing", "past_due"):
        return m.status == wanted and not m.cancel_at_period_end
    return m.status == wanted


def parse_time(http: Request, name: str) -> datetime | None:
    """Read an ISO 8601 query parameter."""
    raw = http.query_params.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name} must be an ISO 8601 timestamp") from exc


def routes(emu: Emulator) -> list[BaseRoute]:
    """Return the REST routes bound to an emulator."""

    def authenticate(http: Request) -> Caller | None:
        """Resolve the bearer credential to a caller, or None."""
        raw = bearer_token(http)
        if raw is None:
            return None
        if raw == emu.config.api_key:
            return Caller(user_id=None)
        record = emu.state.oauth.live_access_token(raw, emu.now())
        if record is None:
            return None
        return Caller(user_id=record.user_id, scopes=set(record.scope.split()))

    def lacking(caller: Caller, permission: str) -> Response | None:
        """The 403 an API key without `permission` gets (user tokens are not modelled)."""
        if caller.user_id is None and permission in emu.state.denied_permissions:
            return api_error(403, "forbidden", f"This API key lacks the {permission} permission.")
        return None

    def unauthorized() -> Response:
        """The 401 for a missing, unknown, expired or revoked credential."""
        return api_error(401, "unauthorized", "Missing or invalid bearer token.")

    def visible(caller: Caller, m: Membership) -> bool:
        """Return True if the caller may read this membership."""
        if caller.user_id is None:
            return True
        return m.user_id == caller.user_id or emu.state.is_team_member(caller.user_id, m.company_id)

    async def me(http: Request) -> Response:
        """GET /users/me: the signed-in user (a user token is required)."""
        caller = authenticate(http)
        if caller is None:
            return unauthorized()
        if caller.user_id is None:
            return api_error(
                403, "forbidden", "/users/me needs a user access token, not an API key."
            )
        user = emu.state.users.get(caller.user_id)
        if user is None:
            return api_error(404, "not_found", "User not found.")
        return JSONResponse(user_json(user, include_email="email" in caller.scopes))

    async def retrieve_user(http: Request) -> Response:
        """GET /users/{id}: a user by id or username (`me` is the caller)."""
        if http.path_params["id"] == "me":
            return await me(http)
        if authenticate(http) is None:
            return unauthorized()
        user = emu.state.find_user(http.path_params["id"])
        if user is None:
            return api_error(404, "not_found", f"User {http.path_params['id']} not found.")
        return JSONResponse(user_json(user))

    async def check_access(http: Request) -> Response:
        """GET /users/{id}/access/{resource_id}: has_access and access_level."""
        caller = authenticate(http)
        if caller is None:
            return unauthorized()
        raw_id = http.path_params["id"]
        user = emu.state.find_user(caller.user_id if raw_id == "me" and caller.user_id else raw_id)
        if user is None:
            return api_error(404, "not_found", f"User {raw_id} not found.")
        resource_id = http.path_params["resource_id"]
        level = emu.state.access_level(user.id, resource_id)
        if level is None:
            return api_error(404, "not_found", f"Resource {resource_id} not found.")
        return JSONResponse({"has_access": level != "no_access", "access_level": level})

    async def retrieve_membership(http: Request) -> Response:
        """GET /memberships/{id}."""
        caller = authenticate(http)
        if caller is None:
            return unauthorized()
        if denied := lacking(caller, MEMBERSHIP_READ):
            return denied
        m = emu.state.memberships.get(http.path_params["id"])
        if m is None or not visible(caller, m):
            return api_error(404, "not_found", f"Membership {http.path_params['id']} not found.")
        return JSONResponse(membership_json(emu.state, m))

    def filtered(http: Request, caller: Caller) -> list[Membership]:
        """Apply the caller's visibility and the query filters."""
        companies = set(multi(http, "company_id", "account_id"))
        users = {caller.user_id if u == "me" else u for u in multi(http, "user_id", "user_ids")}
        products = set(multi(http, "product_id", "product_ids"))
        plans = set(multi(http, "plan_id", "plan_ids"))
        members = set(multi(http, "member_id"))
        statuses = multi(http, "status", "statuses")
        after_time, before_time = (
            parse_time(http, "created_after"),
            parse_time(http, "created_before"),
        )
        result: list[Membership] = []
        for m in emu.state.memberships.values():
            checks: Iterable[bool] = (
                visible(caller, m),
                not companies or m.company_id in companies,
                not users or m.user_id in users,
                not products or m.product_id in products,
                not plans or m.plan_id in plans,
                not members or m.member_id in members,
                not statuses or any(status_matches(m, s) for s in statuses),
                after_time is None or m.created_at > after_time,
                before_time is None or m.created_at < before_time,
            )
            if all(checks):
                result.append(m)
        descending = http.query_params.get("direction", "desc").lower() != "asc"
        return sorted(result, key=lambda m: m.seq, reverse=descending)

    async def list_memberships(http: Request) -> Response:
        """GET /memberships: filters plus Relay-style cursor pagination."""
        caller = authenticate(http)
        if caller is None:
            return unauthorized()
        if denied := lacking(caller, MEMBERSHIP_READ):
            return denied
        try:
            items = filtered(http, caller)
            first, last = page_size(http, "first"), page_size(http, "last")
            after, before = http.query_params.get("after"), http.query_params.get("before")
            start, end = 0, len(items)
            positions = [m.seq for m in items]
            if after:
                seq = decode_cursor(after)
                start = positions.index(seq) + 1 if seq in positions else _skip(items, seq, http)
            if before:
                seq = decode_cursor(before)
                end = positions.index(seq) if seq in positions else end
        except BadRequest as exc:
            return api_error(400, "invalid_parameter", str(exc))
        window = items[start:end]
        if last is not None and first is None:
            page = window[-last:]
        else:
            page = window[: first or DEFAULT_PAGE_SIZE]
        lo = items.index(page[0]) if page else start
        hi = items.index(page[-1]) + 1 if page else start
        has_next, has_previous = hi < len(items), lo > 0
        return JSONResponse(
            {
                "data": [membership_json(emu.state, m) for m in page],
                "page_info": {
                    # A null end_cursor on the last page stops whop-sdk's pager, which keeps
                    # fetching for as long as end_cursor is non-empty.
                    "end_cursor": encode_cursor(page[-1]) if page and has_next else None,
                    "start_cursor": encode_cursor(page[0]) if page and has_previous else None,
                    "has_next_page": has_next,
                    "has_previous_page": has_previous,
                },
            }
        )

    async def retrieve_account(http: Request) -> Response:
        """GET /accounts/{id}: a company by id or public route (company retrieve)."""
        caller = authenticate(http)
        if caller is None:
            return unauthorized()
        if denied := lacking(caller, COMPANY_READ):
            return denied
        company = emu.state.find_company(http.path_params["id"])
        if company is None:
            return api_error(404, "not_found", f"Account {http.path_params['id']} not found.")
        return JSONResponse(account_detail_json(emu.state, company))

    async def retrieve_experience(http: Request) -> Response:
        """GET /experiences/{id}: an experience with its company and products."""
        if authenticate(http) is None:
            return unauthorized()
        experience = emu.state.experiences.get(http.path_params["id"])
        if experience is None:
            return api_error(404, "not_found", f"Experience {http.path_params['id']} not found.")
        return JSONResponse(experience_json(emu.state, experience))

    return [
        Route("/api/v1/accounts/{id}", retrieve_account, methods=["GET"]),
        Route("/api/v1/experiences/{id}", retrieve_experience, methods=["GET"]),
        Route("/api/v1/users/me", me, methods=["GET"]),
        Route("/api/v1/users/{id}", retrieve_user, methods=["GET"]),
        Route("/api/v1/users/{id}/access/{resource_id}", check_access, methods=["GET"]),
        Route("/api/v1/memberships", list_memberships, methods=["GET"]),
        Route("/api/v1/memberships/{id}", retrieve_membership, methods=["GET"]),
    ]


def _skip(items: list[Membership], seq: int, http: Request) -> int:
    """Position after a cursor whose membership left the result (e.g. its status changed)."""
    descending = http.query_params.get("direction", "desc").lower() != "asc"
    for index, m in enumerate(items):
        if (m.seq < seq) if descending else (m.seq > seq):
            return index
    return len(items)
