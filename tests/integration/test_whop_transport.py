"""AiohttpTransport keeps httpx's transport promises, proved against real loopback servers.

Each test starts a raw `asyncio.start_server` on 127.0.0.1 (port 0) whose handler reads and
writes the bytes itself, and talks to it through `httpx.AsyncClient(transport=AiohttpTransport())`
built as src/mentora/foundation.py builds it: nothing is mocked.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import socket
import ssl
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mentora.foundation import build_foundation
from mentora.whop.http import CookielessClient
from mentora.whop.transport import AiohttpTransport
from tests.support.env import make_settings
from tests.support.rawserver import (
    HOST,
    Handler,
    RawRequest,
    Server,
    keep_alive,
    read_request,
    response_bytes,
    serve,
)


async def take_request(record: Server, reader: asyncio.StreamReader) -> RawRequest:
    """Read the one request a client sends on this connection and record it."""
    request = await read_request(reader)
    assert request is not None
    record.requests.append(request)
    return request


async def call(base_url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request through a client of its own on a transport of its own, both closed after."""
    http = client(AiohttpTransport(), base_url)
    try:
        return await http.request(method, path, **kwargs)
    finally:
        await http.aclose()


async def failing_call(
    handler: Handler, expected: type[httpx.HTTPError], method: str, path: str, **kwargs: Any
) -> tuple[httpx.HTTPError, Server]:
    """One request to a server running `handler`: the error it raised, which must be
    `expected`, and the server's record."""
    async with serve(handler) as server:
        with pytest.raises(expected) as caught:
            await call(server.base_url, method, path, **kwargs)
    return caught.value, server


def client(
    transport: httpx.AsyncBaseTransport, base_url: str, timeout: float = 10.0
) -> httpx.AsyncClient:
    """An httpx client built as the app builds it (src/mentora/foundation.py)."""
    return CookielessClient(
        transport=transport,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=5.0),
        follow_redirects=False,
    )


def ok_json(_: RawRequest) -> bytes:
    """A small JSON 200."""
    return response_bytes(200, "OK", [("Content-Type", "application/json")], b'{"ok": true}')


async def test_request_bytes_reach_the_server_as_httpx_built_them() -> None:
    """A GET's query bytes and headers, and a form POST's body and Content-Length, arrive intact."""
    async with serve(keep_alive(ok_json)) as server:
        http = client(AiohttpTransport(), server.base_url)
        try:
            got = await http.get(
                "/v5/items?a=x%2Fy&b=1+2&c=hello%20world", headers={"X-Custom": "kept as-is"}
            )
            posted = await http.post("/oauth/token", data={"name": "a b", "path": "1/2"})
        finally:
            await http.aclose()

    assert got.status_code == 200
    assert posted.status_code == 200
    host = f"{HOST}:{server.port}".encode()
    get, post = server.requests

    assert get.method == b"GET"
    assert get.target == b"/v5/items?a=x%2Fy&b=1+2&c=hello%20world"
    assert get.version == b"HTTP/1.1"
    assert get.values(b"host") == [host]
    assert get.values(b"x-custom") == [b"kept as-is"]
    assert get.values(b"content-length") == []
    assert get.values(b"transfer-encoding") == []
    assert get.body == b""

    body = b"name=a+b&path=1%2F2"
    assert post.method == b"POST"
    assert post.target == b"/oauth/token"
    assert post.values(b"host") == [host]
    assert post.values(b"content-type") == [b"application/x-www-form-urlencoded"]
    assert post.values(b"content-length") == [str(len(body)).encode()]
    assert post.values(b"transfer-encoding") == []
    assert post.body == body


async def test_redirect_is_returned_not_followed() -> None:
    """A 302 reaches the caller as a 302 with its Location and the server's own reason phrase;
    the server sees exactly one request."""

    def redirect(_: RawRequest) -> bytes:
        return response_bytes(302, "Gone Over There", [("Location", "/elsewhere")])

    async with serve(keep_alive(redirect)) as server:
        response = await call(server.base_url, "GET", "/start")

    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert response.reason_phrase == "Gone Over There"
    assert response.http_version == "HTTP/1.1"
    assert [r.target for r in server.requests] == [b"/start"]


async def test_gzip_body_is_decoded_by_httpx() -> None:
    """A Content-Encoding: gzip body arrives decoded in response.json()."""
    document = {"id": "user_1", "names": ["ä", "b"] * 50}

    def gzipped(_: RawRequest) -> bytes:
        return response_bytes(
            200,
            "OK",
            [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
            gzip.compress(json.dumps(document).encode()),
        )

    async with serve(keep_alive(gzipped)) as server:
        response = await call(server.base_url, "GET", "/me")

    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == document


async def test_a_cookie_whop_sets_is_never_sent_back() -> None:
    """A cookie set on one response is sent by no later request: not by another client on the
    same transport, nor by the client that received it (one client serves every user)."""

    def set_cookie(request: RawRequest) -> bytes:
        headers = [("Set-Cookie", "session=secret; Path=/")] if request.target == b"/login" else []
        return response_bytes(200, "OK", headers)

    async with serve(keep_alive(set_cookie)) as server:
        transport = AiohttpTransport()
        # By name: aiohttp's own cookie store would refuse a cookie from an IP address anyway.
        by_name = f"http://localhost:{server.port}"
        first = client(transport, by_name)
        second = client(transport, by_name)
        try:
            login = await first.get("/login")
            await second.get("/other")
            await first.get("/mine")
        finally:
            await first.aclose()
            await second.aclose()

    assert login.headers["set-cookie"] == "session=secret; Path=/"
    assert [request.values(b"cookie") for request in server.requests] == [[], [], []]
    assert len(first.cookies) == 0


async def test_the_apps_client_keeps_no_cookie_between_users(tmp_path: Path) -> None:
    """The one client the app builds for Whop's API and userinfo (foundation) sends no cookie
    a previous response set: user A's cookie never rides on user B's call."""

    def set_cookie(request: RawRequest) -> bytes:
        return response_bytes(200, "OK", [("Set-Cookie", "cf=abc; Path=/")])

    base = build_foundation(make_settings(f"sqlite:///{tmp_path}/app.db"))
    try:
        async with serve(keep_alive(set_cookie)) as server:
            by_name = f"http://localhost:{server.port}"
            await base.http.get(f"{by_name}/userinfo", headers={"authorization": "Bearer a"})
            await base.http.get(f"{by_name}/userinfo", headers={"authorization": "Bearer b"})
    finally:
        await base.aclose()
    assert [request.values(b"cookie") for request in server.requests] == [[], []]


def test_the_client_refuses_cookies_given_to_it() -> None:
    """Cookies cannot be put in the client's store, at construction or later."""
    http = client(AiohttpTransport(), "http://localhost")
    with pytest.raises(TypeError, match="keeps no cookies"):
        http.cookies.set("session", "secret")
    with pytest.raises(TypeError, match="keeps no cookies"):
        http.cookies = {"session": "secret"}
    with pytest.raises(TypeError, match="keeps no cookies"):
        CookielessClient(cookies={"session": "secret"})
    assert len(http.cookies) == 0


async def test_what_the_short_send_skips_still_works_when_asked_for() -> None:
    """The client's short send is httpx's when a call asks for more than Whop's calls do: an
    auth flow, event hooks, redirects followed; a closed client refuses to send."""

    def answer(request: RawRequest) -> bytes:
        if request.target == b"/old":
            return response_bytes(302, "Found", [("Location", "/new")])
        return ok_json(request)

    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with serve(keep_alive(answer)) as server:
        http = client(AiohttpTransport(), server.base_url)
        try:
            await http.get("/auth", auth=("app", "pw"))
            followed = await http.get("/old", follow_redirects=True)
            plain = await http.get("/old")
            http.event_hooks = {"request": [hook], "response": []}
            await http.get("/hooked")
        finally:
            await http.aclose()
        closed = client(AiohttpTransport(), server.base_url)
        await closed.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await closed.get("/late")

    assert server.requests[0].values(b"authorization") == [b"Basic YXBwOnB3"]
    assert (followed.status_code, followed.url.path) == (200, "/new")
    assert [r.target for r in server.requests[1:]] == [b"/old", b"/new", b"/old", b"/hooked"]
    assert plain.status_code == 302 and plain.request.url.path == "/old"
    assert seen == ["/hooked"]


async def test_sequential_requests_reuse_one_connection() -> None:
    """Two sequential requests through one client travel over one TCP connection, which
    closing the client (and so its transport) closes."""
    closed = asyncio.Event()

    async def answer_until_closed(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await keep_alive(ok_json)(record, reader, writer)
        closed.set()  # the client closed the connection

    async with serve(answer_until_closed) as server:
        http = client(AiohttpTransport(), server.base_url)
        try:
            first = await http.get("/one")
            second = await http.get("/two")
        finally:
            await http.aclose()
        await asyncio.wait_for(closed.wait(), timeout=5)

    assert (first.status_code, second.status_code) == (200, 200)
    assert [r.target for r in server.requests] == [b"/one", b"/two"]
    assert server.connections == 1


async def test_refused_connection_raises_connect_error() -> None:
    """A refused connection raises httpx.ConnectError, an httpx.HTTPError."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]

    with pytest.raises(httpx.ConnectError) as caught:
        await call(f"http://{HOST}:{port}", "GET", "/")

    assert isinstance(caught.value, httpx.HTTPError)
    assert str(caught.value).startswith("ClientConnectorError")
    assert caught.value.request.url == httpx.URL(f"http://{HOST}:{port}/")


async def hang_up(
    record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Read one request, record it, and close the connection without answering."""
    await take_request(record, reader)
    writer.close()
    await writer.wait_closed()


async def test_close_without_answer_raises_remote_protocol_error() -> None:
    """A server that reads the request and hangs up unanswered raises httpx.RemoteProtocolError."""
    error, server = await failing_call(hang_up, httpx.TransportError, "GET", "/silence")
    assert isinstance(error, httpx.HTTPError)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert server.requests != []


async def test_unanswered_post_is_not_sent_again() -> None:
    """A POST the server hung up on unanswered is sent once, never resent: a code exchange is
    single-use and never retried (C12)."""
    _, server = await failing_call(
        hang_up, httpx.RemoteProtocolError, "POST", "/token", data={"code": "once"}
    )
    assert [r.target for r in server.requests] == [b"/token"]
    assert server.connections == 1


async def test_unanswered_get_is_sent_at_most_once_more() -> None:
    """A GET the server hung up on unanswered is sent once more (aiohttp's retry of a dropped
    connection, harmless for a read), then fails: never a third time."""
    _, server = await failing_call(hang_up, httpx.RemoteProtocolError, "GET", "/silence")
    assert [r.target for r in server.requests] == [b"/silence", b"/silence"]


async def test_malformed_status_line_raises_remote_protocol_error() -> None:
    """A malformed status line raises httpx.RemoteProtocolError."""

    async def garbage(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await take_request(record, reader)
        writer.write(b"garbage\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client drops the connection it cannot parse

    error, _ = await failing_call(garbage, httpx.RemoteProtocolError, "GET", "/")
    assert isinstance(error, httpx.HTTPError)


async def test_silent_server_raises_read_timeout() -> None:
    """A server that never answers raises httpx.ReadTimeout after the read timeout."""
    release = asyncio.Event()
    received = asyncio.Event()

    async def silent(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await take_request(record, reader)
        received.set()
        await release.wait()

    async with serve(silent) as server:
        http = client(AiohttpTransport(), server.base_url, timeout=0.3)
        try:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await http.get("/slow")
        finally:
            release.set()
            await http.aclose()

    assert received.is_set()
    assert isinstance(caught.value, httpx.HTTPError)
    assert [r.target for r in server.requests] == [b"/slow"]


async def test_truncated_body_raises_transport_error() -> None:
    """A body cut short of its Content-Length raises an httpx.TransportError."""

    async def truncated(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await take_request(record, reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"0123456789")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    error, _ = await failing_call(truncated, httpx.TransportError, "GET", "/short")
    assert isinstance(error, httpx.HTTPError)
    assert isinstance(error, httpx.ReadError | httpx.RemoteProtocolError)


def test_one_transport_serves_two_event_loops_in_turn() -> None:
    """One transport answers from two event loops run in turn, and aclose works after each."""
    transport = AiohttpTransport()

    async def one_round(path: str) -> tuple[int, dict[str, bool], list[bytes]]:
        async with serve(keep_alive(ok_json)) as server:
            http = client(transport, server.base_url)
            try:
                response = await http.get(path)
            finally:
                await http.aclose()
                await transport.aclose()
        return response.status_code, response.json(), [r.target for r in server.requests]

    assert asyncio.run(one_round("/first")) == (200, {"ok": True}, [b"/first"])
    assert asyncio.run(one_round("/second")) == (200, {"ok": True}, [b"/second"])


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, and the key: (cert, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mentora test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def serve_tls(cert_file: Path, key_file: Path) -> AbstractAsyncContextManager[Server]:
    """`serve(keep_alive(ok_json))` behind TLS with the given certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return serve(keep_alive(ok_json), tls=context)


async def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    """TLS is verified: a server whose certificate no trusted CA signed gets no request, and the
    call fails with httpx.ConnectError."""
    cert_file, key_file = _self_signed(tmp_path)
    async with serve_tls(cert_file, key_file) as server:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await call(f"https://{HOST}:{server.port}", "GET", "/")
    assert server.requests == []


async def test_a_trusted_certificate_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA bundle is httpx's (SSL_CERT_FILE honoured): trusting the server's certificate
    there lets the call through TLS, hostname checked against the certificate."""
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    async with serve_tls(cert_file, key_file) as server:
        response = await call(f"https://{HOST}:{server.port}", "GET", "/over-tls")
    assert response.json() == {"ok": True}
    assert [r.target for r in server.requests] == [b"/over-tls"]


async def test_proxy_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables in the environment do not reroute a call to Whop: the request reaches
    its host and the would-be proxy sees no connection (as with httpx's explicit transport)."""
    async with serve(keep_alive(ok_json)) as target, serve(keep_alive(ok_json)) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        response = await call(target.base_url, "GET", "/direct")
    assert response.status_code == 200
    assert [r.target for r in target.requests] == [b"/direct"]
    assert proxy.connections == 0


async def test_the_pool_limit_holds_and_its_wait_times_out() -> None:
    """With every pooled connection busy, a further call waits at most the pool timeout and
    fails with an httpx timeout; no connection beyond the limit is opened."""
    received = asyncio.Event()
    release = asyncio.Event()

    async def held(
        record: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await read_request(reader)) is not None:
            record.requests.append(request)
            received.set()
            await release.wait()
            writer.write(ok_json(request))
            await writer.drain()

    async with serve(held) as server:
        http = httpx.AsyncClient(
            transport=AiohttpTransport(max_connections=1),
            base_url=server.base_url,
            timeout=httpx.Timeout(10.0, connect=5.0, pool=0.3),
        )
        try:
            first = asyncio.create_task(http.get("/first"))
            await received.wait()
            with pytest.raises(httpx.TimeoutException):
                # Bounded here too, so a transport that ignored the pool timeout fails the
                # test instead of waiting for the first call forever.
                await asyncio.wait_for(http.get("/second"), timeout=5)
            release.set()
            assert (await first).status_code == 200
        finally:
            release.set()
            await http.aclose()
    assert server.connections == 1


def test_a_loop_that_ended_without_closing_leaves_the_next_one_a_working_pool() -> None:
    """A process that runs one loop after another (CLI commands, tests) gets a fresh pool in
    each, even when the loop before ended without closing the transport."""
    transport = AiohttpTransport()

    async def one_round(path: str) -> tuple[int, list[bytes]]:
        async with serve(keep_alive(ok_json)) as server:
            http = client(transport, server.base_url)
            response = await http.get(path)
        return response.status_code, [r.target for r in server.requests]

    assert asyncio.run(one_round("/first")) == (200, [b"/first"])
    assert asyncio.run(one_round("/second")) == (200, [b"/second"])

    async def close() -> None:
        await transport.aclose()

    asyncio.run(close())
