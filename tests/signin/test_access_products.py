"""Sign-in asks Whop about the creator's access products, the same way revalidation does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mentora.config import Settings
from mentora.emulator import DEMO
from tests.support.env import make_settings
from tests.support.signin import SignIn


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Only prod_other grants access at the demo creator."""
    return make_settings(
        database_url, mail_dir=str(tmp_path / "mail"), whop_access_product_ids="prod_other"
    )


async def test_member_of_another_product_is_refused(
    signin: SignIn, client: httpx.AsyncClient
) -> None:
    """A member of prod_demo is signed in but refused at the gate when only prod_other
    grants access."""
    response = await signin.sign_in(DEMO.member_user_id)
    assert response.status_code == 303
    refused = await client.get("/api/content")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "no_membership")


async def test_member_of_the_access_product_is_admitted(signin: SignIn) -> None:
    """The member of prod_other signs in."""
    response = await signin.sign_in("user_other_member")
    assert response.status_code == 303, response.text
    assert signin.session_cookie()
