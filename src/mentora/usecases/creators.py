"""Operator actions on creators (`mentora creators ...`): list, show, add, set, enable, disable.

Every change writes one `sensitive_update` audit row naming the actor. `add` reads the company
from Whop, creates the creator, syncs it, then replays that company's deliveries stored as
flagged (an unknown company's), so events that arrived before onboarding now apply; `enable`
replays the ones stored while the creator was disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.creators import (
    CreatorNotFound,
    alert_address,
    creator_by_company,
    ensure_creator,
    valid_alert_address,
)
from mentora.db.models import Creator, Product, WebhookDelivery
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.memberships.policy import effective_policy
from mentora.services import Services
from mentora.usecases.sync import SyncResult, reconcile
from mentora.webhooks.process import replay
from mentora.webhooks.status import DeliveryStatus

POLICIES = ("payment_failed_pauses_access", "refund_revokes_access", "dispute_revokes_access")


class CreatorExists(ValueError):
    """`add` for a company that is already a creator."""


@dataclass(frozen=True)
class CreatorView:
    """A creator as the operator sees it: profile, state, tiers and effective policies."""

    company_id: str
    name: str
    route: str | None
    logo_url: str | None
    enabled: bool
    alerts_to: str | None
    tiers: dict[str, str]
    # Each policy's value now and whether it is the creator's own or the setting's default.
    policies: dict[str, dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """The view as JSON-ready data (for `--json`)."""
        return {
            "company_id": self.company_id,
            "name": self.name,
            "route": self.route,
            "logo_url": self.logo_url,
            "enabled": self.enabled,
            "alerts_to": self.alerts_to,
            "tiers": self.tiers,
            "policies": self.policies,
        }


@dataclass(frozen=True)
class Onboarded:
    """What `add` did: the creator, its first sync, and the flagged deliveries it replayed."""

    creator: CreatorView
    sync: SyncResult
    replayed: dict[str, str]  # webhook id -> status after replay


async def _view(db: AsyncSession, base: Foundation, creator: Creator) -> CreatorView:
    products = await db.scalars(
        select(Product).where(Product.creator_id == creator.id).order_by(Product.whop_product_id)
    )
    effective = effective_policy(creator, base.settings)
    return CreatorView(
        company_id=creator.whop_company_id,
        name=creator.name,
        route=creator.route,
        logo_url=creator.logo_url,
        enabled=creator.enabled,
        alerts_to=alert_address(creator, base.settings.creator_alert_email),
        tiers={p.whop_product_id: p.tier for p in products},
        policies={
            name: {
                "value": getattr(effective, name),
                "source": "default" if getattr(creator, name) is None else "creator",
            }
            for name in POLICIES
        },
    )


async def list_creators(base: Foundation) -> list[CreatorView]:
    """Every creator, oldest first."""
    async with base.sessionmaker() as db:
        creators = list(await db.scalars(select(Creator).order_by(Creator.id)))
        return [await _view(db, base, c) for c in creators]


async def show_creator(base: Foundation, company_id: str) -> CreatorView:
    """One creator; raises CreatorNotFound."""
    async with base.sessionmaker() as db:
        creator = await creator_by_company(db, company_id)
        if creator is None:
            raise CreatorNotFound(company_id)
        return await _view(db, base, creator)


def _audit(
    db: AsyncSession,
    base: Foundation,
    creator: Creator,
    reason: str,
    actor: str,
    details: dict[str, Any],
) -> None:
    record(
        db,
        kind=AuditKind.SENSITIVE_UPDATE,
        outcome="success",
        reason=reason,
        now=base.clock.now(),
        actor=actor,
        subject=creator.whop_company_id,
        creator_id=creator.id,
        details=details,
    )


async def _replay_flagged(base: Foundation, company_id: str) -> dict[str, str]:
    """Replay the company's deliveries stored as flagged, oldest first."""
    async with base.sessionmaker() as db:
        ids = list(
            await db.scalars(
                select(WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.company_id == company_id,
                    WebhookDelivery.status == DeliveryStatus.FLAGGED,
                )
                .order_by(WebhookDelivery.received_at, WebhookDelivery.id)
            )
        )
    replayed: dict[str, str] = {}
    for webhook_id in ids:
        status = await replay(base, webhook_id)
        if status is not None:
            replayed[webhook_id] = status
    return replayed


async def add_creator(services: Services, company_id: str, *, actor: str) -> Onboarded:
    """Onboard a Whop company: read it from Whop (a WhopError propagates, nothing written),
    create the creator with Whop's name, route and logo, sync it, replay its flagged
    deliveries. Raises CreatorExists when it is already a creator."""
    profile = await services.whop.retrieve_company(company_id)
    async with transaction(services.sessionmaker, write=True) as db:
        if await creator_by_company(db, company_id) is not None:
            raise CreatorExists(f"company {company_id} is already a creator")
        creator = await ensure_creator(
            db, company_id=company_id, name=profile.name[:200] or company_id, clock=services.clock
        )
        creator.route = profile.route
        creator.logo_url = profile.logo_url
        _audit(db, services, creator, "creator_added", actor, {"name": creator.name})
        creator_id = creator.id
    sync = await reconcile(services, trigger="creator_added", creator_id=creator_id)
    replayed = await _replay_flagged(services, company_id)
    return Onboarded(await show_creator(services, company_id), sync, replayed)


async def update_creator(
    base: Foundation,
    company_id: str,
    *,
    actor: str,
    tiers: dict[str, str] | None = None,
    alert_email: str | None = None,
    clear_alert_email: bool = False,
    policies: dict[str, bool | None] | None = None,
) -> CreatorView:
    """Change a creator's tiers (product → tier), alert address and payment policies.

    `clear_alert_email` sends alerts back to CREATOR_ALERT_EMAIL; a policy given as None
    goes back to its setting. Raises CreatorNotFound, or ValueError for an address that is
    not one, an unknown policy, or a product that belongs to another creator; nothing is
    written then.
    """
    if alert_email is not None and not valid_alert_address(alert_email):
        raise ValueError(f"not an email address: {alert_email!r}")
    unknown = set(policies or {}) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown policy: {', '.join(sorted(unknown))}")
    async with transaction(base.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, company_id)
        if creator is None:
            raise CreatorNotFound(company_id)
        changed: dict[str, Any] = {}
        for product_id, tier in (tiers or {}).items():
            product = await db.scalar(select(Product).where(Product.whop_product_id == product_id))
            if product is None:
                db.add(Product(creator_id=creator.id, whop_product_id=product_id, tier=tier))
            elif product.creator_id != creator.id:
                raise ValueError(f"product {product_id} belongs to another creator")
            else:
                product.tier = tier
            changed[f"tier:{product_id}"] = tier
        if alert_email is not None or clear_alert_email:
            creator.alert_email = alert_email
            changed["alert_email"] = alert_email
        for name, value in (policies or {}).items():
            setattr(creator, name, value)
            changed[name] = value
        if changed:
            _audit(db, base, creator, "creator_updated", actor, changed)
        await db.flush()
        return await _view(db, base, creator)


async def set_enabled(
    base: Foundation, company_id: str, enabled: bool, *, actor: str
) -> tuple[CreatorView, dict[str, str]]:
    """Enable or disable a creator; enabling replays the deliveries stored flagged meanwhile.

    Returns the creator and the replayed deliveries. Raises CreatorNotFound.
    """
    async with transaction(base.sessionmaker, write=True) as db:
        creator = await creator_by_company(db, company_id)
        if creator is None:
            raise CreatorNotFound(company_id)
        if creator.enabled != enabled:
            creator.enabled = enabled
            reason = "creator_enabled" if enabled else "creator_disabled"
            _audit(db, base, creator, reason, actor, {"enabled": enabled})
    replayed = await _replay_flagged(base, company_id) if enabled else {}
    return await show_creator(base, company_id), replayed
