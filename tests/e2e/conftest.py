"""The end-to-end tests start real servers on migrated databases: the app stack's fixtures."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403  (the app stack's fixtures, for this directory)
