"""Seed a second creator and many memberships straight into a bench database (issue 16).

The gate benchmark with `--creators 2 --memberships N` measures a database that holds both
creators' rows: N users, each with a student row and an active membership, alternating
between the configured creator (WHOP_COMPANY_ID) and a second one. Core bulk inserts, so
10,000 take a second or two; the bench's own member is not among them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import Connection

from mentora.db.engine import sync_url
from mentora.db.models import Creator, Membership, Product, Student, User

SECOND_COMPANY = "biz_bench_second"
SECOND_PRODUCT = "prod_bench_second"


def _second_creator(conn: Connection, now: datetime) -> int:
    """The second creator's id, created with one product on first use."""
    found = conn.execute(
        select(Creator.id).where(Creator.whop_company_id == SECOND_COMPANY)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    creator_id = conn.execute(
        insert(Creator)
        .values(whop_company_id=SECOND_COMPANY, name="Bench second", route="second", created_at=now)
        .returning(Creator.id)
    ).scalar_one()
    conn.execute(
        insert(Product).values(
            creator_id=creator_id, whop_product_id=SECOND_PRODUCT, title="Second", tier="member"
        )
    )
    return int(creator_id)


def seed_creators(database_url: str, memberships: int, company_id: str = "biz_demo") -> int:
    """Add the second creator and `memberships` members spread across both; returns its id."""
    now = datetime.now(UTC)  # rows a real server reads: real time
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            first = conn.execute(
                select(Creator.id).where(Creator.whop_company_id == company_id)
            ).scalar_one()
            first_product = (
                conn.execute(
                    select(Product.whop_product_id).where(Product.creator_id == first).limit(1)
                ).scalar_one_or_none()
                or "prod_demo"
            )  # the emulator's product when none is configured
            second = _second_creator(conn, now)
            creators = (
                (first, company_id, first_product),
                (second, SECOND_COMPANY, SECOND_PRODUCT),
            )
            users = [
                {
                    "whop_user_id": f"user_seed_{n}",
                    "username": f"seed{n}",
                    "email": f"seed{n}@example.test",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(memberships)
            ]
            conn.execute(insert(User), users)
            ids = dict(
                conn.execute(
                    select(User.whop_user_id, User.id).where(User.whop_user_id.like("user_seed_%"))
                ).all()
            )
            students, rows = [], []
            for n in range(memberships):
                creator_id, company, product = creators[n % 2]
                students.append(
                    {
                        "user_id": ids[f"user_seed_{n}"],
                        "creator_id": creator_id,
                        "access_level": "customer",
                        "created_at": now,
                    }
                )
                rows.append(
                    {
                        "whop_membership_id": f"mem_seed_{n}",
                        "creator_id": creator_id,
                        "whop_company_id": company,
                        "whop_user_id": f"user_seed_{n}",
                        "whop_product_id": product,
                        "status": "active",
                        "current_period_end": now + timedelta(days=30),
                        "source_updated_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            conn.execute(insert(Student), students)
            conn.execute(insert(Membership), rows)
    finally:
        engine.dispose()
    return second
