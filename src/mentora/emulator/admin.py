"""The admin API under `/_emulator/admin`: JSON, no auth, for tests, the CLI and people.

It creates and changes objects (changes emit webhooks through the lifecycle), sends any
supported event on demand, and exposes what the emulator observed: the webhook log, call
counters and active faults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from mentora.emulator.admin_tenants import tenant_routes
from mentora.emulator.config import API_KEY_PERMISSIONS
from mentora.emulator.httputil import BadRequest, api_error, read_json
from mentora.emulator.lifecycle import SUPPORTED_EVENTS, TRIGGER_ALIASES
from mentora.emulator.records import Company, Product, User, iso
from mentora.emulator.shapes import membership_json
from mentora.emulator.state import StateError

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

Handler = Callable[[Request], Awaitable[Response]]


def _get(body: dict[str, Any], key: str, kind: type, default: Any = None) -> Any:
    """Read an optional field of the given JSON type (ints are accepted for floats)."""
    value = body.get(key, default)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"{key} must be a {kind.__name__}")
    return value


def _required(body: dict[str, Any], key: str) -> str:
    """Read a required string field."""
    value = _get(body, key, str)
    if not value:
        raise BadRequest(f"{key} is required")
    return str(value)


def user_admin_json(user: User) -> dict[str, Any]:
    """Return a user as the admin API lists it (email always included)."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "created_at": iso(user.created_at),
    }


def company_admin_json(company: Company) -> dict[str, Any]:
    """Return a company as the admin API lists it."""
    return {
        "id": company.id,
        "name": company.name,
        "route": company.route,
        "logo_url": company.logo_url,
        "admin_user_ids": list(company.admin_user_ids),
        "created_at": iso(company.created_at),
    }


def product_admin_json(product: Product) -> dict[str, Any]:
    """Return a product as the admin API lists it."""
    return {
        "id": product.id,
        "company_id": product.company_id,
        "title": product.title,
        "plan_id": product.plan_id,
        "price": product.price,
        "currency": product.currency,
    }


def _permissions_json(denied: set[str]) -> dict[str, list[str]]:
    """The API key's permissions as the admin API shows them."""
    return {
        "granted": sorted(API_KEY_PERMISSIONS - denied),
        "denied": sorted(denied),
    }


def guarded(handler: Handler) -> Handler:
    """Turn StateError/BadRequest into JSON errors so every handler stays linear."""

    async def wrapper(http: Request) -> Response:
        """Run the handler and map expected errors to responses."""
        try:
            return await handler(http)
        except StateError as exc:
            code = {404: "not_found", 409: "conflict"}.get(exc.status, "invalid_request")
            return api_error(exc.status, code, exc.message)
        except BadRequest as exc:
            return api_error(400, "invalid_request", str(exc))

    return wrapper


def routes(emu: Emulator) -> list[BaseRoute]:
    """Return the admin routes, mounted at `/_emulator/admin`."""
    state = emu.state

    async def list_users(http: Request) -> Response:
        """GET /users."""
        return JSONResponse({"data": [user_admin_json(u) for u in state.users.values()]})

    async def create_user(http: Request) -> Response:
        """POST /users {id?, username, name?, email?}."""
        body = await read_json(http)
        username = _required(body, "username")
        user = state.add_user(
            id=_get(body, "id", str),
            username=username,
            name=_get(body, "name", str, username),
            email=_get(body, "email", str, f"{username}@example.test"),
            now=emu.now(),
        )
        return JSONResponse(user_admin_json(user), status_code=201)

    async def list_companies(http: Request) -> Response:
        """GET /companies."""
        data = [company_admin_json(c) for c in state.companies.values()]
        return JSONResponse({"data": data})

    async def create_company(http: Request) -> Response:
        """POST /companies {id?, name, admin_user_ids?, logo_url?}."""
        body = await read_json(http)
        admins = _get(body, "admin_user_ids", list, [])
        company = state.add_company(
            id=_get(body, "id", str),
            name=_required(body, "name"),
            admin_user_ids=[str(a) for a in admins],
            now=emu.now(),
            logo_url=_get(body, "logo_url", str),
        )
        return JSONResponse(company_admin_json(company), status_code=201)

    async def list_products(http: Request) -> Response:
        """GET /products."""
        data = [product_admin_json(p) for p in state.products.values()]
        return JSONResponse({"data": data})

    async def create_product(http: Request) -> Response:
        """POST /products {company_id, id?, title, plan_id?, price?}."""
        body = await read_json(http)
        product = state.add_product(
            id=_get(body, "id", str),
            company_id=_required(body, "company_id"),
            title=_required(body, "title"),
            plan_id=_get(body, "plan_id", str),
            price=_get(body, "price", str, "10.00"),
            now=emu.now(),
        )
        return JSONResponse(product_admin_json(product), status_code=201)

    async def list_memberships(http: Request) -> Response:
        """GET /memberships (every membership, REST shape)."""
        data = [membership_json(state, m) for m in state.memberships.values()]
        return JSONResponse({"data": data})

    async def get_membership(http: Request) -> Response:
        """GET /memberships/{id}."""
        m = state.memberships.get(http.path_params["id"])
        if m is None:
            raise StateError(f"unknown membership {http.path_params['id']}", 404)
        return JSONResponse(membership_json(state, m))

    async def create_membership(http: Request) -> Response:
        """POST /memberships {user_id, product_id, status?, id?, emit?}; valid ones emit."""
        body = await read_json(http)
        membership, sent = emu.lifecycle.create_membership(
            id=_get(body, "id", str),
            user_id=_required(body, "user_id"),
            product_id=_required(body, "product_id"),
            status=_get(body, "status", str, "active"),
            cancel_at_period_end=_get(body, "cancel_at_period_end", bool, False),
            emit=_get(body, "emit", bool, True),
        )
        result = membership_json(state, membership)
        result["webhooks_sent"] = [r.id for r in sent]
        return JSONResponse(result, status_code=201)

    async def set_status(http: Request) -> Response:
        """POST /memberships/{id}/status {status?, cancel_at_period_end?}; emits events."""
        body = await read_json(http)
        status = _get(body, "status", str)
        flag = _get(body, "cancel_at_period_end", bool)
        if status is None and flag is None:
            raise BadRequest("send status and/or cancel_at_period_end")
        sent = emu.lifecycle.set_status(
            http.path_params["id"], status=status, cancel_at_period_end=flag
        )
        m = state.memberships[http.path_params["id"]]
        return JSONResponse(
            {
                "membership": membership_json(state, m),
                "webhooks_sent": [{"webhook_id": r.id, "type": r.type} for r in sent],
            }
        )

    async def membership_action(http: Request) -> Response:
        """POST /memberships/{id}/actions/{action}: activate, deactivate, cancel, ..."""
        membership_id = http.path_params["id"]
        sent = emu.lifecycle.apply_action(membership_id, http.path_params["action"])
        return JSONResponse(
            {
                "membership": membership_json(state, state.memberships[membership_id]),
                "webhooks_sent": [{"webhook_id": r.id, "type": r.type} for r in sent],
            }
        )

    async def trigger(http: Request) -> Response:
        """POST /trigger {type, user_id, membership_id?, product_id?, status?, amount?,
        legacy?}: send one event (`legacy`: the v2/v5 envelope instead of the configured)."""
        body = await read_json(http)
        record = emu.lifecycle.trigger(
            _required(body, "type"),
            user_id=_required(body, "user_id"),
            membership_id=_get(body, "membership_id", str),
            product_id=_get(body, "product_id", str),
            status=_get(body, "status", str),
            amount=_get(body, "amount", str),
            legacy=_get(body, "legacy", bool),
        )
        return JSONResponse({"webhook_id": record.id, "type": record.type, "body": record.payload})

    async def events(http: Request) -> Response:
        """GET /events: the event types /trigger supports, and the aliases it also takes."""
        return JSONResponse({"data": list(SUPPORTED_EVENTS), "aliases": list(TRIGGER_ALIASES)})

    async def webhooks(http: Request) -> Response:
        """GET /webhooks: every webhook sent, with each attempt and the final outcome."""
        if http.query_params.get("flush") in ("1", "true"):
            await emu.flush_webhooks()
        return JSONResponse({"data": [r.as_json() for r in state.webhooks]})

    async def hold_webhooks(http: Request) -> Response:
        """POST /webhooks/hold: make no delivery attempt until released (retries wait too)."""
        emu.sender.hold()
        return JSONResponse({"held": True})

    async def release_webhooks(http: Request) -> Response:
        """POST /webhooks/release: let held and new delivery attempts go out."""
        emu.sender.release()
        return JSONResponse({"held": False})

    async def calls(http: Request) -> Response:
        """GET /calls: requests served on the OAuth and REST endpoints, by path."""
        by_path = dict(sorted(state.faults.calls.items()))
        return JSONResponse({"total": emu.call_count(), "by_path": by_path})

    async def reset_calls(http: Request) -> Response:
        """DELETE /calls: zero the counters."""
        emu.reset_call_counts()
        return JSONResponse({"total": 0, "by_path": {}})

    async def list_faults(http: Request) -> Response:
        """GET /faults."""
        return JSONResponse({"data": [f.as_json() for f in state.faults.faults]})

    async def add_fault(http: Request) -> Response:
        """POST /faults {path_prefix, status?, latency?, retry_after?, count?}."""
        body = await read_json(http)
        fault = emu.add_fault(
            _required(body, "path_prefix"),
            status=_get(body, "status", int),
            latency=_get(body, "latency", float, 0.0),
            retry_after=_get(body, "retry_after", float),
            count=_get(body, "count", int),
        )
        return JSONResponse(fault.as_json(), status_code=201)

    async def clear_faults(http: Request) -> Response:
        """DELETE /faults."""
        emu.clear_faults()
        return JSONResponse({"data": []})

    async def reset(http: Request) -> Response:
        """POST /reset: back to the seeded world (signing keys are kept)."""
        await emu.reset()
        return JSONResponse({"ok": True})

    async def user_token(http: Request) -> Response:
        """POST /users/{id}/token {app_id?, expires_in?}: mint an x-whop-user-token."""
        body = await read_json(http)
        user_id = http.path_params["id"]
        if user_id not in state.users:
            raise StateError(f"unknown user {user_id}", 404)
        app_id = _get(body, "app_id", str) or emu.config.client_id
        expires_in = _get(body, "expires_in", int, 300)
        token = emu.mint_user_token(user_id, app_id=app_id, expires_in=expires_in)
        return JSONResponse({"token": token, "user_id": user_id, "app_id": app_id})

    async def rotate_key(http: Request) -> Response:
        """POST /keys/rotate: a new active signing key; the old one stays in the JWKS."""
        return JSONResponse({"kid": emu.rotate_signing_key()})

    async def permissions(http: Request) -> Response:
        """GET /api-key/permissions: what the API key may and may not do."""
        return JSONResponse(_permissions_json(state.denied_permissions))

    async def set_permissions(http: Request) -> Response:
        """POST /api-key/permissions {denied: [...]}: the permissions the key lacks from now."""
        body = await read_json(http)
        denied = _get(body, "denied", list, [])
        unknown = sorted(str(p) for p in denied if p not in API_KEY_PERMISSIONS)
        if unknown:
            raise BadRequest(
                f"unknown permission(s) {unknown}; known: {sorted(API_KEY_PERMISSIONS)}"
            )
        state.denied_permissions = {str(p) for p in denied}
        return JSONResponse(_permissions_json(state.denied_permissions))

    async def grants(http: Request) -> Response:
        """GET /grants: OAuth grants, to see what sign-ins and revocations did."""
        data = [
            {
                "id": g.id,
                "user_id": g.user_id,
                "client_id": g.client_id,
                "scope": g.scope,
                "company_id": g.company_id,
                "revoked": g.revoked,
                "refresh_tokens_issued": len(g.refresh_tokens),
            }
            for g in state.oauth.grants.values()
        ]
        return JSONResponse({"data": data})

    table: list[tuple[str, Handler, str]] = [
        ("/users", list_users, "GET"),
        ("/users", create_user, "POST"),
        ("/users/{id}/token", user_token, "POST"),
        ("/companies", list_companies, "GET"),
        ("/companies", create_company, "POST"),
        ("/products", list_products, "GET"),
        ("/products", create_product, "POST"),
        ("/memberships", list_memberships, "GET"),
        ("/memberships", create_membership, "POST"),
        ("/memberships/{id}", get_membership, "GET"),
        ("/memberships/{id}/status", set_status, "POST"),
        ("/memberships/{id}/actions/{action}", membership_action, "POST"),
        ("/trigger", trigger, "POST"),
        ("/events", events, "GET"),
        ("/webhooks", webhooks, "GET"),
        ("/webhooks/hold", hold_webhooks, "POST"),
        ("/webhooks/release", release_webhooks, "POST"),
        ("/calls", calls, "GET"),
        ("/calls", reset_calls, "DELETE"),
        ("/faults", list_faults, "GET"),
        ("/faults", add_fault, "POST"),
        ("/faults", clear_faults, "DELETE"),
        ("/reset", reset, "POST"),
        ("/keys/rotate", rotate_key, "POST"),
        ("/grants", grants, "GET"),
        ("/api-key/permissions", permissions, "GET"),
        ("/api-key/permissions", set_permissions, "POST"),
        *tenant_routes(emu),
    ]
    inner = [Route(path, guarded(fn), methods=[method]) for path, fn, method in table]
    return [Mount("/_emulator/admin", routes=inner)]
