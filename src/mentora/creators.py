"""Creators (Whop companies) Mentora serves, and the products that grant access to each.

A creator's name, route and logo are Whop's (company retrieve): `refresh_profiles` asks at
`mentora db upgrade`, at every sync and on demand (`mentora creators refresh`), so pages and
emails name the company as its students know it, not by its `biz_` id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.clock import Clock
from mentora.db.models import Creator, Product
from mentora.db.uow import transaction
from mentora.foundation import Foundation
from mentora.whop.errors import WhopError

log = structlog.get_logger("mentora.creators")


@dataclass(frozen=True)
class ProfileRefresh:
    """What asking Whop about one creator gave: its name now, or why Whop could not say."""

    company_id: str
    name: str
    error: str | None = None


async def ensure_creator(
    db: AsyncSession,
    *,
    company_id: str,
    name: str,
    clock: Clock,
    products: dict[str, str] | None = None,
) -> Creator:
    """Create the creator (and its products → tier) if missing; idempotent."""
    creator = (
        await db.execute(select(Creator).where(Creator.whop_company_id == company_id))
    ).scalar_one_or_none()
    if creator is None:
        creator = Creator(whop_company_id=company_id, name=name, created_at=clock.now())
        db.add(creator)
        await db.flush()
    elif name != company_id and creator.name != name:
        creator.name = name
    for product_id, tier in (products or {}).items():
        product = (
            await db.execute(select(Product).where(Product.whop_product_id == product_id))
        ).scalar_one_or_none()
        if product is None:
            db.add(Product(creator_id=creator.id, whop_product_id=product_id, tier=tier))
        elif product.tier != tier:
            product.tier = tier
    return creator


async def ensure_configured_creator(base: Foundation, *, name: str | None = None) -> Creator:
    """The creator named by WHOP_COMPANY_ID, with WHOP_ACCESS_PRODUCT_IDS and WHOP_TIERS."""
    settings = base.settings
    products = {
        pid: settings.whop_tiers.get(pid, "member") for pid in settings.whop_access_product_ids
    }
    for pid, tier in settings.whop_tiers.items():
        products.setdefault(pid, tier)
    async with transaction(base.sessionmaker, write=True) as db:
        return await ensure_creator(
            db,
            company_id=settings.whop_company_id,
            name=name or settings.whop_company_id,
            clock=base.clock,
            products=products,
        )


async def creator_by_company(db: AsyncSession, company_id: str | None) -> Creator | None:
    """The creator for a Whop company id, or None when the company is not one of ours."""
    if not company_id:
        return None
    result = await db.execute(select(Creator).where(Creator.whop_company_id == company_id))
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class CreatorRef:
    """What never changes about a creator row: its id and its Whop company."""

    id: int
    whop_company_id: str


class CreatorIds:
    """Creator ids by Whop company id, read once per process: a creator row's id and company
    never change (creators are added, not renumbered), so a sign-in need not read them."""

    def __init__(self, base: Foundation) -> None:
        """Read through `base`'s database."""
        self.base = base
        self._known: dict[str, CreatorRef] = {}

    async def by_company(self, company_id: str) -> CreatorRef | None:
        """The creator of `company_id`, or None (not cached: it may be added at any time)."""
        known = self._known.get(company_id)
        if known is not None:
            return known
        async with self.base.sessionmaker() as db:
            row = (
                await db.execute(select(Creator.id).where(Creator.whop_company_id == company_id))
            ).scalar_one_or_none()
        if row is None:
            return None
        self._known[company_id] = CreatorRef(id=row, whop_company_id=company_id)
        return self._known[company_id]


async def refresh_profiles(
    base: Foundation, *, company_ids: Iterable[str] | None = None
) -> list[ProfileRefresh]:
    """Read each creator's (or only `company_ids`') name, route and logo from Whop and store
    them. A creator Whop cannot describe keeps what is stored; the result says why."""
    query = select(Creator).order_by(Creator.id)
    if company_ids is not None:
        query = query.where(Creator.whop_company_id.in_(list(company_ids)))
    async with base.sessionmaker() as db:
        creators = [(c.id, c.whop_company_id, c.name) for c in (await db.scalars(query))]
    results: list[ProfileRefresh] = []
    for creator_id, company_id, stored_name in creators:
        try:
            profile = await base.whop.retrieve_company(company_id)
        except WhopError as exc:
            log.warning("creator_profile_unavailable", company_id=company_id, error=exc.code)
            error = f"{exc.code}: {exc.detail or exc.public_message}"
            results.append(ProfileRefresh(company_id, stored_name, error))
            continue
        async with transaction(base.sessionmaker, write=True) as db:
            creator = await db.get(Creator, creator_id)
            if creator is None:  # deleted meanwhile: nothing to name
                continue
            creator.name = profile.name[:200] or creator.name
            creator.route = profile.route
            creator.logo_url = profile.logo_url
        results.append(ProfileRefresh(company_id, profile.name))
    return results


def alert_address(creator: Creator | None, default: str | None) -> str | None:
    """Where a creator's alerts go: its own team address, else `default` (the global
    CREATOR_ALERT_EMAIL)."""
    return (creator.alert_email if creator is not None else None) or default


class CreatorNotFound(LookupError):
    """No creator is onboarded for the company id given."""


def valid_alert_address(address: str) -> bool:
    """A plausible single email address (one `@`, a dot in the domain, no spaces or line
    breaks that could add a header), at most 320 characters."""
    local, at, domain = address.partition("@")
    return (
        bool(local and at and "." in domain.strip("."))
        and "@" not in domain
        and not any(c.isspace() or c in ",;<>" for c in address)
        and len(address) <= 320
    )
