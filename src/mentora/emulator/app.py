"""`Emulator`: the object tests and the CLI hold, and the ASGI app it serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mentora.emulator import admin, authorize, oidc, rest, ui
from mentora.emulator.config import USER_TOKEN_ISSUER, Clock, EmulatorConfig, utc_now
from mentora.emulator.datehdr import ClockDateMiddleware
from mentora.emulator.faults import Fault, FaultMiddleware, Sleep
from mentora.emulator.httputil import api_error, oauth_error
from mentora.emulator.keys import KeyRing
from mentora.emulator.lifecycle import Lifecycle
from mentora.emulator.seed import seed_demo, seed_demo_experiences
from mentora.emulator.state import EmulatorState
from mentora.emulator.webhooks import WebhookRecord, WebhookSender


class Emulator:
    """A local, stateful stand-in for Whop: OAuth/OIDC, REST, webhooks, admin controls.

    `webhook_client` is the httpx client deliveries go through (tests pass one backed by
    an ASGI transport); by default the emulator creates its own. `clock` returns an aware
    UTC datetime and drives every expiry and timestamp the emulator produces; `sleep` is how
    an injected latency fault and a webhook retry wait (tests pass one that records the delay
    instead).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        webhook_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Build the state (seeded if configured), keys, webhook sender and ASGI app."""
        self.config = config or EmulatorConfig()
        self._clock = clock or utc_now
        self._sleep = sleep
        self.state = EmulatorState(self.config)
        self.keys = KeyRing()
        self.sender = WebhookSender(
            config=self.config,
            clock=self.now,
            log=self.state.webhooks,
            client=webhook_client,
            sleep=sleep,
        )
        self.lifecycle = Lifecycle(self.state, self.sender, self.now)
        if self.config.seed_demo:
            seed_demo(self.state, self.now())
            seed_demo_experiences(self.state, self.now(), app_id=self.config.client_id)
        self.app = self._build_app()

    def now(self) -> datetime:
        """Return the emulator clock's current time (must be timezone-aware)."""
        moment = self._clock()
        if moment.tzinfo is None:
            raise ValueError("the emulator clock must return an aware datetime")
        return moment

    async def flush_webhooks(self) -> None:
        """Wait until every queued webhook delivery, retries included, has finished."""
        await self.sender.flush()

    def call_count(self, path_prefix: str | None = None) -> int:
        """Return requests served on the OAuth/OIDC and REST endpoints (admin excluded)."""
        return self.state.faults.count(path_prefix)

    def reset_call_counts(self) -> None:
        """Zero the call counters."""
        self.state.faults.calls.clear()

    def mint_user_token(
        self,
        user_id: str,
        *,
        app_id: str | None = None,
        expires_in: int = 300,
        **overrides: Any,
    ) -> str:
        """Return an `x-whop-user-token` JWT as Whop's iframe proxy would add it.

        ES256 with the active kid; iss `urn:whopcom:exp-proxy`, aud the app id (a string),
        sub the user id. `overrides` replace or add claims (e.g. `iss=...` for negative tests).
        """
        issued_at = int(self.now().timestamp())
        claims: dict[str, Any] = {
            "iss": USER_TOKEN_ISSUER,
            "aud": app_id or self.config.client_id,
            "sub": user_id,
            "iat": issued_at,
            "exp": issued_at + expires_in,
        }
        claims.update(overrides)
        return self.keys.sign(claims)

    def rotate_signing_key(self) -> str:
        """Make a new ES256 key the signing key (old keys stay in the JWKS); return its kid."""
        return self.keys.rotate()

    def add_fault(
        self,
        path_prefix: str,
        *,
        status: int | None = None,
        latency: float = 0.0,
        retry_after: float | None = None,
        count: int | None = None,
    ) -> Fault:
        """Inject a fault for paths starting with `path_prefix` (next `count` calls, or all)."""
        fault = Fault(
            path_prefix=path_prefix,
            status=status,
            latency=latency,
            retry_after=retry_after,
            remaining=count,
        )
        return self.state.faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.state.faults.clear()

    def set_membership_status(
        self,
        membership_id: str,
        status: str | None = None,
        *,
        cancel_at_period_end: bool | None = None,
    ) -> list[WebhookRecord]:
        """Change a membership like the admin API does; needs a running loop to deliver."""
        return self.lifecycle.set_status(
            membership_id, status=status, cancel_at_period_end=cancel_at_period_end
        )

    def trigger(
        self,
        event_type: str,
        *,
        user_id: str,
        membership_id: str | None = None,
        status: str | None = None,
        amount: str | None = None,
        legacy: bool | None = None,
    ) -> WebhookRecord:
        """Send one supported event for a user, like `POST /_emulator/admin/trigger`."""
        return self.lifecycle.trigger(
            event_type,
            user_id=user_id,
            membership_id=membership_id,
            status=status,
            amount=amount,
            legacy=legacy,
        )

    async def reset(self) -> None:
        """Return to the starting world: state cleared, demo data re-seeded, keys kept."""
        self.state.reset()
        if self.config.seed_demo:
            seed_demo(self.state, self.now())
            seed_demo_experiences(self.state, self.now(), app_id=self.config.client_id)

    async def aclose(self) -> None:
        """Stop pending deliveries and close the emulator's own HTTP client."""
        await self.sender.aclose()

    def _build_app(self) -> Starlette:
        """Assemble the routes, error handlers and the counting/fault middleware."""

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            """Close the webhook client when the server stops."""
            yield
            await self.aclose()

        app = Starlette(
            routes=[
                *oidc.routes(self),
                *authorize.routes(self),
                *rest.routes(self),
                *admin.routes(self),
                *ui.routes(self),
            ],
            exception_handlers={HTTPException: _http_error},
            lifespan=lifespan,
        )
        app.add_middleware(FaultMiddleware, book=self.state.faults, sleep=self._sleep)
        app.add_middleware(ClockDateMiddleware, now=self.now)
        return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Render 404/405 in the error shape of the endpoint family that was asked."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if path.startswith(("/api/", "/_emulator/admin")):
        code = "not_found" if exc.status_code == 404 else "method_not_allowed"
        return api_error(exc.status_code, code, exc.detail)
    if path.startswith("/oauth/"):
        return oauth_error("invalid_request", exc.detail, exc.status_code)
    return PlainTextResponse(exc.detail, status_code=exc.status_code)
