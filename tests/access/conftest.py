"""Access tests run with embedded mode on (so the iframe route exists) and short timeouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentora.config import Settings
from tests.support.env import make_settings
from tests.support.fixtures import *  # noqa: F403  (the app stack's fixtures, for this directory)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings with the embedded (iframe) mode on."""
    return make_settings(
        database_url,
        mail_dir=str(tmp_path / "mail"),
        embedded_mode="true",
        whop_http_timeout_seconds="2",
    )
