"""Checks for what pages read from forms and query strings: bad input is a 400, never a 500."""

from __future__ import annotations

import re

from mentora.errors import MentoraError

# Whop's webhook-id alphabet as the verifier accepts it: printable ASCII without a dot.
WEBHOOK_ID = re.compile(r"^[!-\-/-~]{1,128}$")
# Whop event types (`membership.activated`).
EVENT_TYPE = re.compile(r"^[a-z0-9_.]{1,128}$")
# Search boxes: printable text, no control characters.
SEARCH = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


class BadPageInput(MentoraError):
    """A form field or query parameter a page cannot use."""

    code = "invalid_request"
    status = 400
    public_message = "The request was not valid."


def optional(value: str | None) -> str | None:
    """An empty form value ("All" in a select) means no filter."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def one_of(value: str | None, allowed: tuple[str, ...] | frozenset[str], what: str) -> str | None:
    """`value` when it is one of `allowed` (or empty); BadPageInput otherwise."""
    value = optional(value)
    if value is not None and value not in allowed:
        raise BadPageInput(f"unknown {what}")
    return value


def matching(value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    """`value` when it matches `pattern` (or is empty); BadPageInput otherwise."""
    value = optional(value)
    if value is not None and not pattern.match(value):
        raise BadPageInput(f"malformed {what}")
    return value
