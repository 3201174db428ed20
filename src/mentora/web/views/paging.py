"""Keyset paging for lists ordered newest first by (time, id): pure SQL-building helpers.

A page ends with its last row's id; the next page asks for rows strictly older than that
row's (time, id). The cursor is looked up inside the same scope (creator or company), so an
id from another creator's list is simply unknown there, never a way to peek across.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


class UnknownCursor(ValueError):
    """The `before` cursor names no row in this list's scope."""


def older_than(time_col: Any, id_col: Any, at: datetime, row_id: int) -> ColumnElement[bool]:
    """SQL: (time, id) < (at, row_id).

    The plain `time <= at` is redundant but sargable: it lets SQLite and PostgreSQL start the
    index walk at the cursor instead of filtering every newer row (which would make deep
    pages cost what OFFSET costs).
    """
    return and_(time_col <= at, or_(time_col < at, id_col < row_id))
