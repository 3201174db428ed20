"""Emulator configuration and the ids of the seeded demo data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Clock = Callable[[], datetime]

# The API version date whop-sdk 2.6.0 sends by default; our response shapes follow it, and
# webhook envelopes say so in `api_version_date` like Whop's do.
API_VERSION_DATE = "2026-10-15-1"

# Issuer of the iframe `x-whop-user-token` JWTs (whop_sdk.lib.verify_user_token.TOKEN_ISSUER).
USER_TOKEN_ISSUER = "urn:whopcom:exp-proxy"

# Statuses that grant access. Whop keeps access through `past_due` while it retries the
# payment, `completed` one-time purchases keep access, and `canceling` is still inside the
# paid period. `canceled`, `expired`, `unresolved` and `drafted` do not grant access.
VALID_STATUSES: frozenset[str] = frozenset(
    {"trialing", "active", "past_due", "completed", "canceling"}
)
ALL_STATUSES: frozenset[str] = VALID_STATUSES | {"canceled", "expired", "unresolved", "drafted"}
WEBHOOK_FORMATS = ("v1", "legacy")

# The API-key permission each modelled REST read needs, as Whop's API reference names them.
MEMBERSHIP_READ = "member:basic:read"
COMPANY_READ = "company:basic:read"
API_KEY_PERMISSIONS: frozenset[str] = frozenset({MEMBERSHIP_READ, COMPANY_READ})


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


@dataclass
class EmulatorConfig:
    """Everything that distinguishes one emulated Whop app from another.

    `issuer` is the emulator's base URL and, exactly, the OIDC issuer. `client_id` is the
    Whop app id; `api_key` is the app API key accepted on the REST API.
    """

    issuer: str = "http://127.0.0.1:8765"
    client_id: str = "app_demo"
    client_secret: str = "demo-client-secret"
    redirect_uris: list[str] = field(
        default_factory=lambda: ["http://127.0.0.1:8000/api/whop/callback"]
    )
    api_key: str = "demo-api-key"
    webhook_url: str | None = None
    webhook_secret: str = "ws_demo_webhook_secret"
    retry_delays: tuple[float, ...] = (10.0, 20.0, 40.0)
    code_ttl_seconds: int = 300
    access_token_ttl_seconds: int = 3600
    seed_demo: bool = True
    confidential: bool = False
    # `v1` sends today's envelope; `legacy` sends the v2/v5 one (`{action, data, company}`,
    # membership data saying `valid`), as endpoints created on an old API version receive.
    webhook_format: str = "v1"
    # Permissions the API key lacks: its calls that need one answer 403 (a key created
    # with too narrow a role). The admin API changes them at run time.
    api_key_denied: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        """Normalise the issuer: Whop's has no trailing slash, and ours must match exactly."""
        self.issuer = self.issuer.rstrip("/")
        self.redirect_uris = list(self.redirect_uris)
        self.retry_delays = tuple(self.retry_delays)
        if self.webhook_format not in WEBHOOK_FORMATS:
            raise ValueError(f"webhook_format must be one of {WEBHOOK_FORMATS}")
        self.api_key_denied = frozenset(self.api_key_denied)


@dataclass(frozen=True)
class DemoIds:
    """Ids and names of the demo data created when `seed_demo` is on."""

    company_id: str = "biz_demo"
    company_name: str = "Demo Academy"
    company_route: str = "demo-academy"
    # Named by the route, not the id: pages show the logo and must not show `biz_…`.
    company_logo_url: str = "https://assets.whop.test/logos/demo-academy.png"
    product_id: str = "prod_demo"
    product_title: str = "Demo Academy Membership"
    plan_id: str = "plan_demo"
    member_user_id: str = "user_demo_member"
    guest_user_id: str = "user_demo_guest"
    creator_user_id: str = "user_demo_creator"
    member_membership_id: str = "mem_demo_member"
    other_company_id: str = "biz_other"
    other_company_name: str = "Other School"
    other_product_id: str = "prod_other"
    other_plan_id: str = "plan_other"
    other_member_user_id: str = "user_other_member"
    other_membership_id: str = "mem_other_member"
    other_company_route: str = "other-school"
    # Other School's owner (on its team), and a student with a membership at both schools.
    other_admin_user_id: str = "user_other_admin"
    both_member_user_id: str = "user_both_member"
    both_demo_membership_id: str = "mem_both_demo"
    both_other_membership_id: str = "mem_both_other"
    # Experiences (where Whop runs an installed app), one per company.
    experience_id: str = "exp_demo_academy"
    experience_name: str = "Demo Academy Lessons"
    other_experience_id: str = "exp_other_school"
    other_experience_name: str = "Other School Lessons"


DEMO = DemoIds()
