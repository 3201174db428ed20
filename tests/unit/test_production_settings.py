"""Production refuses settings that switch a protection off, naming each; `.env.example` left
as shipped (blank secrets, placeholder ids) never passes for a real configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from mentora.config import load_settings
from mentora.errors import ConfigError
from tests.unit.test_redirects_and_config import PROD

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def refusal(change: dict[str, str]) -> str:
    """The error a production configuration with `change` applied is refused with."""
    with pytest.raises(ConfigError) as err:
        load_settings({**PROD, **change})
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"METRICS_TOKEN": ""}, "METRICS_TOKEN"),
        ({"METRICS_TOKEN": "x"}, "METRICS_TOKEN"),
        ({"METRICS_TOKEN": "   "}, "METRICS_TOKEN"),
        ({"RATELIMIT_ENABLED": "false"}, "RATELIMIT_ENABLED"),
        ({"WEBHOOK_TOLERANCE_SECONDS": "-5"}, "WEBHOOK_TOLERANCE_SECONDS"),
        ({"WEBHOOK_TOLERANCE_SECONDS": "999999999"}, "WEBHOOK_TOLERANCE_SECONDS"),
        ({"WHOP_WEBHOOK_SECRET": "ws_"}, "WHOP_WEBHOOK_SECRET"),
        ({"WHOP_WEBHOOK_SECRET": "ws_live_abcdef1234567890abcdef,abc"}, "WHOP_WEBHOOK_SECRET"),
        ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES"),
        ({"SESSION_IDLE_MINUTES": "5256000"}, "SESSION_IDLE_MINUTES"),
        ({"SESSION_ABSOLUTE_HOURS": "87600"}, "SESSION_ABSOLUTE_HOURS"),
        ({"SESSION_ABSOLUTE_HOURS": "-1"}, "SESSION_ABSOLUTE_HOURS"),
        ({"LOGIN_TRANSACTION_MINUTES": "100000"}, "LOGIN_TRANSACTION_MINUTES"),
        ({"SECRET_KEY": "short-but-random-9f8e"}, "SECRET_KEY"),
        ({"WHOP_CLIENT_ID": "app_xxxxxxxxxxxxxx"}, "WHOP_CLIENT_ID"),
        ({"WHOP_COMPANY_ID": "biz_xxxxxxxxxxxxxx"}, "WHOP_COMPANY_ID"),
        ({"EMBEDDED_MODE": "true", "WHOP_APP_ID": "app_demo"}, "WHOP_APP_ID"),
        ({"TOKEN_ENCRYPTION_KEYS": "not-a-fernet-key"}, "TOKEN_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_protection_switched_off(change: dict[str, str], named: str) -> None:
    """Each setting that would switch a protection off is refused, and the error names it."""
    assert named in refusal(change)


def test_blank_metrics_token_is_no_token_outside_production() -> None:
    """`METRICS_TOKEN=` means no token (never the empty one that `Bearer ` would match)."""
    settings = load_settings({**PROD, "MENTORA_ENV": "development", "METRICS_TOKEN": ""})
    assert settings.metrics_token is None


def test_env_example_passes_once_its_secrets_are_filled() -> None:
    """`.env.example` with real values in its blank and placeholder lines loads: what the
    file ships apart from those is a valid production configuration."""
    shipped = {key: value or "" for key, value in dotenv_values(EXAMPLE).items()}
    fill = {name: PROD[name] for name in PROD if name != "APP_URL"}
    load_settings({**shipped, **fill})


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "TOKEN_ENCRYPTION_KEYS",
        "WHOP_CLIENT_ID",
        # Not WHOP_CLIENT_SECRET: blank is a public client (token auth none, PKCE), accepted.
        "WHOP_API_KEY",
        "WHOP_WEBHOOK_SECRET",
        "WHOP_COMPANY_ID",
        "METRICS_TOKEN",
    ],
)
def test_env_example_as_shipped_is_refused(name: str) -> None:
    """Each secret or id `.env.example` leaves blank or as a placeholder is refused by name
    when the operator forgets to fill it in (everything else filled)."""
    shipped = {key: value or "" for key, value in dotenv_values(EXAMPLE).items()}
    fill = {key: PROD[key] for key in PROD if key not in ("APP_URL", name)}
    assert name in shipped, name
    with pytest.raises(ConfigError) as err:
        load_settings({**shipped, **fill})
    assert name in str(err.value)
