"""Liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import hmac
from datetime import timedelta

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora import metrics
from mentora.db.models import OutboxMessage, SyncRun, WebhookDelivery, WorkerHeartbeat
from mentora.errors import MentoraError
from mentora.web.deps import ServicesDep

router = APIRouter(tags=["health"])
HEARTBEAT_MAX_AGE = timedelta(minutes=2)


class MetricsForbidden(MentoraError):
    """/metrics without the bearer token in production."""

    code = "metrics_forbidden"
    status = 401
    public_message = "Please sign in."


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSONResponse:
    """The process is up (no dependency is touched)."""
    return JSONResponse({"status": "ok"})


@router.post("/api/ping", summary="A trivial POST", status_code=204)
async def ping() -> Response:
    """Answers 204 and does nothing: a baseline for load balancers and benchmarks."""
    return Response(status_code=204)


@router.get("/readyz", summary="Ready to serve")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Database reachable, migrations current, a worker heartbeat within two minutes."""
    from mentora.db.migrate import head_revision

    checks: dict[str, str] = {}
    try:
        async with services.sessionmaker() as db:
            revision = (await db.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            beat = (await db.execute(select(func.max(WorkerHeartbeat.beat_at)))).scalar()
        checks["database"] = "ok"
        checks["migrations"] = (
            "ok" if revision == head_revision() else f"at {revision}, need {head_revision()}"
        )
        now = services.clock.now()
        if beat is None:
            checks["worker"] = "no heartbeat"
        elif now - beat > HEARTBEAT_MAX_AGE:
            checks["worker"] = f"last heartbeat {int((now - beat).total_seconds())}s ago"
        else:
            checks["worker"] = "ok"
    except SQLAlchemyError:
        checks["database"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics_endpoint(request: Request, services: ServicesDep) -> Response:
    """Prometheus text format; needs `Authorization: Bearer $METRICS_TOKEN` when it is set."""
    token = services.settings.metrics_token
    if token is not None:
        presented = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise MetricsForbidden("bad metrics token")
    try:
        async with services.sessionmaker() as db:
            outbox = await db.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            metrics.OUTBOX_BACKLOG.clear()
            for status, count in outbox.all():
                if status != "sent":
                    metrics.OUTBOX_BACKLOG.labels(status=status).set(count)
            deliveries = await db.execute(
                select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
            )
            metrics.WEBHOOK_BACKLOG.clear()
            for status, count in deliveries.all():
                metrics.WEBHOOK_BACKLOG.labels(status=status).set(count)
            last = (
                await db.execute(
                    select(SyncRun)
                    .where(SyncRun.finished_at.is_not(None))
                    .order_by(SyncRun.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if last is not None and last.finished_at is not None:
                changed = last.report.get("changed", 0) if isinstance(last.report, dict) else 0
                metrics.SYNC_DRIFT.set(float(changed) if isinstance(changed, int | float) else 0.0)
                metrics.SYNC_LAST_SUCCESS.set(last.finished_at.timestamp())
    except SQLAlchemyError:
        pass  # counters are still worth serving when the database is down
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
