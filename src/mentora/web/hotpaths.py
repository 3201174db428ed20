"""The app, with its hot paths served past the framework's per-request layers.

Whop's deliveries and the gated content API carry the volume, and a sign-in's two requests
(start and callback) come in bursts on a launch day; each of their requests paid for
Starlette's and FastAPI's outer layers (FastAPI's telemetry check, which reads the environment
on every request, the server-error, telemetry and body-limit middleware, the exit stack, a
match attempt per router) as much as for verifying a signature (issue 17's profile). A request
for one of the exact (method, path) pairs registered with `serve_hot` goes to its endpoint
through the app's own middleware (`RequestContextMiddleware`: request id, audit context,
headers, body cap, access log, the last-resort 500) and the app's own exception handlers, and
nothing else. Anything else, including another method on the same path, goes through the whole
app as before, so 404, 405 and `HEAD` answers do not change. A hot path keeps its route too:
OpenAPI and the route audits (M01) read the routes, not the lanes. FastAPI's native
OpenTelemetry tracing (off unless a tracer provider is configured; Mentora configures none)
does not see the lanes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class MentoraApp(FastAPI):
    """FastAPI serving its hot paths by lanes of their own (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        """As FastAPI; no hot paths until `serve_hot`."""
        super().__init__(**kwargs)
        self._hot: dict[tuple[str, str], ASGIApp] = {}
        self._lanes: dict[tuple[str, str], ASGIApp] = {}

    def serve_hot(self, method: str, path: str, endpoint: ASGIApp) -> None:
        """Serve `method` on the exact `path` by `endpoint` in a lane of its own. The path's
        route stays registered (OpenAPI, route audits, other methods) and must serve the same
        endpoint. Before the first request: the lanes are built with the stack, once."""
        self._hot[(method, path)] = endpoint

    def build_middleware_stack(self) -> ASGIApp:
        """The whole stack, as FastAPI builds it; and beside it the lanes, each its endpoint
        inside the app's exception handlers and user middleware, built with the same
        arguments as the whole stack's."""
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
        self._lanes = lanes
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A hot path straight to its lane (with the scope keys Starlette's app and router
        would have set: `url_for` reads the router); anything else through the whole app.
        Not under a root path: the exact path would no longer name the request."""
        if scope["type"] == "http" and not scope.get("root_path") and not self.root_path:
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            lane = self._lanes.get((scope["method"], scope["path"]))
            if lane is not None:
                scope["app"] = self
                scope["router"] = self.router
                await lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
