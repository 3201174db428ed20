"""The transport under every outbound HTTP call to Whop: httpx's API, aiohttp's connections.

Every call that reaches Whop speaks httpx (whop-sdk, the token endpoint's requests, our
discovery, JWKS and userinfo calls) through one client (whop.http) on one transport. httpx's
own transport (httpcore on anyio) costs about twice the CPU of aiohttp's client per request:
2.47 M against 1.26 M instructions per call under callgrind, and 40 % of a sign-in's profile.
So httpx stays the API and the bytes go through aiohttp. whop-sdk ships the same idea as its
`aiohttp` extra (httpx-aiohttp); that adapter is not used because it lets some aiohttp errors
escape unmapped (a malformed response), reports a refused connection as a timeout, and keeps
its session on the first event loop that used it.

What httpx's transport promised and this one keeps:
- one request per call: redirects are httpx's to follow, and our client follows none (C18);
  the one exception is aiohttp's own: a GET whose connection the server dropped without an
  answer (a pooled connection gone stale) is sent once more. A POST never is, so a code
  exchange is never retried (C12);
- no proxy and no cookie store of its own: the environment's proxy variables are ignored, as
  they were for our explicit httpx transport, and a cookie one user's call received is never
  sent on another's (the client above keeps none either: whop.http);
- the request's timeouts: connect, each socket read, and the pool's (in aiohttp it bounds
  waiting for a pooled connection and opening one together);
- TLS verified against the same CA bundle (`httpx.create_ssl_context`);
- every failure an `httpx.TransportError`, so callers go on catching `httpx.HTTPError`;
- bodies passed on as received: httpx decodes them by Content-Encoding.

Each answer is read whole before it is returned (every Whop answer we ask for is a small JSON
document), which releases the connection to the pool at once.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from yarl import URL

# httpx's defaults for its own pool, kept: at most this many connections, each idle one
# closed after this many seconds.
MAX_CONNECTIONS = 100
KEEPALIVE_SECONDS = 5.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request with one pooled aiohttp session per loop."""

    def __init__(
        self,
        *,
        max_connections: int = MAX_CONNECTIONS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        """Remember the pool's limits; the session is opened by the first request."""
        self._max_connections = max_connections
        self._keepalive_seconds = keepalive_seconds
        self._ssl = httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        """The pool for the running loop: a session belongs to the loop it was opened in, and a
        process may run several in turn (a CLI command, a test)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive_seconds,
                    ssl=self._ssl,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
            )
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request as httpx built it and return the whole answer."""
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        session = self._session_for_this_loop()
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _as_httpx(exc, request) from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=httpx.ByteStream(content),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close the pool's connections (the running loop's session)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _as_httpx(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for the same failure."""
    message = f"{type(exc).__name__}: {exc}"
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.SocketTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, TimeoutError):
        kind = httpx.TimeoutException
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        kind = httpx.ReadError
    else:
        kind = httpx.TransportError
    return kind(message, request=request)
