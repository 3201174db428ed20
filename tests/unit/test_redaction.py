"""L02: every secret shape the redaction knows is removed, by `scrub_text`, by the structlog
processor `redact` and by the stdlib `RedactingFilter`, each shape on its own so that deleting
one pattern fails a test."""

from __future__ import annotations

import logging
import sys

import pytest

from mentora.logging import REDACTED, RedactingFilter, redact, scrub_text

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


@pytest.mark.parametrize(("text", "secret", "expected"), SHAPES)
def test_l02_stdlib_filter_scrubs_each_shape_in_message_and_args(
    text: str, secret: str, expected: str
) -> None:
    """Third-party records are scrubbed after their %-arguments are rendered."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "%s", (text,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == expected


def test_l02_stdlib_filter_scrubs_the_traceback() -> None:
    """A secret inside an exception's message is scrubbed from the formatted traceback."""
    try:
        raise RuntimeError(f"upstream said {WEBHOOK_SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    RedactingFilter().filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None and "RuntimeError" in record.exc_text
    assert WEBHOOK_SECRET not in record.exc_text and REDACTED in record.exc_text


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
