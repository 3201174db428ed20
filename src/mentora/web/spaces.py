"""Creator spaces: `/c/{route}/…` names the creator a request is for.

The path segment is the creator's Whop company route (`creator.route`, from Whop's company
retrieve) or, for a creator whose profile Whop has not described yet, its `biz_` id. It is
resolved in the same query that loads the session (web/principal.py), so it costs no extra
statement and is never stale; on SQLite the gate cache keeps the result under the database's
`data_version`, which any commit (a creator added, disabled or renamed) changes.
Paths without the prefix (`/dashboard`, `/content`, `/api/content`, `/creator/…`) are for the
default creator, the one `WHOP_COMPANY_ID` names.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, or_, select
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from mentora.db.models import Creator

SPACE_PREFIX = "/c"
ROUTE_PARAM = "route"
# Whop routes are lowercase words with dashes; a `biz_` id fits too. Anything else is no space.
ROUTE_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def space_route(connection: HTTPConnection) -> str | None:
    """The route segment of a `/c/{route}/…` request (None: an unprefixed path); 404 when it
    cannot be any creator's."""
    route = connection.path_params.get(ROUTE_PARAM)
    if route is None:
        return None
    if not isinstance(route, str) or not ROUTE_SHAPE.fullmatch(route):
        raise HTTPException(status_code=404)
    return route


def space_base(connection: HTTPConnection) -> str:
    """The path the request's space starts at: `/c/{route}`, or "" for the default creator."""
    route = space_route(connection)
    return f"{SPACE_PREFIX}/{route}" if route is not None else ""


def space_path(creator: Creator) -> str:
    """Where a creator's space lives: `/c/{route}` (its `biz_` id until Whop names a route)."""
    return f"{SPACE_PREFIX}/{creator.route or creator.whop_company_id}"


def creator_match(route: str | None, default_company: str) -> ColumnElement[bool]:
    """The join condition picking the request's creator: by route, or the default one."""
    if route is None:
        return Creator.whop_company_id == default_company
    by_route = (
        select(Creator.id)
        .where(or_(Creator.route == route, Creator.whop_company_id == route))
        .order_by(Creator.id)
        .limit(1)
        .scalar_subquery()
    )
    return Creator.id == by_route


def unknown_space() -> HTTPException:
    """The answer for a route no onboarded creator has: 404, as for any unknown page."""
    return HTTPException(status_code=404)
