"""What every test shares, kept light: `tests/unit` loads this and nothing of the app stack.

The app stack's fixtures (databases, clock, emulator, app, client, sign-in) live in
tests/support/fixtures.py; each test directory that uses them imports them in its own
conftest.py, and tests/support/env.py holds the test settings and service addresses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def environment_unchanged() -> Iterator[None]:
    """Every test leaves the process environment as it found it (after monkeypatch's undo):
    a variable left behind, such as AUTHLIB_INSECURE_TRANSPORT, would change later tests."""
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield
    after = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert changed == [], f"the test left these environment variables changed: {changed}"
