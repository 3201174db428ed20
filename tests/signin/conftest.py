"""This directory's tests run against the app stack: its fixtures come from tests/support."""

from __future__ import annotations

from tests.support.fixtures import *  # noqa: F403  (the app stack's fixtures, for this directory)
