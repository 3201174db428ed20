"""Production refuses settings that switch a protection off, naming each; `.env.example` left
as shipped (blank secrets, placeholder ids) never passes for a real configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from mentora.config import DEV_TOKEN_KEY, load_settings
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


def problems(change: dict[str, str]) -> list[str]:
    """Each problem a production configuration with `change` applied is refused for."""
    return refusal(change).split("; ")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"SECRET_KEY": "s" * 31}, "SECRET_KEY must be at least 32 characters"),
        ({"SECRET_KEY": "changeme" * 6}, "SECRET_KEY is missing or a placeholder"),
        ({"WHOP_API_KEY": "dev-api-key"}, "WHOP_API_KEY is missing or a placeholder"),
        (
            {"WHOP_WEBHOOK_SECRET": "ws_dev-" + "a" * 20},
            "WHOP_WEBHOOK_SECRET is missing or a placeholder",
        ),
        (
            {"WHOP_CLIENT_SECRET": "dev-client-secret"},
            "WHOP_CLIENT_SECRET is missing or a placeholder",
        ),
        (
            {"EMBEDDED_MODE": "true", "WHOP_APP_ID": "app_demo"},
            "WHOP_APP_ID is missing, a placeholder or the development value",
        ),
        (
            {"TOKEN_ENCRYPTION_KEYS": DEV_TOKEN_KEY},
            "TOKEN_ENCRYPTION_KEYS is missing or a placeholder",
        ),
        (
            {"WHOP_WEBHOOK_SECRET": "ws_" + "a" * 20},
            "WHOP_WEBHOOK_SECRET must be Whop's ws_ secret (at least 24 characters each)",
        ),
        (
            {"WHOP_CLIENT_ID": "app_demo"},
            "WHOP_CLIENT_ID is missing, a placeholder or the development value",
        ),
        (
            {"WHOP_COMPANY_ID": "biz_demo"},
            "WHOP_COMPANY_ID is missing, a placeholder or the development value",
        ),
        (
            {
                "APP_URL": "http://learn.mentora.example",
                "WHOP_REDIRECT_URI": "https://learn.mentora.example/api/whop/callback",
            },
            "APP_URL must use https:// in production",
        ),
        (
            {"WHOP_REDIRECT_URI": "http://learn.mentora.example/api/whop/callback"},
            "WHOP_REDIRECT_URI must use https:// in production",
        ),
        (
            {"WHOP_OAUTH_ISSUER": "http://whop.internal"},
            "WHOP_OAUTH_ISSUER must use https:// in production",
        ),
        (
            {"WHOP_API_BASE_URL": "http://whop.internal/api/v1"},
            "WHOP_API_BASE_URL must use https:// in production",
        ),
        ({"EMULATOR_ENABLED": "true"}, "EMULATOR_ENABLED must be false in production"),
        (
            {"METRICS_TOKEN": "m" * 31},
            "METRICS_TOKEN is required in production (at least 32 random characters)",
        ),
        (
            {"METRICS_TOKEN": "placeholder" * 4},
            "METRICS_TOKEN is required in production (at least 32 random characters)",
        ),
        ({"RATELIMIT_ENABLED": "false"}, "RATELIMIT_ENABLED must be true in production"),
    ],
)
def test_each_production_problem_is_told_in_words_an_operator_can_act_on(
    change: dict[str, str], problem: str
) -> None:
    """The refusal lists exactly the problem the change caused, in the words the README and
    the operator see (the limit it must meet, or what the setting must be)."""
    assert problems(change) == [problem]


def test_every_problem_is_listed_at_once() -> None:
    """Several problems are all listed, in one refusal, so one deployment attempt shows them
    (a plain-HTTP APP_URL also makes the callback URL derived from it plain HTTP)."""
    found = problems({"APP_URL": "http://a.example", "RATELIMIT_ENABLED": "false"})
    assert found == [
        "APP_URL must use https:// in production",
        "WHOP_REDIRECT_URI must use https:// in production",
        "RATELIMIT_ENABLED must be true in production",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"SECRET_KEY": "s" * 32},
        {"METRICS_TOKEN": "m" * 32},
        {"WHOP_WEBHOOK_SECRET": "ws_" + "a" * 21},
        {"WHOP_WEBHOOK_SECRET": "ws_" + "a" * 21 + ",ws_" + "b" * 21},
        {"WHOP_CLIENT_SECRET": "a-real-client-secret-0123456789"},
        {"WHOP_ENV": "sandbox"},
        {"DATABASE_URL": "postgres://mentora@db.internal/mentora"},
        {"DATABASE_URL": "postgresql+psycopg://mentora@db.internal/mentora"},
        {"DATABASE_URL": "SQLite:///var/mentora.db"},
    ],
)
def test_production_accepts_values_at_their_limits(change: dict[str, str]) -> None:
    """Secrets exactly as long as required, rotated webhook secrets, the sandbox, and each
    spelling of the two supported databases (`postgres://` as hosts print it, a driver
    suffix, any case) load."""
    settings = load_settings({**PROD, **change})
    assert settings.is_production


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"WHOP_ENV": "staging"},
            "WHOP_ENV must be one of ['production', 'sandbox'] "
            "(or set WHOP_OAUTH_ISSUER and WHOP_API_BASE_URL)",
        ),
        (
            {"WHOP_ENV": "staging", "WHOP_OAUTH_ISSUER": "https://whop.internal"},
            "WHOP_ENV must be one of ['production', 'sandbox'] "
            "(or set WHOP_OAUTH_ISSUER and WHOP_API_BASE_URL)",
        ),
        (
            {"DATABASE_URL": "mysql+aiomysql://db/mentora"},
            "DATABASE_URL must be sqlite:///path or postgresql://..., not mysql://",
        ),
        ({"WHOP_OAUTH_SCOPES": "profile email"}, "WHOP_OAUTH_SCOPES must include 'openid'"),
        ({"WHOP_WEBHOOK_SECRET": " , "}, "WHOP_WEBHOOK_SECRET is empty"),
        ({"TOKEN_ENCRYPTION_KEYS": ","}, "TOKEN_ENCRYPTION_KEYS is empty"),
    ],
)
def test_unusable_settings_are_refused_in_every_environment(
    change: dict[str, str], message: str
) -> None:
    """An unknown Whop environment without both URLs, another database, no `openid` scope, or
    no webhook secret or token key is refused in development too, with what to set."""
    with pytest.raises(ConfigError) as err:
        load_settings({**PROD, "MENTORA_ENV": "development", **change})
    assert str(err.value) == message


def test_an_unknown_whop_environment_with_both_urls_is_a_private_whop() -> None:
    """WHOP_ENV outside the presets is fine when the issuer and API base are both given."""
    settings = load_settings(
        {
            **PROD,
            "WHOP_ENV": "staging",
            "WHOP_OAUTH_ISSUER": "https://whop.internal",
            "WHOP_API_BASE_URL": "https://whop.internal/api/v1",
        }
    )
    assert (settings.issuer, settings.api_base_url) == (
        "https://whop.internal",
        "https://whop.internal/api/v1",
    )
    assert settings.purchase_url == "https://whop.internal"


def test_sandbox_preset_hosts() -> None:
    """WHOP_ENV=sandbox points at Whop's sandbox hosts, and the redirect URI follows APP_URL."""
    settings = load_settings({**PROD, "WHOP_ENV": "sandbox", "APP_URL": "https://m.example/"})
    assert settings.issuer == "https://sandbox-api.whop.com"
    assert settings.api_base_url == "https://sandbox-api.whop.com/api/v1"
    assert settings.purchase_url == "https://sandbox.whop.com"
    assert settings.redirect_uri == "https://m.example/api/whop/callback"


@pytest.mark.parametrize(
    ("value", "tiers"),
    [
        ("", {}),
        ("  ", {}),
        ('{"prod_a": "gold"}', {"prod_a": "gold"}),
        (" prod_a = gold , prod_b=silver ", {"prod_a": "gold", "prod_b": "silver"}),
    ],
)
def test_whop_tiers_read_as_json_or_pairs(value: str, tiers: dict[str, str]) -> None:
    """WHOP_TIERS is a JSON object or `product=tier` pairs separated by commas; blank is none."""
    assert load_settings({**PROD, "WHOP_TIERS": value}).whop_tiers == tiers


def test_comma_separated_lists_and_secrets_are_trimmed() -> None:
    """Comma lists (products, proxies, tier order) and rotated secrets drop blanks and spaces."""
    settings = load_settings(
        {
            **PROD,
            "WHOP_ACCESS_PRODUCT_IDS": " prod_a, ,prod_b ",
            "TRUSTED_PROXIES": "10.0.0.1 ,",
            "ACCESS_TIER_ORDER": "gold, silver",
            "WHOP_WEBHOOK_SECRET": f" {'ws_' + 'a' * 21} , {'ws_' + 'b' * 21} ",
        }
    )
    assert settings.whop_access_product_ids == ["prod_a", "prod_b"]
    assert settings.trusted_proxies == ["10.0.0.1"]
    assert settings.access_tier_order == ["gold", "silver"]
    assert settings.webhook_secrets == ["ws_" + "a" * 21, "ws_" + "b" * 21]


def test_a_malformed_setting_is_refused_by_name() -> None:
    """A value of the wrong type or a malformed rate limit names the setting at fault; several
    are all named, and a bad entry inside a mapping is named down to its key."""
    assert refusal({"SESSION_IDLE_MINUTES": "x", "SESSION_ABSOLUTE_HOURS": "y"}).startswith(
        "invalid setting(s): SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_HOURS: "
    )
    assert refusal({"WHOP_TIERS": '{"prod_a": 5}'}).startswith(
        "invalid setting(s): WHOP_TIERS.PROD_A: "
    )
    assert refusal({"SESSION_IDLE_MINUTES": "soon"}).startswith(
        "invalid setting(s): SESSION_IDLE_MINUTES: "
    )
    assert refusal({"RATELIMIT_LOGIN": "often"}).startswith("invalid setting(s): RATELIMIT_LOGIN: ")


def test_without_a_mapping_settings_come_from_the_process_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`load_settings()` reads `.env` in the working directory (the process environment, when
    it sets a name, wins); `env_file=None` reads no file. monkeypatch puts back the
    environment and the directory."""
    names = [*PROD, "SESSION_IDLE_MINUTES"]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    lines = [f"{name}={value}" for name, value in PROD.items()]
    (tmp_path / ".env").write_text("\n".join([*lines, "SESSION_IDLE_MINUTES=17"]) + "\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.is_production and settings.session_idle_minutes == 17
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "18")
    assert load_settings().session_idle_minutes == 18
    assert not load_settings(env_file=None).is_production  # the file's MENTORA_ENV unread
