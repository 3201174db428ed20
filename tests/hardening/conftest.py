"""Fixtures for the hardening tests: per-test setting overrides and captured logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mentora.config import Settings
from tests.hardening.helpers import CapturedLogs, configured_logging
from tests.support.env import make_settings
from tests.support.fixtures import *  # noqa: F403  (the app stack's fixtures, for this directory)


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Extra settings for the app under test; modules and tests override this fixture."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, overrides: dict[str, Any]) -> Settings:
    """The shared test settings plus this module's `overrides`."""
    return make_settings(database_url, mail_dir=str(tmp_path / "mail"), **overrides)


@pytest.fixture
def json_logs() -> Iterator[CapturedLogs]:
    """Logging configured as in production (JSON, redaction), every line captured."""
    with configured_logging("json") as logs:
        yield logs
