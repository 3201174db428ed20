"""All models, imported here so that `Base.metadata` knows every table."""

from mentora.db.models.audit import AuditEvent
from mentora.db.models.creator import Creator, Product
from mentora.db.models.login import LoginAttempt
from mentora.db.models.membership import Membership
from mentora.db.models.outbox import OutboxMessage
from mentora.db.models.payment import Payment
from mentora.db.models.session import UserSession, WhopToken
from mentora.db.models.system import SyncRun, WorkerHeartbeat
from mentora.db.models.user import Student, User
from mentora.db.models.webhook import WebhookDelivery

__all__ = [
    "AuditEvent",
    "Creator",
    "LoginAttempt",
    "Membership",
    "OutboxMessage",
    "Payment",
    "Product",
    "Student",
    "SyncRun",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WhopToken",
    "WorkerHeartbeat",
]
