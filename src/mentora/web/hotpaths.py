"""The app, with its hot paths served past the framework's per-request layers.

Whop's deliveries and the gated content API carry the volume; each of their requests paid for
Starlette's and FastAPI's outer layers (server-error, telemetry and body-limit middleware, the
exit stack, a match attempt per router) as much as for verifying a signature (issue 17's
profile). A request for one of the exact (method, path) pairs registered with `serve_hot` goes
to its endpoint through the app's own middleware (`RequestContextMiddleware`: request id, audit
context, headers, body cap, access log, the last-resort 500) and the app's own exception
handlers, and nothing else. Anything else, including another method on the same path, goes
through the whole app as before, so 404, 405 and `HEAD` answers do not change. A hot path keeps
its route too: OpenAPI and the route audits (M01) read the routes, not the lanes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class HotPaths:
    """An ASGI app: (method, path) pairs served by their own short stacks, the rest by `app`."""

    def __init__(self, app: ASGIApp, lanes: dict[tuple[str, str], ASGIApp], router: Any) -> None:
        """`lanes` by (method, exact path); `router` is set on their scopes as the router's
        own dispatch would (`url_for` reads it)."""
        self.app = app
        self.lanes = lanes
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a hot path by its lane, anything else by the whole app."""
        if scope["type"] == "http" and not scope.get("root_path"):
            lane = self.lanes.get((scope["method"], scope["path"]))
            if lane is not None:
                scope["router"] = self.router
                await lane(scope, receive, send)
                return
        await self.app(scope, receive, send)


class MentoraApp(FastAPI):
    """FastAPI whose middleware stack serves its hot paths by their own lanes (`HotPaths`)."""

    def __init__(self, **kwargs: Any) -> None:
        """As FastAPI; no hot paths until `serve_hot`."""
        super().__init__(**kwargs)
        self._hot: dict[tuple[str, str], ASGIApp] = {}

    def serve_hot(self, method: str, path: str, endpoint: ASGIApp) -> None:
        """Serve `method` on the exact `path` by `endpoint` in a lane of its own. The path's
        route stays registered (OpenAPI, route audits, other methods) and must serve the same
        endpoint. Before the first request: the stack is built once."""
        self._hot[(method, path)] = endpoint

    def build_middleware_stack(self) -> ASGIApp:
        """The whole stack, behind a `HotPaths` that passes the hot paths to their lanes:
        each lane is its endpoint inside the app's exception handlers and user middleware,
        built with the same arguments as the whole stack's."""
        stack = super().build_middleware_stack()
        handlers = {
            key: handler
            for key, handler in self.exception_handlers.items()
            if key not in (500, Exception)  # the server-error layer's, not the lane's
        }
        lanes: dict[tuple[str, str], ASGIApp] = {}
        for key, endpoint in self._hot.items():
            lane: ASGIApp = ExceptionMiddleware(endpoint, handlers=handlers)
            for cls, args, kwargs in reversed(self.user_middleware):
                lane = cls(lane, *args, **kwargs)
            lanes[key] = lane
        return HotPaths(stack, lanes, self.router)
