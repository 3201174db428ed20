"""Typed settings, read once from the environment (and `.env`), refusing unsafe values.

Nothing is read at import time: `load_settings()` builds a `Settings` from an injected mapping,
so tests pass a dict. In production the app refuses to start on a missing or placeholder secret,
a non-HTTPS URL or the emulator switched on, and the error names the setting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mentora.crypto import TokenBox
from mentora.errors import ConfigError

PLACEHOLDER_MARKERS = ("changeme", "change-me", "placeholder", "demo-", "dev-", "xxx", "example")

# Whop's documented endpoints, used when discovery cannot be read (whop-platform.md §1, §6).
WHOP_PRESETS: dict[str, dict[str, str]] = {
    "production": {
        "issuer": "https://api.whop.com",
        "api_base_url": "https://api.whop.com/api/v1",
        "purchase_url": "https://whop.com",
    },
    "sandbox": {
        "issuer": "https://sandbox-api.whop.com",
        "api_base_url": "https://sandbox-api.whop.com/api/v1",
        "purchase_url": "https://sandbox.whop.com",
    },
}

# Shortest secrets production accepts: each must resist guessing on its own.
MIN_SECRET_KEY = 32
MIN_METRICS_TOKEN = 32
MIN_WEBHOOK_SECRET = 24

# Known secrets shared by `mentora dev` and its emulator; never valid in production.
DEV_CLIENT_ID = "app_demo"
DEV_CLIENT_SECRET = "dev-client-secret"  # noqa: S105 - development-only constant
DEV_API_KEY = "dev-api-key"
DEV_WEBHOOK_SECRET = "ws_dev_webhook_secret"  # noqa: S105
DEV_TOKEN_KEY = "ZGV2LXRva2VuLWtleS1kby1ub3QtdXNlLWluLXByb2Q="  # noqa: S105 - 32 bytes, urlsafe b64
DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    """Where the app runs; production turns every safety check on."""

    development = "development"
    test = "test"
    production = "production"


def _split_text(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


COMPANY_ID = re.compile(r"biz_[A-Za-z0-9]{1,60}")


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting Mentora reads; the README lists them all."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    mentora_env: Environment = Environment.development
    app_url: str = "http://localhost:8000"
    database_url: str = "sqlite:///var/mentora.db"
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    token_encryption_keys: SecretStr = SecretStr(DEV_TOKEN_KEY)

    whop_env: str = "production"
    whop_oauth_issuer: str | None = None
    whop_api_base_url: str | None = None
    whop_purchase_url: str | None = None
    whop_client_id: str = DEV_CLIENT_ID
    whop_client_secret: SecretStr | None = SecretStr(DEV_CLIENT_SECRET)
    whop_api_key: SecretStr = SecretStr(DEV_API_KEY)
    whop_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    whop_app_id: str = DEV_CLIENT_ID
    whop_company_id: str = "biz_demo"
    whop_access_product_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    whop_tiers: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    whop_redirect_uri: str | None = None
    whop_oauth_scopes: str = "openid profile email"
    whop_http_timeout_seconds: float = 10.0
    # Who may set Mentora up for their Whop company at /onboard (a Whop `admin` of it):
    # anyone (`open`), the companies in CREATOR_ONBOARDING_ALLOWLIST (`allowlist`), or nobody
    # (`closed`: only `mentora creators add`). Unset: `open` in development and tests,
    # `closed` in production.
    creator_onboarding: Literal["open", "allowlist", "closed"] | None = None
    creator_onboarding_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Bounded so that a typo cannot make a session outlive a month or a sign-in an hour.
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=30 * 24)
    login_transaction_minutes: int = Field(default=10, ge=1, le=60)
    refresh_leeway_seconds: int = 300

    access_ttl_seconds: int = 300
    access_grace_seconds: int = 900
    past_due_grace_days: int = 3
    # Tiers from lowest to highest: a tier requirement accepts that tier or any above it.
    access_tier_order: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # After a failed check with Whop, wait this long before asking again for that student;
    # after `access_breaker_failures` failures in a row, stop asking anyone for as long.
    access_retry_seconds: int = 30
    access_breaker_failures: int = 5
    payment_failed_pauses_access: bool = False
    refund_revokes_access: bool = False
    dispute_revokes_access: bool = True

    # Standard Webhooks' replay window: a negative one refuses everything, a huge one
    # accepts a captured delivery replayed days later.
    webhook_tolerance_seconds: int = Field(default=300, ge=30, le=3600)
    webhook_max_body_bytes: int = 262_144
    webhook_legacy_signature: bool = False
    webhook_max_attempts: int = Field(default=8, ge=1)
    # Deliveries stored and applied together in one transaction when they arrive together.
    webhook_batch_max: int = Field(default=64, ge=1, le=1000)
    # After a batch of several, how long the next one may wait for the deliveries in flight
    # (those queued and those that batch answered) to be queued: a burst then keeps its
    # batches whole instead of splitting into two that take turns.
    webhook_batch_linger_ms: float = Field(default=2.0, ge=0, le=1000)
    # Sends of one queued email or alert before it is dead-lettered (backoff in between).
    outbox_max_attempts: int = Field(default=10, ge=1)
    # How long a worker holds a claimed email before another worker may send it: longer than
    # one SMTP send (a worker that died mid-send is waited out this long, then it is resent).
    outbox_lease_seconds: float = Field(default=300.0, gt=0, le=3600)

    smtp_url: str | None = None
    mail_from: str = "Mentora <no-reply@mentora.test>"
    mail_dir: str = "var/mail"
    creator_alert_email: str | None = None

    sync_interval_seconds: int = 3600
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    embedded_mode: bool = False
    # How long a process remembers which company an experience (`exp_...`) belongs to, and how
    # long it remembers that Whop does not know one (a shorter time: it may be created soon).
    experience_cache_seconds: int = Field(default=300, ge=0, le=86400)
    experience_miss_cache_seconds: int = Field(default=30, ge=0, le=3600)
    emulator_enabled: bool = False
    metrics_token: SecretStr | None = None
    log_format: str = "console"
    log_level: str = "INFO"
    # Count SQL statements by verb in mentora_db_statements_total (benchmarks: statements per
    # sign-in); off by default, since every statement would pay for the count.
    sql_statement_metrics: bool = False

    # Rate limits in `limits` notation; ";" joins windows ("10/minute;50/hour" = burst and
    # sustained). REDIS_URL shares the counters between processes (docs/security.md).
    ratelimit_enabled: bool = True
    ratelimit_login: str = "10/minute"
    ratelimit_callback: str = "20/minute"
    ratelimit_auth_global: str = "1200/minute"
    ratelimit_refresh: str = "30/minute"
    ratelimit_logout: str = "30/minute"
    ratelimit_account: str = "10/minute"
    ratelimit_webhook_rejections: str = "30/minute"
    # Requests with a session cookie we never issued are audited up to this rate per client;
    # past it they are only counted, so junk cookies cannot turn into unbounded DB writes.
    ratelimit_invalid_session_audit: str = "20/minute"
    # Request bodies past this size get 413 before any route reads them (R04).
    max_body_bytes: int = 1_048_576

    @field_validator(
        "whop_access_product_ids",
        "trusted_proxies",
        "access_tier_order",
        "creator_onboarding_allowlist",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value)

    @field_validator(
        "ratelimit_login",
        "ratelimit_callback",
        "ratelimit_auth_global",
        "ratelimit_refresh",
        "ratelimit_logout",
        "ratelimit_account",
        "ratelimit_webhook_rejections",
        "ratelimit_invalid_session_audit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # raises ValueError on a malformed limit, naming the setting
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `METRICS_TOKEN=` (the example file's blank line) means no token, never the empty
        # one: an empty token would let `Authorization: Bearer ` through.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("whop_tiers", mode="before")
    @classmethod
    def _tiers(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}
            if value.strip().startswith("{"):
                return json.loads(value)
            pairs = (item.split("=", 1) for item in _split(value))
            return {key.strip(): tier.strip() for key, tier in pairs}
        return value

    @field_validator("creator_onboarding", mode="before")
    @classmethod
    def _blank_onboarding(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("creator_onboarding_allowlist")
    @classmethod
    def _company_ids(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not COMPANY_ID.fullmatch(item)]
        if bad:
            raise ValueError(f"not Whop company ids (biz_…): {', '.join(bad)}")
        return value

    @property
    def onboarding_mode(self) -> str:
        """CREATOR_ONBOARDING, or its default: `closed` in production, else `open`."""
        if self.creator_onboarding is not None:
            return self.creator_onboarding
        return "closed" if self.is_production else "open"

    @property
    def is_production(self) -> bool:
        """True when every production safety check applies."""
        return self.mentora_env is Environment.production

    @cached_property
    def issuer(self) -> str:
        """The OAuth/OIDC issuer, from WHOP_OAUTH_ISSUER or the WHOP_ENV preset."""
        return self.whop_oauth_issuer or WHOP_PRESETS[self.whop_env]["issuer"]

    @cached_property
    def api_base_url(self) -> str:
        """Whop's REST base URL (`.../api/v1`)."""
        return self.whop_api_base_url or WHOP_PRESETS[self.whop_env]["api_base_url"]

    @cached_property
    def purchase_url(self) -> str:
        """Where a student without access is sent to buy."""
        base = self.whop_purchase_url or WHOP_PRESETS.get(self.whop_env, {}).get(
            "purchase_url", self.issuer
        )
        return base

    @cached_property
    def redirect_uri(self) -> str:
        """The registered callback URL; never derived from request headers (C07)."""
        return self.whop_redirect_uri or self.app_url.rstrip("/") + "/api/whop/callback"

    @cached_property
    def webhook_secrets(self) -> list[str]:
        """Active webhook secrets, newest first (comma-separated for rotation, W07)."""
        return _split_text(self.whop_webhook_secret.get_secret_value())

    @cached_property
    def token_keys(self) -> list[str]:
        """Token encryption keys, the current one first (MultiFernet rotation)."""
        return _split_text(self.token_encryption_keys.get_secret_value())

    @property
    def is_public_client(self) -> bool:
        """True when no client secret is set: Whop's public PKCE client (token auth `none`)."""
        return self.whop_client_secret is None or not self.whop_client_secret.get_secret_value()

    @property
    def scopes(self) -> list[str]:
        """The OAuth scopes requested at sign-in (C17)."""
        return self.whop_oauth_scopes.split()

    def check(self) -> None:
        """Refuse unsafe combinations; raise ConfigError naming the setting."""
        if self.whop_env not in WHOP_PRESETS and not (
            self.whop_oauth_issuer and self.whop_api_base_url
        ):
            raise ConfigError(
                f"WHOP_ENV must be one of {sorted(WHOP_PRESETS)} "
                "(or set WHOP_OAUTH_ISSUER and WHOP_API_BASE_URL)"
            )
        backend = self.database_url.split(":", 1)[0].split("+", 1)[0].lower()
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ConfigError(
                f"DATABASE_URL must be sqlite:///path or postgresql://..., not {backend}://"
            )
        if "openid" not in self.scopes:
            raise ConfigError("WHOP_OAUTH_SCOPES must include 'openid'")
        if not self.webhook_secrets:
            raise ConfigError("WHOP_WEBHOOK_SECRET is empty")
        if not self.token_keys:
            raise ConfigError("TOKEN_ENCRYPTION_KEYS is empty")
        # Checked here, where every process loads its settings: a bad key found later, in a
        # uvicorn worker importing the app, would end that worker with a traceback.
        TokenBox(self.token_keys)
        if not self.is_production:
            return
        problems = self.production_problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def production_problems(self) -> list[str]:
        """What production refuses in these settings, one line per setting (empty: none)."""
        problems: list[str] = []
        secrets = {
            "SECRET_KEY": self.secret_key.get_secret_value(),
            "TOKEN_ENCRYPTION_KEYS": self.token_encryption_keys.get_secret_value(),
            "WHOP_API_KEY": self.whop_api_key.get_secret_value(),
            "WHOP_WEBHOOK_SECRET": self.whop_webhook_secret.get_secret_value(),
        }
        # An empty WHOP_CLIENT_SECRET is a public client (token auth `none`, PKCE only), as in
        # Whop's OAuth guide; a secret that is set must still be a real one.
        if self.whop_client_secret is not None and self.whop_client_secret.get_secret_value():
            secrets["WHOP_CLIENT_SECRET"] = self.whop_client_secret.get_secret_value()
        for name, value in secrets.items():
            if not value or _looks_like_placeholder(value):
                problems.append(f"{name} is missing or a placeholder")
        if len(self.secret_key.get_secret_value()) < MIN_SECRET_KEY:
            problems.append(f"SECRET_KEY must be at least {MIN_SECRET_KEY} characters")
        if any(len(secret) < MIN_WEBHOOK_SECRET for secret in self.webhook_secrets):
            problems.append(
                f"WHOP_WEBHOOK_SECRET must be Whop's ws_ secret (at least {MIN_WEBHOOK_SECRET} "
                "characters each)"
            )
        identifiers = [("WHOP_CLIENT_ID", self.whop_client_id)]
        identifiers.append(("WHOP_COMPANY_ID", self.whop_company_id))
        if self.embedded_mode:  # every real x-whop-user-token names the real app as audience
            identifiers.append(("WHOP_APP_ID", self.whop_app_id))
        for name, value in identifiers:
            if value in ("", DEV_CLIENT_ID, "biz_demo") or _looks_like_placeholder(value):
                problems.append(f"{name} is missing, a placeholder or the development value")
        if not self.app_url.startswith("https://"):
            problems.append("APP_URL must use https:// in production")
        if not self.redirect_uri.startswith("https://"):
            problems.append("WHOP_REDIRECT_URI must use https:// in production")
        for name, url in (
            ("WHOP_OAUTH_ISSUER", self.issuer),
            ("WHOP_API_BASE_URL", self.api_base_url),
        ):
            if not url.startswith("https://"):
                problems.append(f"{name} must use https:// in production")
        if self.emulator_enabled:
            problems.append("EMULATOR_ENABLED must be false in production")
        if self.onboarding_mode == "allowlist" and not self.creator_onboarding_allowlist:
            problems.append("CREATOR_ONBOARDING=allowlist needs CREATOR_ONBOARDING_ALLOWLIST")
        metrics_token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if len(metrics_token) < MIN_METRICS_TOKEN or _looks_like_placeholder(metrics_token):
            problems.append(
                f"METRICS_TOKEN is required in production (at least {MIN_METRICS_TOKEN} "
                "random characters)"
            )
        if not self.ratelimit_enabled:
            problems.append("RATELIMIT_ENABLED must be true in production")
        return problems


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    dev_values = (DEV_TOKEN_KEY, DEV_SECRET_KEY, DEV_API_KEY, DEV_CLIENT_SECRET, DEV_WEBHOOK_SECRET)
    return any(marker in lowered for marker in PLACEHOLDER_MARKERS) or any(
        dev in value for dev in dev_values
    )


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: str | None = ".env",
    check: bool = True,
) -> Settings:
    """Build and check settings from `environ` (default: the process environment and `.env`).

    `check=False` skips `Settings.check()` (types are still validated): `mentora doctor` runs
    it as one of its checks and carries on with the others.
    """
    try:
        if environ is None:
            settings = Settings(_env_file=env_file)
        else:
            lowered = {key.lower(): value for key, value in environ.items()}
            settings = Settings.model_validate(lowered)
    except ValidationError as exc:
        names = ", ".join(".".join(str(p) for p in err["loc"]).upper() for err in exc.errors())
        raise ConfigError(f"invalid setting(s): {names}: {exc.errors()[0]['msg']}") from None
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    if check:
        settings.check()
    return settings
