"""Creators (Whop companies) Mentora serves, and the products that grant access to each."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.clock import Clock
from mentora.db.models import Creator, Product
from mentora.db.uow import transaction
from mentora.services import Services


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


async def ensure_configured_creator(services: Services, *, name: str | None = None) -> Creator:
    """The creator named by WHOP_COMPANY_ID, with WHOP_ACCESS_PRODUCT_IDS and WHOP_TIERS."""
    settings = services.settings
    products = {
        pid: settings.whop_tiers.get(pid, "member") for pid in settings.whop_access_product_ids
    }
    for pid, tier in settings.whop_tiers.items():
        products.setdefault(pid, tier)
    async with transaction(services.sessionmaker, write=True) as db:
        return await ensure_creator(
            db,
            company_id=settings.whop_company_id,
            name=name or settings.whop_company_id,
            clock=services.clock,
            products=products,
        )


async def creator_by_company(db: AsyncSession, company_id: str | None) -> Creator | None:
    """The creator for a Whop company id, or None when the company is not one of ours."""
    if not company_id:
        return None
    result = await db.execute(select(Creator).where(Creator.whop_company_id == company_id))
    return result.scalar_one_or_none()


def alert_address(creator: Creator | None, default: str | None) -> str | None:
    """Where a creator's alerts go: its own team address, else `default` (the global
    CREATOR_ALERT_EMAIL)."""
    return (creator.alert_email if creator is not None else None) or default
