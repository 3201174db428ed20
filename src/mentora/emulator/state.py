"""The emulator's in-memory world: Whop objects, OAuth grants, faults and the webhook log."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from mentora.emulator.config import ALL_STATUSES, EmulatorConfig
from mentora.emulator.faults import FaultBook
from mentora.emulator.grants import OAuthStore
from mentora.emulator.records import Company, Experience, Membership, Payment, Product, User
from mentora.emulator.webhooks import WebhookRecord

_SLUG_RE = re.compile(r"[^a-z0-9]+")


class StateError(Exception):
    """A rejected state change: `status` is the HTTP status the admin API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        """Keep the message and status for the admin API's error response."""
        super().__init__(message)
        self.message = message
        self.status = status


def new_id(prefix: str) -> str:
    """Return a Whop-looking id such as `mem_3k9...`."""
    return f"{prefix}_{secrets.token_hex(7)}"


def slugify(name: str) -> str:
    """Return a URL route for a company name (Whop's `route`)."""
    return _SLUG_RE.sub("-", name.lower()).strip("-") or "company"


class EmulatorState:
    """Everything the emulator remembers; lost on restart, cleared by `reset()`."""

    def __init__(self, config: EmulatorConfig) -> None:
        """Create an empty world with the TTLs from `config`."""
        self._config = config
        self.users: dict[str, User] = {}
        self.companies: dict[str, Company] = {}
        self.products: dict[str, Product] = {}
        self.memberships: dict[str, Membership] = {}
        self.payments: dict[str, Payment] = {}
        self.experiences: dict[str, Experience] = {}
        self.webhooks: list[WebhookRecord] = []
        self.faults = FaultBook()
        self.oauth = OAuthStore(
            code_ttl_seconds=config.code_ttl_seconds,
            access_token_ttl_seconds=config.access_token_ttl_seconds,
        )
        self.denied_permissions: set[str] = set(config.api_key_denied)
        self._seq = 0

    def reset(self) -> None:
        """Forget everything (objects, grants, faults, counters, webhook log).

        Containers are emptied in place because the middleware and the webhook sender hold
        references to them.
        """
        self.users.clear()
        self.companies.clear()
        self.products.clear()
        self.memberships.clear()
        self.payments.clear()
        self.experiences.clear()
        self.webhooks.clear()
        self.faults.clear()
        self.faults.calls.clear()
        self.oauth.clear()
        self.denied_permissions = set(self._config.api_key_denied)
        self._seq = 0

    # --- lookups -------------------------------------------------------------------------

    def find_company(self, id_or_route: str) -> Company | None:
        """Return a company by id, or by its public route as Whop also accepts."""
        company = self.companies.get(id_or_route)
        if company is not None:
            return company
        return next((c for c in self.companies.values() if c.route == id_or_route), None)

    def find_user(self, id_or_username: str) -> User | None:
        """Return a user by id, or by username as Whop also accepts."""
        user = self.users.get(id_or_username)
        if user is not None:
            return user
        return next((u for u in self.users.values() if u.username == id_or_username), None)

    def memberships_of(self, user_id: str) -> list[Membership]:
        """Return a user's memberships, oldest first."""
        return sorted(
            (m for m in self.memberships.values() if m.user_id == user_id), key=lambda m: m.seq
        )

    def access_level(self, user_id: str, resource_id: str) -> str | None:
        """Return `admin`, `customer` or `no_access`, or None when the resource is unknown.

        Team members of a company are admins of it and of its products; otherwise a valid
        membership of the product (or of any of the company's products) makes a customer.
        """
        if resource_id in self.companies:
            company = self.companies[resource_id]
            if user_id in company.admin_user_ids:
                return "admin"
            owned = any(
                m.valid and m.company_id == company.id for m in self.memberships_of(user_id)
            )
            return "customer" if owned else "no_access"
        if resource_id in self.products:
            product = self.products[resource_id]
            if user_id in self.companies[product.company_id].admin_user_ids:
                return "admin"
            owned = any(
                m.valid and m.product_id == product.id for m in self.memberships_of(user_id)
            )
            return "customer" if owned else "no_access"
        if resource_id in self.experiences:
            return self._experience_level(user_id, self.experiences[resource_id])
        return None

    def _experience_level(self, user_id: str, experience: Experience) -> str:
        """Admin for the company's team; customer with a valid membership of a product the
        experience is attached to (any product of its company when none is listed)."""
        if self.is_team_member(user_id, experience.company_id):
            return "admin"
        granting = set(experience.product_ids)
        owned = any(
            m.valid
            and m.company_id == experience.company_id
            and (not granting or m.product_id in granting)
            for m in self.memberships_of(user_id)
        )
        return "customer" if owned else "no_access"

    def is_team_member(self, user_id: str, company_id: str) -> bool:
        """Return True if the user is on the company's team."""
        company = self.companies.get(company_id)
        return company is not None and user_id in company.admin_user_ids

    # --- creation ------------------------------------------------------------------------

    def add_user(
        self, *, id: str | None, username: str, name: str, email: str, now: datetime
    ) -> User:
        """Create a user; ids and usernames must be unique."""
        user_id = id or new_id("user")
        if user_id in self.users or self.find_user(username) is not None:
            raise StateError(f"user {user_id} / username {username} already exists", 409)
        user = User(id=user_id, username=username, name=name, email=email, created_at=now)
        self.users[user.id] = user
        return user

    def add_company(
        self,
        *,
        id: str | None,
        name: str,
        admin_user_ids: list[str],
        now: datetime,
        logo_url: str | None = None,
    ) -> Company:
        """Create a company whose team is `admin_user_ids` (they must exist)."""
        company_id = id or new_id("biz")
        if company_id in self.companies:
            raise StateError(f"company {company_id} already exists", 409)
        for user_id in admin_user_ids:
            self._require_user(user_id)
        company = Company(
            id=company_id,
            name=name,
            route=slugify(name),
            created_at=now,
            admin_user_ids=list(admin_user_ids),
            logo_url=logo_url,
        )
        self.companies[company.id] = company
        return company

    def add_team_member(self, company_id: str, user_id: str) -> Company:
        """Put an existing user on a company's team (an admin); idempotent."""
        company = self.companies.get(company_id)
        if company is None:
            raise StateError(f"unknown company {company_id}", 404)
        self._require_user(user_id)
        if user_id not in company.admin_user_ids:
            company.admin_user_ids.append(user_id)
        return company

    def add_experience(
        self,
        *,
        id: str | None,
        company_id: str,
        name: str,
        app_id: str,
        now: datetime,
        product_ids: list[str] | None = None,
    ) -> Experience:
        """Create an experience of an existing company, attached to some of its products."""
        if company_id not in self.companies:
            raise StateError(f"unknown company {company_id}", 404)
        experience_id = id or new_id("exp")
        if not experience_id.startswith("exp_"):
            raise StateError(f"an experience id starts with exp_, not {experience_id!r}")
        if experience_id in self.experiences:
            raise StateError(f"experience {experience_id} already exists", 409)
        for product_id in product_ids or []:
            product = self.products.get(product_id)
            if product is None or product.company_id != company_id:
                raise StateError(f"unknown product {product_id} of {company_id}", 404)
        experience = Experience(
            id=experience_id,
            company_id=company_id,
            name=name,
            created_at=now,
            app_id=app_id,
            product_ids=list(product_ids or []),
        )
        self.experiences[experience.id] = experience
        return experience

    def add_product(
        self,
        *,
        id: str | None,
        company_id: str,
        title: str,
        plan_id: str | None,
        price: str,
        now: datetime,
    ) -> Product:
        """Create a product (with one plan) under an existing company."""
        if company_id not in self.companies:
            raise StateError(f"unknown company {company_id}", 404)
        product_id = id or new_id("prod")
        if product_id in self.products:
            raise StateError(f"product {product_id} already exists", 409)
        product = Product(
            id=product_id,
            company_id=company_id,
            title=title,
            plan_id=plan_id or new_id("plan"),
            created_at=now,
            price=price,
        )
        self.products[product.id] = product
        return product

    def add_membership(
        self,
        *,
        id: str | None,
        user_id: str,
        product_id: str,
        status: str,
        now: datetime,
        cancel_at_period_end: bool = False,
    ) -> Membership:
        """Create a membership of an existing user to an existing product."""
        self._require_user(user_id)
        product = self.products.get(product_id)
        if product is None:
            raise StateError(f"unknown product {product_id}", 404)
        check_status(status)
        membership_id = id or new_id("mem")
        if membership_id in self.memberships:
            raise StateError(f"membership {membership_id} already exists", 409)
        self._seq += 1
        period = timedelta(days=product.billing_period_days or 30)
        membership = Membership(
            id=membership_id,
            user_id=user_id,
            product_id=product.id,
            plan_id=product.plan_id,
            company_id=product.company_id,
            status=status,
            created_at=now,
            updated_at=now,
            seq=self._seq,
            member_id=f"mber_{user_id.removeprefix('user_')}_{product.company_id}",
            cancel_at_period_end=cancel_at_period_end,
            current_period_start=now,
            current_period_end=now + period,
        )
        self.memberships[membership.id] = membership
        return membership

    def _require_user(self, user_id: str) -> User:
        """Return the user or raise a 404 StateError."""
        user = self.users.get(user_id)
        if user is None:
            raise StateError(f"unknown user {user_id}", 404)
        return user


def check_status(status: str) -> None:
    """Raise StateError unless `status` is one of Whop's membership statuses."""
    if status not in ALL_STATUSES:
        raise StateError(f"unknown membership status {status!r}; use one of {sorted(ALL_STATUSES)}")
