"""Declarative base with a naming convention, and column helpers shared by the models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

from mentora.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_UNSEEN = object()


def _remember_last(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process`, answering again without converting when handed the very object it converted
    last (datetimes are immutable, so the same object has the same bound form). The last pair
    is swapped as one tuple, so a processor shared between threads never mixes two pairs."""
    last: tuple[object, Any] = (_UNSEEN, None)

    def remembered(value: Any) -> Any:
        nonlocal last
        seen, bound = last
        if value is seen:
            return bound
        bound = process(value)
        last = (value, bound)
        return bound

    return remembered


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store aware UTC; SQLite gets naive UTC so comparisons stay lexical-safe."""
        if value is None:
            return None
        if dialect.name != "sqlite":
            return as_utc(value)
        # Every timestamp of every row passes here: the common cases without a conversion.
        if value.tzinfo is None:
            return value
        if value.tzinfo is UTC:
            return value.replace(tzinfo=None)
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, the stored text in one step: naive UTC as SQLite's DATETIME writes it
        (`YYYY-MM-DD HH:MM:SS.ffffff`). Every timestamp of every row is bound here, and the
        general path (`process_bind_param`, then the dialect's own formatting) cost several
        calls per value; tests/integration/test_utc_datetime.py checks both give the same text.

        On both dialects the last value bound is remembered: a batch's rows carry the same
        `now` object in several columns each, and it is converted once, not once per row."""
        if dialect.name != "sqlite":
            general = super().bind_processor(dialect)
            return None if general is None else _remember_last(general)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if not isinstance(value, datetime):
                raise TypeError(f"a datetime is required, not {type(value).__name__}")
            if value.tzinfo is UTC:  # the clock's own: no conversion needed
                value = value.replace(tzinfo=None)
            elif value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.isoformat(" ", "microseconds")

        return _remember_last(process)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Hand back an aware UTC datetime."""
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }
