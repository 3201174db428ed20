"""Hot paths (web/hotpaths.py): an exact (method, path) pair is served by its lane, inside the
app's own middleware and exception handlers; every other request goes through the whole app."""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from mentora.errors import MentoraError
from mentora.web.hotpaths import MentoraApp
from mentora.web.middleware import RequestContextMiddleware, SecurityHeaders


class Refused(MentoraError):
    """An error the app's handler answers."""

    code = "refused_here"
    status = 409
    public_message = "Refused."


async def lane_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers which way the request came, or raises what the query asks for."""
    query = scope.get("query_string", b"")
    if query == b"refuse":
        raise Refused("refused")
    if query == b"crash":
        raise RuntimeError("a bug")
    await JSONResponse({"served_by": "lane", "router": "router" in scope})(scope, receive, send)


async def route_endpoint(request: Request) -> Response:
    """The path's route, reached only through the whole app."""
    return JSONResponse({"served_by": "route"})


async def handle_refused(request: Request, exc: Exception) -> Response:
    """The app's handler for `Refused`."""
    assert isinstance(exc, MentoraError)
    return JSONResponse({"error": exc.code}, status_code=exc.status)


def build() -> MentoraApp:
    """An app with one route on /hot for POST and GET, POST served by a lane."""
    app = MentoraApp(redirect_slashes=False)
    app.add_route("/hot", route_endpoint, methods=["POST", "GET"])
    app.add_exception_handler(Refused, handle_refused)
    app.add_middleware(
        RequestContextMiddleware,
        headers=SecurityHeaders(production=False, frame_ancestors="'none'", form_action="x"),
        trusted_proxies=frozenset(),
    )
    app.serve_hot("POST", "/hot", lane_endpoint)
    return app


def client(app: MentoraApp, root_path: str = "") -> httpx.AsyncClient:
    """A client of `app` in this process."""
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_the_hot_method_and_path_go_to_the_lane_inside_the_middleware() -> None:
    """POST /hot is answered by the lane, with the middleware's request id and headers."""
    async with client(build()) as http:
        response = await http.post("/hot")
    assert response.json() == {"served_by": "lane", "router": True}
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_other_methods_paths_and_mounts_go_through_the_whole_app() -> None:
    """GET on the same path reaches its route, an unknown path is a 404, and under a root
    path the lane is not used (its exact path no longer names the request)."""
    app = build()
    async with client(app) as http:
        assert (await http.get("/hot")).json() == {"served_by": "route"}
        assert (await http.post("/hot/")).status_code == 404
        assert (await http.put("/hot")).status_code == 405
    async with client(app, root_path="/prefix") as http:
        assert (await http.post("/prefix/hot")).json() == {"served_by": "route"}


async def test_the_lane_answers_errors_with_the_apps_handlers() -> None:
    """An error raised in the lane gets the app's handler; a bug gets the middleware's 500
    with its request id, never a traceback."""
    async with client(build()) as http:
        refused = await http.post("/hot?refuse")
        crashed = await http.post("/hot?crash")
    assert refused.status_code == 409
    assert refused.json() == {"error": "refused_here"}
    assert refused.headers["x-request-id"]
    assert crashed.status_code == 500
    assert "a bug" not in crashed.text
    assert crashed.headers["x-request-id"]
