"""Redaction: the step no secret gets past on its way to a log line (L02-L04).

Every line, ours and uvicorn's, goes through it (wired by `mentora.logging`): values under
sensitive keys are replaced, secret-shaped text is cut out of free text, query strings are
dropped from access-log paths, and control characters are escaped so one event stays one line.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import MutableMapping
from typing import Any

SENSITIVE_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|cookie|code|state|nonce|verifier|signature|"
    r"api_key|apikey|session_id|sid|key)",
    re.IGNORECASE,
)
# Keys that contain a sensitive word but are safe metadata.
SAFE_KEYS = frozenset(
    {
        "status_code",
        "error_code",  # Mentora's error codes (`token_expired`), never an OAuth code
        "event",
        "kind",
        "reason",
        "outcome",
        "request_id",
        "token_type",
        "code_path",
    }
)
# Case-insensitive parts are scoped groups `(?i:...)`, not a leading `(?i)`, so that the
# patterns can also be joined into `_SUSPECT` below.
SECRET_PATTERNS = (
    re.compile(r"(?i:(bearer\s+))[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i:\b(code|state|token|refresh_token|access_token|id_token|nonce))=([^&\s\"']+)"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\bws_[A-Za-z0-9_]{6,}"),
    re.compile(r"\bv1,[A-Za-z0-9+/=]{20,}"),
)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Matches somewhere in a text exactly when one of the patterns above does: one search per
# value instead of six substitutions, since almost every logged value (ids, statuses,
# paths) holds nothing to scrub, and a request logs dozens of them.
_SUSPECT = re.compile("|".join(p.pattern for p in (*SECRET_PATTERNS, CONTROL)))
REDACTED = "[redacted]"


def scrub_text(text: str) -> str:
    """Remove anything shaped like a secret from free text and escape control characters."""
    if _SUSPECT.search(text) is None:
        return text
    for pattern in SECRET_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@functools.lru_cache(maxsize=4096)
def _sensitive(key: str) -> bool:
    # Remembered: a process logs the same few dozen keys over and over.
    return key not in SAFE_KEYS and SENSITIVE_KEYS.search(key) is not None


def _scrub_value(key: str, value: Any) -> Any:
    if _sensitive(key):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {str(k): _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value("", v) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact sensitive keys and secret-shaped text in every field."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = scrub_text(str(event_dict[key]))
        else:
            event_dict[key] = _scrub_value(key, event_dict[key])
    return event_dict


class RedactingFilter(logging.Filter):
    """On the stdlib handler: render a third-party record's message once, scrubbed.

    A message whose %-arguments do not fit is kept as its raw text (scrubbed) instead of
    failing in the formatter, where logging's error report would print it unscrubbed. The
    traceback stays on the record: the formatter renders it and `redact` scrubs that text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message with its scrubbed rendering."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = scrub_text(message)
        record.args = None
        return True


class AccessLineFilter(logging.Filter):
    """On uvicorn's access logger: drop the query string from the logged path (L03).

    Attached to the logger rather than a handler, so it holds whichever handler prints the
    line, even if an operator turns uvicorn's access log back on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut `?...` from the path argument of uvicorn's access line."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True
