"""Every dependency the routes use is a coroutine function.

FastAPI runs a plain `def` dependency on a worker thread. One such dependency on the webhook
route cost more CPU than the route's own work (a thread round trip per request), so this is
a performance regression guard that needs no timing.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mentora.app import ROUTERS
from mentora.web.routes.dev import dev_only

# Development pages only: never on a hot path.
ALLOWED_SYNC = {dev_only}


def _calls(dependant: Dependant) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None:
            found.append(sub.call)
        found.extend(_calls(sub))
    return found


def _is_async(call: Any) -> bool:
    if inspect.isfunction(call) or inspect.ismethod(call):
        return inspect.iscoroutinefunction(call)
    return inspect.iscoroutinefunction(type(call).__call__)  # a callable instance


def test_route_dependencies_are_async() -> None:
    """No route depends on a sync function (other than dev-only pages)."""
    routes = [route for router in ROUTERS for route in router.routes]
    assert any(route.path == "/api/whop/webhooks" for route in routes)
    sync = {
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        if isinstance(route, APIRoute)
        for call in _calls(route.dependant)
        if call not in ALLOWED_SYNC and not _is_async(call)
    }
    assert not sync, sorted(sync)
