"""Pure helpers: return-path validation (C08), discovery parsing (C02, C13), production config."""

from __future__ import annotations

import pytest

from mentora.config import load_settings
from mentora.errors import ConfigError
from mentora.oauth.discovery import parse_metadata
from mentora.oauth.errors import DiscoveryError
from mentora.oauth.pkce import make_verifier, s256_challenge

ISSUER = "https://whop.test"
DOC = {
    "issuer": ISSUER,
    "code_challenge_methods_supported": ["S256"],
    "id_token_signing_alg_values_supported": ["ES256"],
}


def test_c01_verifiers_are_unique_and_long() -> None:
    """1,000 verifiers are distinct and ≥ 43 chars; the S256 challenge matches RFC 7636's vector."""
    verifiers = {make_verifier() for _ in range(1000)}
    assert len(verifiers) == 1000
    assert all(len(v) >= 43 for v in verifiers)
    assert (
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize("issuer", ["https://whop.test/", "https://evil.test"])
def test_c13_discovery_issuer_must_match_exactly(issuer: str) -> None:
    """A discovery document naming another issuer (even by a trailing slash) is refused."""
    with pytest.raises(DiscoveryError):
        parse_metadata({**DOC, "issuer": issuer}, expected_issuer=ISSUER)


@pytest.mark.parametrize("methods", [None, ["plain"], []])
def test_c02_discovery_without_s256_is_refused(methods: list[str] | None) -> None:
    """No S256 in code_challenge_methods_supported: fail closed."""
    doc = {**DOC}
    if methods is None:
        doc.pop("code_challenge_methods_supported")
    else:
        doc["code_challenge_methods_supported"] = methods
    with pytest.raises(DiscoveryError):
        parse_metadata(doc, expected_issuer=ISSUER)


def test_o02_discovery_algorithms_are_intersected_with_allowlist() -> None:
    """`none` and HS256 from metadata never become allowed algorithms."""
    meta = parse_metadata(
        {**DOC, "id_token_signing_alg_values_supported": ["none", "HS256", "ES256"]},
        expected_issuer=ISSUER,
    )
    assert meta.id_token_algs == ("ES256",)
    with pytest.raises(DiscoveryError):
        parse_metadata(
            {**DOC, "id_token_signing_alg_values_supported": ["none"]}, expected_issuer=ISSUER
        )


@pytest.mark.parametrize(
    "name",
    [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "jwks_uri",
    ],
)
def test_an_https_issuers_endpoints_must_be_https(name: str) -> None:
    """An https issuer's discovery document naming a plain-HTTP endpoint is refused: the code,
    the client secret and the tokens never travel in the clear. An https one is kept."""
    with pytest.raises(DiscoveryError, match=name):
        parse_metadata({**DOC, name: "http://whop.test/x"}, expected_issuer=ISSUER)
    meta = parse_metadata({**DOC, name: "https://whop.test/x"}, expected_issuer=ISSUER)
    assert getattr(meta, name) == "https://whop.test/x"


PROD = {
    "MENTORA_ENV": "production",
    "APP_URL": "https://learn.mentora.example",
    "SECRET_KEY": "k" * 48,
    "TOKEN_ENCRYPTION_KEYS": "q0i3hEzM0e1nS9aRj8D0N2l5E7m3Xw2ZrB0rD3cF4aY=",
    "WHOP_CLIENT_ID": "app_live123",
    "WHOP_CLIENT_SECRET": "s3cr3t-value-live",
    "WHOP_API_KEY": "apik_live_abc",
    "WHOP_WEBHOOK_SECRET": "ws_live_abcdef1234567890abcdef",
    "WHOP_APP_ID": "app_live123",
    "WHOP_COMPANY_ID": "biz_live",
    "METRICS_TOKEN": "m3tr1cs-t0ken-l1ve-0123456789abcdef",
}


def test_production_config_accepted_when_complete() -> None:
    """A complete production configuration loads, with Whop's production hosts."""
    settings = load_settings(PROD)
    assert settings.issuer == "https://api.whop.com"
    assert settings.api_base_url == "https://api.whop.com/api/v1"
    assert load_settings({**PROD, "WHOP_ENV": "sandbox"}).issuer == "https://sandbox-api.whop.com"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"APP_URL": "http://learn.mentora.example"}, "APP_URL"),
        ({"WHOP_API_KEY": "changeme"}, "WHOP_API_KEY"),
        ({"SECRET_KEY": "dev-secret-key-do-not-use-in-production"}, "SECRET_KEY"),
        ({"EMULATOR_ENABLED": "true"}, "EMULATOR_ENABLED"),
        ({"WHOP_OAUTH_ISSUER": "http://127.0.0.1:8765"}, "WHOP_OAUTH_ISSUER"),
        ({"WHOP_WEBHOOK_SECRET": "ws_dev_webhook_secret"}, "WHOP_WEBHOOK_SECRET"),
        ({"SESSION_IDLE_MINUTES": "soon"}, "SESSION_IDLE_MINUTES"),
    ],
)
def test_c18_production_refuses_unsafe_settings_naming_them(
    change: dict[str, str], named: str
) -> None:
    """Each unsafe production setting is refused with its name in the message."""
    with pytest.raises(ConfigError) as err:
        load_settings({**PROD, **change})
    assert named in str(err.value)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://x", "nonsense"])
def test_unsupported_database_url_is_refused_by_name(url: str) -> None:
    """DATABASE_URL other than SQLite or PostgreSQL is a clear configuration error."""
    with pytest.raises(ConfigError) as err:
        load_settings({**PROD, "DATABASE_URL": url})
    assert "DATABASE_URL" in str(err.value)


def test_production_accepts_a_public_client_with_an_empty_secret() -> None:
    """An empty WHOP_CLIENT_SECRET is Whop's public PKCE client, not a missing secret."""
    settings = load_settings({**PROD, "WHOP_CLIENT_SECRET": ""})
    assert settings.is_public_client
    assert not load_settings(PROD).is_public_client


def test_production_still_refuses_a_placeholder_client_secret() -> None:
    """A secret that is set must be a real one: the dev value is refused by name."""
    with pytest.raises(ConfigError) as err:
        load_settings({**PROD, "WHOP_CLIENT_SECRET": "dev-client-secret"})
    assert "WHOP_CLIENT_SECRET" in str(err.value)


@pytest.mark.parametrize("app_id", [None, "", "app_demo"])
def test_production_embedded_mode_needs_the_real_app_id(app_id: str | None) -> None:
    """Embedded mode with the dev (or no) WHOP_APP_ID is refused, naming the setting: every
    real x-whop-user-token would fail its audience check."""
    env = {**PROD, "EMBEDDED_MODE": "true"}
    env.pop("WHOP_APP_ID")
    if app_id is not None:
        env["WHOP_APP_ID"] = app_id
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert "WHOP_APP_ID" in str(err.value)
    assert load_settings({**env, "WHOP_APP_ID": "app_live123"}).embedded_mode


def test_creator_onboarding_defaults_closed_in_production_and_open_elsewhere() -> None:
    """CREATOR_ONBOARDING unset: `closed` in production, `open` in development."""
    assert load_settings(PROD).onboarding_mode == "closed"
    assert load_settings({"MENTORA_ENV": "development"}).onboarding_mode == "open"
    chosen = load_settings(
        {**PROD, "CREATOR_ONBOARDING": "allowlist", "CREATOR_ONBOARDING_ALLOWLIST": "biz_a, biz_b"}
    )
    assert (chosen.onboarding_mode, chosen.creator_onboarding_allowlist) == (
        "allowlist",
        ["biz_a", "biz_b"],
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            {"CREATOR_ONBOARDING": "allowlist"},
            # The whole sentence: an operator reads it as the fix to make.
            "CREATOR_ONBOARDING=allowlist needs CREATOR_ONBOARDING_ALLOWLIST(;|$)",
        ),
        ({"CREATOR_ONBOARDING": "sometimes"}, "CREATOR_ONBOARDING"),
        ({"CREATOR_ONBOARDING_ALLOWLIST": "biz_ok,not-a-company"}, "not-a-company"),
    ],
)
def test_creator_onboarding_settings_are_checked(change: dict[str, str], named: str) -> None:
    """An allowlist mode with nobody listed (production), an unknown mode, or an allowlist
    entry that is no `biz_` id is refused, naming it."""
    with pytest.raises(ConfigError, match=named):
        load_settings({**PROD, **change})
