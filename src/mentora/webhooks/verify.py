"""Pure verification of Whop webhooks (Standard Webhooks), with the clock passed in.

Whop signs `{webhook-id}.{webhook-timestamp}.{raw body}` with HMAC-SHA256 keyed by the UTF-8
bytes of the whole `ws_...` secret, and sends `v1,<base64>` entries separated by spaces
(whop-platform.md §2.1). Secrets in the Standard Webhooks form (`whsec_<base64>`) are decoded
the standard way, so the spec's test vector works too (W02).

We do not call `standardwebhooks.Webhook.verify`: it reads `datetime.now` itself and lets a bare
`ValueError` escape on a malformed header (checklist finding 3). Tests cross-check this module
against that library's `sign`. Every malformed input ends in `WebhookVerificationError` (W05).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from mentora.errors import ConfigError
from mentora.webhooks.errors import WebhookVerificationError

STANDARD_PREFIX = "whsec_"
MAX_ID_LENGTH = 128
# Printable ASCII without spaces or dots: a dot would make the signed content ambiguous (W08).
_ID_PATTERN = re.compile(rf"[!-\-/-~]{{1,{MAX_ID_LENGTH}}}")
_TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
_LEGACY_PATTERN = re.compile(r"t=([0-9]{1,12}),v1=([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery whose signature and timestamp checked out; `body` is the exact raw bytes."""

    webhook_id: str
    timestamp: datetime
    body: bytes
    scheme: str  # "standard" or "legacy"


def signing_key(secret: str) -> bytes:
    """The HMAC key for a configured secret: raw bytes for Whop's `ws_`, decoded for `whsec_`.

    Refuses an empty secret and a `whsec_` secret that is not strict, non-empty base64, so a
    typo can never become an empty, guessable key (peers.md pain point 6).
    """
    if not secret:
        raise ConfigError("WHOP_WEBHOOK_SECRET is empty")
    if not secret.startswith(STANDARD_PREFIX):
        return secret.encode("utf-8")
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("WHOP_WEBHOOK_SECRET: a whsec_ secret must be base64") from None
    if not key:
        raise ConfigError("WHOP_WEBHOOK_SECRET: a whsec_ secret must not be empty")
    return key


def signing_keys(secrets: Sequence[str]) -> tuple[bytes, ...]:
    """Keys for every active secret, newest first (rotation keeps the old one for a while, W07)."""
    return _keys(tuple(secrets))


@lru_cache(maxsize=8)
def _keys(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """`signing_keys`, derived once per set of secrets rather than once per delivery."""
    keys = tuple(signing_key(secret) for secret in secrets)
    if not keys:
        raise ConfigError("WHOP_WEBHOOK_SECRET is empty")
    return keys


def _mac(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    # The one-shot form runs in OpenSSL: an `hmac.new` object costs several times as much.
    return hmac.digest(key, signed, "sha256")


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` entry for a delivery (`v1,<base64>`); used by tests and dev."""
    return "v1," + base64.b64encode(_mac(key, webhook_id, timestamp, body)).decode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        # Plain dicts are not case-insensitive like Starlette's Headers (W03).
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _candidate_signatures(header: str) -> list[bytes]:
    """Decoded `v1` entries; anything unparseable or of another version is skipped (W05, W06)."""
    found: list[bytes] = []
    for entry in header.split():
        version, sep, encoded = entry.partition(",")
        if not sep or version != "v1" or not encoded:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def _check_window(timestamp: int, now: datetime, tolerance: int) -> datetime:
    moment = datetime.fromtimestamp(timestamp, UTC)
    skew = (now - moment).total_seconds()
    if skew > tolerance:
        raise WebhookVerificationError("timestamp_too_old", f"skew {skew:.0f}s")
    if skew < -tolerance:
        raise WebhookVerificationError("timestamp_too_new", f"skew {skew:.0f}s")
    return moment


def verify(
    body: bytes,
    headers: Mapping[str, str],
    *,
    keys: Sequence[bytes],
    now: datetime,
    tolerance: int = 300,
    legacy: bool = False,
) -> VerifiedDelivery:
    """Check a delivery's headers against its raw body; raise WebhookVerificationError.

    Order: required headers, id and timestamp shape, signature (any `v1` entry under any
    key), then the ±`tolerance` window in both directions (W03-W08). With `legacy`, a delivery
    carrying only `x-whop-signature: t=..,v1=<hex>` (Whop's v2/v5 scheme) is checked instead.
    """
    webhook_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signature = _header(headers, "webhook-signature")
    if legacy and webhook_id is None and signature is None:
        legacy_header = _header(headers, "x-whop-signature")
        if legacy_header is not None:
            return _verify_legacy(body, legacy_header, keys=keys, now=now, tolerance=tolerance)
    if webhook_id is None or raw_timestamp is None or signature is None:
        raise WebhookVerificationError("missing_headers")
    if not _ID_PATTERN.fullmatch(webhook_id):
        raise WebhookVerificationError("malformed_id")
    if not _TIMESTAMP_PATTERN.fullmatch(raw_timestamp.strip()):
        raise WebhookVerificationError("malformed_timestamp")
    timestamp = int(raw_timestamp.strip())
    presented = _candidate_signatures(signature)
    expected = [_mac(key, webhook_id, timestamp, body) for key in keys]
    if not any(hmac.compare_digest(p, e) for p in presented for e in expected):
        raise WebhookVerificationError("no_matching_signature")
    moment = _check_window(timestamp, now, tolerance)
    return VerifiedDelivery(webhook_id=webhook_id, timestamp=moment, body=body, scheme="standard")


def _verify_legacy(
    body: bytes, header: str, *, keys: Sequence[bytes], now: datetime, tolerance: int
) -> VerifiedDelivery:
    """Whop's pre-v1 scheme: hex HMAC-SHA256 over `<t>.<raw body>` (whop-platform.md §2.2)."""
    match = _LEGACY_PATTERN.fullmatch(header.strip())
    if match is None:
        raise WebhookVerificationError("malformed_signature")
    timestamp = int(match.group(1))
    presented = bytes.fromhex(match.group(2))
    signed = f"{timestamp}.".encode() + body
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    if not any(hmac.compare_digest(presented, e) for e in expected):
        raise WebhookVerificationError("no_matching_signature")
    moment = _check_window(timestamp, now, tolerance)
    # Legacy deliveries carry no id header; the body is the same on every retry.
    webhook_id = "legacy_" + hashlib.sha256(body).hexdigest()[:40]
    return VerifiedDelivery(webhook_id=webhook_id, timestamp=moment, body=body, scheme="legacy")
