"""`UTCDateTime` binds on SQLite: the one-step formatter writes exactly what the general path
(our `process_bind_param`, then SQLite's own DATETIME formatting) wrote, and SQLite reads it
back as the same instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from mentora.db.base import UTCDateTime

NOW = datetime.now(UTC)
VALUES = [
    None,
    NOW,
    NOW.replace(microsecond=0),  # isoformat would drop a zero fraction without timespec
    NOW.replace(tzinfo=None),  # naive: already UTC
    NOW.astimezone(timezone(timedelta(hours=5, minutes=30))),
    NOW.astimezone(timezone(timedelta(hours=-8))),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year below 1000 keeps its four digits
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]


def _general_path(dialect: Any) -> Callable[[datetime | None], Any]:
    """What binding did before the one-step formatter: ours, then the dialect's."""
    column_type = UTCDateTime()
    impl = column_type.impl_instance.dialect_impl(dialect).bind_processor(dialect)
    assert impl is not None

    def process(value: datetime | None) -> Any:
        return impl(column_type.process_bind_param(value, dialect))

    return process


@pytest.mark.parametrize("value", VALUES)
def test_sqlite_bind_text_is_unchanged(value: datetime | None) -> None:
    """The one-step SQLite formatter gives the same text as the general path."""
    dialect = sqlite.dialect()
    fast = UTCDateTime().bind_processor(dialect)
    assert fast is not None
    assert fast(value) == _general_path(dialect)(value)


def test_sqlite_bind_refuses_what_is_not_a_datetime() -> None:
    """A value that is not a datetime is a clear TypeError, not a stored string."""
    fast = UTCDateTime().bind_processor(sqlite.dialect())
    assert fast is not None
    with pytest.raises(TypeError):
        fast("2026-01-01 00:00:00")  # type: ignore[arg-type]


def test_sqlite_round_trip_is_the_same_instant() -> None:
    """Stored through the engine and read back: the same aware UTC instant."""
    table = Table("moments", MetaData(), Column("id", Integer, primary_key=True))
    table.append_column(Column("at", UTCDateTime()))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    moments = [value for value in VALUES if value is not None]
    with engine.begin() as connection:
        connection.execute(insert(table), [{"at": value} for value in moments])
        stored = connection.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    expected = [v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC) for v in moments]
    assert stored == expected


@pytest.mark.parametrize("name", ["sqlite", "postgresql"])
def test_a_value_bound_again_gives_its_own_text(name: str) -> None:
    """The processor remembers the last value it converted: binding the same object again,
    or values in turn (equal instants in other zones included), gives each value what a
    processor that never saw another value gives it."""
    dialect: Any = sqlite.dialect() if name == "sqlite" else cast(Any, postgresql).psycopg.dialect()
    bind = UTCDateTime().bind_processor(dialect)
    assert bind is not None
    sequence = [NOW, NOW, VALUES[4], NOW, None, NOW, VALUES[5], VALUES[5], None, None, NOW]
    assert [bind(value) for value in sequence] == [
        UTCDateTime().bind_processor(dialect)(value)  # type: ignore[misc]
        for value in sequence
    ]
