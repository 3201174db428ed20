"""The few Whop shapes Mentora relies on, parsed tolerantly from webhooks and API answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from whop_sdk.types.webhook_event import WebhookEvent

VALID_ACCESS_LEVELS = ("customer", "admin", "no_access")
# Every v1 event name a Whop webhook can subscribe to (whop-sdk's `WebhookEvent` literal).
WEBHOOK_EVENT_NAMES: frozenset[str] = frozenset(
    name for part in get_args(WebhookEvent) for name in get_args(part)
)


@dataclass(frozen=True)
class AccessAnswer:
    """Whop's check-access answer for one user and resource."""

    has_access: bool
    access_level: str


@dataclass(frozen=True)
class CompanyProfile:
    """How a Whop company (account) presents itself: its name, public route and logo."""

    id: str
    name: str
    route: str | None
    logo_url: str | None


@dataclass(frozen=True)
class ExperienceInfo:
    """Where Whop runs an installed app: the experience and the company that owns it."""

    id: str
    name: str
    company_id: str
    company_name: str
    company_route: str | None
    product_ids: tuple[str, ...] = ()

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ExperienceInfo:
        """Read whop-sdk's `Experience` (`{id, name, company: {id, title, route}, products}`).

        Raises ValueError when the id or the company's id is missing or not an `exp_`/`biz_` id.
        """
        experience_id = data.get("id")
        company = data.get("company")
        if not isinstance(experience_id, str) or not experience_id.startswith("exp_"):
            raise ValueError("experience has no exp_ id")
        if not isinstance(company, dict):
            raise ValueError("experience has no company")
        company_id = company.get("id")
        if not isinstance(company_id, str) or not company_id.startswith("biz_"):
            raise ValueError("experience's company has no biz_ id")
        title = company.get("title")
        route = company.get("route")
        name = data.get("name")
        products = data.get("products") or []
        return cls(
            id=experience_id,
            name=name if isinstance(name, str) else experience_id,
            company_id=company_id,
            company_name=title if isinstance(title, str) and title else company_id,
            company_route=route if isinstance(route, str) and route else None,
            product_ids=tuple(
                str(p["id"])
                for p in products
                if isinstance(p, dict) and isinstance(p.get("id"), str)
            ),
        )


def parse_time(value: Any) -> datetime | None:
    """Parse Whop's ISO-8601 strings or unix seconds into aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _ref_id(data: dict[str, Any], flat: str, *nested: str) -> str | None:
    value = data.get(flat)
    if isinstance(value, str) and value:
        return value
    for key in nested:
        obj = data.get(key)
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            return str(obj["id"])
        if isinstance(obj, str) and obj:
            return obj
    return None


@dataclass(frozen=True)
class MembershipSnapshot:
    """A membership as Whop described it at `updated_at`."""

    id: str
    status: str
    company_id: str | None
    user_id: str | None
    product_id: str | None
    plan_id: str | None
    cancel_at_period_end: bool
    current_period_end: datetime | None
    updated_at: datetime | None
    # Legacy v2/v5 payloads say outright whether the membership grants access; v1 has no field.
    valid: bool | None = None

    @classmethod
    def from_payload(
        cls, data: dict[str, Any], *, default_company: str | None = None
    ) -> MembershipSnapshot:
        """Read a v1 (2026 or older 0.0.x shape) or legacy v5 membership object (whose
        company is `page_id`, and which says `valid`); `default_company` when it names no
        company (a webhook's envelope may name it instead).

        Raises ValueError when the id or status is missing.
        """
        membership_id = data.get("id")
        status = data.get("status")
        if not isinstance(membership_id, str) or not membership_id:
            raise ValueError("membership has no id")
        if not isinstance(status, str) or not status:
            raise ValueError("membership has no status")
        return cls(
            id=membership_id,
            status=status,
            company_id=_ref_id(data, "company_id", "account", "company", "page")
            or _ref_id(data, "page_id")
            or default_company
            or None,
            user_id=_ref_id(data, "user_id", "user"),
            product_id=_ref_id(data, "product_id", "product", "access_pass"),
            plan_id=_ref_id(data, "plan_id", "plan"),
            cancel_at_period_end=bool(data.get("cancel_at_period_end") or False),
            current_period_end=parse_time(
                data.get("current_period_end")
                or data.get("renewal_period_end")
                or data.get("expires_at")
            ),
            updated_at=parse_time(data.get("updated_at")),
            valid=valid if isinstance(valid := data.get("valid"), bool) else None,
        )
