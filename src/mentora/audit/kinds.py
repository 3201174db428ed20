"""The kinds of audit event, in the OWASP logging vocabulary: one name per kind, checked by mypy."""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    """What an audit row records (stored as its string value)."""

    # Event names, not credentials (ruff S105 reads "token" in a name as a password).

    AUTHN_LOGIN_SUCCESS = "authn_login_success"
    AUTHN_LOGIN_FAIL = "authn_login_fail"
    AUTHN_TOKEN_CREATED = "authn_token_created"  # noqa: S105
    AUTHN_TOKEN_REUSE = "authn_token_reuse"  # noqa: S105
    AUTHN_TOKEN_REVOKED = "authn_token_revoked"  # noqa: S105
    AUTHZ_FAIL = "authz_fail"
    AUTHZ_ADMIN = "authz_admin"
    SESSION_CREATED = "session_created"
    SESSION_REVOKED = "session_revoked"
    SESSION_EXPIRED = "session_expired"
    SESSION_INVALID = "session_invalid"
    MALICIOUS_CSRF = "malicious_csrf"
    EXCESS_RATE_LIMIT_EXCEEDED = "excess_rate_limit_exceeded"
    SENSITIVE_UPDATE = "sensitive_update"
    MEMBERSHIP_CHANGED = "membership_changed"
    MEMBERSHIP_RECONCILED = "membership_reconciled"
    SYNC_COMPLETED = "sync_completed"
    SYNC_FAILED = "sync_failed"
    WEBHOOK_PROCESSED = "webhook_processed"
    WEBHOOK_FAILED = "webhook_failed"
    WEBHOOK_REJECTED = "webhook_rejected"
    OUTBOX_DEAD = "outbox_dead"
