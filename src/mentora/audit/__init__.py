"""Append-only security events: one table, one structured log line per event."""

from mentora.audit.record import AuditContext, audit_context, record

__all__ = ["AuditContext", "audit_context", "record"]
