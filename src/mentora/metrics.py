"""Prometheus metrics: counters for what happens in this process, gauges read from the database
at scrape time (so they agree across processes).

Counters are per process; behind several uvicorn workers, scrape each worker or set
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode) — see the README.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

REGISTRY = CollectorRegistry(auto_describe=True)

SIGN_INS = Counter(
    "mentora_sign_ins_total",
    "Sign-in attempts by outcome and reason.",
    ["outcome", "reason"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "mentora_rate_limited_total",
    "Requests refused by a rate limit, by rule and scope (client, or all_clients: the shared "
    "ceiling, which also refuses visitors who are under their own limit).",
    ["rule", "scope"],
    registry=REGISTRY,
)
AUDIT_SKIPPED = Counter(
    "mentora_audit_events_skipped_total",
    "Audit events not written because their per-client budget was spent (junk cookies).",
    ["kind"],
    registry=REGISTRY,
)
ACCESS_DECISIONS = Counter(
    "mentora_access_decisions_total",
    "Access decisions by result and reason.",
    ["allowed", "reason"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "mentora_webhook_deliveries_total",
    "Webhook deliveries by event type and outcome.",
    ["event_type", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_PROCESSING_SECONDS = Histogram(
    "mentora_webhook_processing_seconds",
    "Time to verify, store and apply a webhook delivery.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
WEBHOOK_BATCH_SIZE = Histogram(
    "mentora_webhook_batch_size",
    "Deliveries stored and applied together in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1000),
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "mentora_outbox_backlog",
    "Outbox messages not yet sent, by status.",
    ["status"],
    registry=REGISTRY,
)
WEBHOOK_BACKLOG = Gauge(
    "mentora_webhook_deliveries_by_status",
    "Stored webhook deliveries by status.",
    ["status"],
    registry=REGISTRY,
)
SYNC_DRIFT = Gauge(
    "mentora_sync_last_changes",
    "Memberships the last reconciliation had to fix.",
    registry=REGISTRY,
)
DB_STATEMENTS = Counter(
    "mentora_db_statements_total",
    "SQL statements sent to the database, by first word (only with SQL_STATEMENT_METRICS).",
    ["verb"],
    registry=REGISTRY,
)
SYNC_LAST_SUCCESS = Gauge(
    "mentora_sync_last_success_timestamp_seconds",
    "When the last reconciliation finished.",
    registry=REGISTRY,
)


# Labelled children, looked up once: `labels()` costs more than the increment on the gate's
# hot path. Reason codes are a small closed set, so this stays small.
_decision_children: dict[tuple[bool, str], Any] = {}


def count_decision(allowed: bool, reason: str) -> None:
    """Count one access decision of the gate (cached or not) by result and reason code."""
    child = _decision_children.get((allowed, reason))
    if child is None:
        child = ACCESS_DECISIONS.labels(allowed="true" if allowed else "false", reason=reason)
        _decision_children[(allowed, reason)] = child
    child.inc()


def count_statements(engine: AsyncEngine) -> None:
    """Count every statement `engine` sends, by its first word, in DB_STATEMENTS."""
    children: dict[str, Any] = {}

    def _count(*args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        verb = args[2].lstrip().split(None, 1)[0].upper() if args[2].strip() else "?"
        child = children.get(verb)
        if child is None:
            child = children[verb] = DB_STATEMENTS.labels(verb=verb)
        child.inc()

    event.listen(engine.sync_engine, "before_cursor_execute", _count)
