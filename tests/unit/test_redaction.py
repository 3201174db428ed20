"""L02: every secret shape the redaction knows is removed, by `scrub_text`, by the structlog
processor `redact` and by the stdlib path (`RedactingFilter`, then our formatter), each shape
on its own so that deleting one pattern fails a test."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from mentora.logging import stdlib_formatter
from mentora.redaction import REDACTED, AccessLineFilter, RedactingFilter, redact, scrub_text

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlX2J5dGVz"
WEBHOOK_SECRET = "ws_live_9f8e7d6c5b4a"
SIGNATURE = "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="
BEARER = "Bearer opaque.Access~Token+9/="
QUERY_CODE = "code=CANARYCODE1"

# (secret-bearing text, the secret itself, what must stand in its place)
SHAPES = [
    pytest.param(f"verified {JWT} ok", JWT, f"verified {REDACTED} ok", id="jwt"),
    pytest.param(
        f"secret {WEBHOOK_SECRET} rotated", WEBHOOK_SECRET, f"secret {REDACTED} rotated", id="ws"
    ),
    pytest.param(
        f"header {SIGNATURE} refused", SIGNATURE, f"header {REDACTED} refused", id="v1-signature"
    ),
    pytest.param(
        f"sent {BEARER} upstream",
        "opaque.Access~Token+9/=",
        f"sent Bearer {REDACTED} upstream",
        id="bearer",
    ),
    pytest.param(
        f"GET /cb?{QUERY_CODE}&x=1", "CANARYCODE1", f"GET /cb?code={REDACTED}&x=1", id="query"
    ),
]


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES)
def test_l02_scrub_text_removes_each_secret_shape(text: str, secret: str, expected: str) -> None:
    """`scrub_text` replaces each secret shape and keeps the words around it."""
    assert scrub_text(text) == expected
    assert secret not in scrub_text(text)


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES)
def test_l02_redact_processor_scrubs_each_shape_in_event_and_fields(
    text: str, secret: str, expected: str
) -> None:
    """The structlog processor scrubs the event, plain fields, nested dicts and lists."""
    event = {"event": text, "detail": text, "nested": {"note": text}, "items": [text]}
    out = redact(None, "info", event)
    assert out == {
        "event": expected,
        "detail": expected,
        "nested": {"note": expected},
        "items": [expected],
    }


def _written(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON line the stdlib handler writes for `record`: filter, then formatter."""
    RedactingFilter().filter(record)
    line: dict[str, Any] = json.loads(stdlib_formatter("json").format(record))
    return line


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES)
def test_l02_stdlib_filter_scrubs_each_shape_in_message_and_args(
    text: str, secret: str, expected: str
) -> None:
    """Third-party records are scrubbed after their %-arguments are rendered."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "%s", (text,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == expected
    assert _written(record)["event"] == expected


def test_l02_stdlib_filter_scrubs_the_traceback() -> None:
    """A secret inside an exception's message is scrubbed from the formatted traceback."""
    try:
        raise RuntimeError(f"upstream said {WEBHOOK_SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    written = _written(record)
    assert "RuntimeError" in written["exception"]
    assert WEBHOOK_SECRET not in json.dumps(written) and REDACTED in written["exception"]


def test_l02_sensitive_keys_are_replaced_and_safe_keys_kept() -> None:
    """Values under sensitive keys go whatever they look like; listed metadata keys stay."""
    out = redact(
        None,
        "info",
        {"event": "x", "access_token": "plain", "Cookie": "a=b", "status_code": 200, "kind": "k"},
    )
    assert out == {
        "event": "x",
        "access_token": REDACTED,
        "Cookie": REDACTED,
        "status_code": 200,
        "kind": "k",
    }


def test_l04_control_characters_are_escaped() -> None:
    """CR, LF and other control characters become visible escapes: one event, one line."""
    assert scrub_text("a\r\nb\x00c\x7f") == "a\\x0d\\x0ab\\x00c\\x7f"


def test_l02_text_without_secrets_is_unchanged() -> None:
    """Near-misses of each shape are left alone, so logs stay readable."""
    text = "eyJshort.x.y ws_abc v1,short code status=ok"
    assert scrub_text(text) == text


def test_l02_sensitive_keys_inside_nested_dicts_are_replaced() -> None:
    """A sensitive key one level down is judged by its own name."""
    out = redact(None, "info", {"event": "x", "response": {"refresh_token": "plain", "n": 1}})
    assert out["response"] == {"refresh_token": REDACTED, "n": 1}


def test_l02_an_event_that_is_not_text_is_rendered_then_scrubbed() -> None:
    """An exception passed as the event becomes its scrubbed text, never the raw object."""
    out = redact(None, "error", {"event": RuntimeError(f"upstream said {WEBHOOK_SECRET}")})
    assert out["event"] == f"upstream said {REDACTED}"


def test_l02_stdlib_filter_scrubs_a_message_whose_arguments_do_not_fit() -> None:
    """When %-formatting fails, the raw message is still scrubbed (not dropped, not leaked)."""
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, f"sent {WEBHOOK_SECRET} %s %s", ("one",), None
    )
    RedactingFilter().filter(record)
    assert record.msg == f"sent {REDACTED} %s %s" and record.args is None


def test_l02_stdlib_filter_scrubs_an_exception_without_traceback() -> None:
    """exc_info whose traceback is None (built by hand, not raised) is still scrubbed."""
    error = RuntimeError(f"upstream said {WEBHOOK_SECRET}")
    record = logging.LogRecord(
        "httpx", logging.ERROR, __file__, 1, "failed", None, (RuntimeError, error, None)
    )
    written = _written(record)
    assert written["exception"] == f"RuntimeError: upstream said {REDACTED}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("127.0.0.1:5000", "GET", "/api/whop/callback?code=C&state=S", "1.1", 400),
            ("127.0.0.1:5000", "GET", "/api/whop/callback", "1.1", 400),
        ),
        (
            ("127.0.0.1:5000", "GET", "/plain", "1.1", 200),
            ("127.0.0.1:5000", "GET", "/plain", "1.1", 200),
        ),
        (("GET", "HTTP", "/cb?code=C"), ("GET", "HTTP", "/cb")),
        (("h", "GET", "/cb?code=C?state=S", "1.1", 400), ("h", "GET", "/cb", "1.1", 400)),
        (("only", "two"), ("only", "two")),
        (("a", "b", 3), ("a", "b", 3)),
    ],
)
def test_l03_access_line_filter_drops_the_query_from_the_path(
    args: tuple[object, ...], expected: tuple[object, ...]
) -> None:
    """uvicorn's access line keeps every argument but loses the path's query string."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert AccessLineFilter().filter(record) is True
    assert record.args == expected
