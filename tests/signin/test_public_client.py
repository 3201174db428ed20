"""A public OAuth client (no secret, token auth `none`, PKCE only), as in Whop's OAuth guide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mentora.config import Settings
from mentora.emulator import DEMO
from tests.support.env import make_settings
from tests.support.signin import SignIn


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app configured as a public client: WHOP_CLIENT_SECRET is empty."""
    return make_settings(database_url, mail_dir=str(tmp_path / "mail"), whop_client_secret="")


@pytest.fixture
def emulator_config(emulator_config: Any) -> Any:
    """A public app at Whop whose registered secret the app does not know: any secret the app
    sent would be wrong and refused (`invalid_client`), so only auth `none` signs in."""
    emulator_config.confidential = False
    emulator_config.client_secret = "a-secret-the-app-never-sees"
    return emulator_config


async def test_public_client_signs_in_without_a_secret(
    signin: SignIn, settings: Settings, emulator: Any
) -> None:
    """The code exchange goes through with client_id in the body and no secret."""
    assert settings.is_public_client
    done = await signin.sign_in(DEMO.member_user_id)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard"
    grants = list(emulator.state.oauth.grants.values())
    assert [(g.user_id, g.client_id) for g in grants] == [(DEMO.member_user_id, "app_demo")]
