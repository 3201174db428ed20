"""How the database layer reads DATABASE_URL (the settings' own checks are unit tests)."""

from __future__ import annotations

from mentora.db.engine import async_url, sync_url


def test_postgres_scheme_alias_is_accepted() -> None:
    """`postgres://` (as many hosts print it) means PostgreSQL through psycopg."""
    assert async_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert sync_url("postgres://u@h/db").startswith("postgresql+psycopg://")
