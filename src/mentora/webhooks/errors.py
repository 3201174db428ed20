"""Errors of the webhook receiver; each maps to the status Whop should see (W14).

    WebhookError                    (400: malformed; a retry will not help)
    ├── WebhookVerificationError    (401: missing headers, bad/stale timestamp, no valid signature)
    ├── WebhookPayloadError         (400: signed, but not a JSON event envelope)
    ├── WebhookTooLarge             (413: body over WEBHOOK_MAX_BODY_BYTES)
    ├── WebhookUnsupportedMedia     (415: not application/json)
    └── WebhookStoreUnavailable     (503 + Retry-After: we could not store it; Whop retries)

`reason` is a short machine word for the audit trail and logs; `public_message` is what the
sender sees, and never says which check failed beyond what the sender already knows.
"""

from __future__ import annotations

from mentora.errors import MentoraError


class WebhookError(MentoraError):
    """Base of every webhook receiver failure."""

    code = "webhook_invalid"
    status = 400
    public_message = "The webhook was not accepted."

    def __init__(self, reason: str, detail: str = "") -> None:
        """Keep `reason` (a machine word) for the audit row; `detail` for logs only."""
        super().__init__(detail or reason)
        self.reason = reason


class WebhookVerificationError(WebhookError):
    """The delivery is not provably from Whop (W01-W08)."""

    code = "webhook_signature_invalid"
    status = 401
    public_message = "The webhook signature could not be verified."


class WebhookPayloadError(WebhookError):
    """The signed body is not a JSON event envelope (W09)."""

    code = "webhook_payload_invalid"
    status = 400
    public_message = "The webhook payload is not a valid event."


class WebhookTooLarge(WebhookError):
    """The body exceeds the configured limit; refused before hashing or parsing (R04)."""

    code = "webhook_too_large"
    status = 413
    public_message = "The webhook payload is too large."


class WebhookUnsupportedMedia(WebhookError):
    """The content type is not JSON."""

    code = "webhook_unsupported_media"
    status = 415
    public_message = "Webhooks must be sent as application/json."


class WebhookStoreUnavailable(WebhookError):
    """The delivery could not be stored; a 503 makes Whop retry (W10)."""

    code = "webhook_store_unavailable"
    status = 503
    public_message = "The webhook could not be stored. Please retry."
    headers = {"retry-after": "10"}  # noqa: RUF012 - read by the error handler, never mutated
