"""Typed state: what the app keeps for all requests, and what one request carries along.

Starlette's `app.state` and `request.state` accept any attribute; Mentora keeps one typed
object in each (`AppState` as `app.state.mentora`, `RequestState` in the request scope's
state as `mentora`), so mypy checks every read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from mentora.services import Services
from mentora.sessions.principal import Principal

STATE_KEY = "mentora"


@dataclass
class AppState:
    """One app's services and web-only parts."""

    services: Services
    dev_mode: bool
    # The creator overview's activity chart, by (creator, day, days): (expires, panels).
    activity: dict[Any, tuple[float, Any]] = field(default_factory=dict)


@dataclass
class RequestState:
    """What the middleware and guards learn about one request, for later guards and pages."""

    request_id: str = ""
    client_ip: str | None = None
    principal_loaded: bool = False
    principal: Principal | None = None

    @property
    def csrf_token(self) -> str | None:
        """The signed-in principal's CSRF token (pages put it in their forms)."""
        return self.principal.csrf_token if self.principal is not None else None

    def adopt(self, principal: Principal | None) -> None:
        """Remember the request's principal (None: no usable session), once looked up."""
        self.principal_loaded = True
        self.principal = principal


def app_state(connection: HTTPConnection) -> AppState:
    """The app's typed state."""
    return scope_app_state(connection.scope)


def scope_app_state(scope: Scope) -> AppState:
    """`app_state` straight from an ASGI scope, for a hot path that builds no Request."""
    state: AppState = scope["app"].state.mentora
    return state


def request_state(connection: HTTPConnection) -> RequestState:
    """The request's typed state (made by the middleware; empty outside it)."""
    scope_state: dict[str, Any] = connection.scope.setdefault("state", {})
    found = scope_state.get(STATE_KEY)
    if not isinstance(found, RequestState):
        found = RequestState()
        scope_state[STATE_KEY] = found
    return found
