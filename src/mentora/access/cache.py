"""A per-process cache of the gate's inputs that is exact: it is used only while the database
has not changed since the inputs were read.

SQLite tells every connection, cheaply and across processes, whether any *other* connection
committed since it last asked (`PRAGMA data_version`, about 3 µs on a private idle
connection). The gate reads that version first, then the session, student and memberships;
it keeps them under the version, and a later request with the same token reuses them only if
the version is unchanged. Any commit anywhere (a webhook's deactivation, a revoked session,
sync, a revalidation, an audit row) changes the version, so the next request in every process
reads the database again: revocation stays immediate. Time-based rules are not cached: the
pure policy and the session timeouts run again on every hit with the current time.

PostgreSQL has no such cheap signal, so there the gate always reads (two indexed queries).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import make_url

from mentora.access.policy import (
    AccessPolicy,
    Decision,
    MembershipFacts,
    Requirement,
    WhopAnswer,
    decide,
    decision_horizon,
)
from mentora.db.engine import is_sqlite
from mentora.sessions.principal import Principal
from mentora.sessions.store import SessionPolicy, expiry_reason, needs_touch

MAX_ENTRIES = 10_000


class SqliteChangeWatcher:
    """`PRAGMA data_version` on a private connection: it changes when anyone else commits."""

    def __init__(self, path: str) -> None:
        """Watch the database file at `path`; the connection opens on the first read."""
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def version(self) -> int | None:
        """The current data version, or None when it cannot be read (then nothing is cached)."""
        try:
            if self._conn is None:
                # Autocommit, short busy timeout, never writes. Opened on first use so that
                # building services (a CLI command, a test) never touches the file.
                self._conn = sqlite3.connect(
                    self.path, timeout=0.05, isolation_level=None, check_same_thread=False
                )
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row else None

    def close(self) -> None:
        """Close the connection, if it was opened."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class Entry:
    """What one allowed request read: its principal and the policy inputs."""

    principal: Principal
    memberships: tuple[MembershipFacts, ...]
    answer: WhopAnswer
    policy: AccessPolicy
    # Decisions already made from these inputs: requirement → (decision, made at, valid until).
    decisions: dict[Requirement, tuple[Decision, datetime, datetime | None]] = field(
        default_factory=dict, compare=False
    )

    def decision(self, requirement: Requirement, now: datetime) -> Decision:
        """`decide()` for these inputs at `now`, reused while time alone cannot change it."""
        known = self.decisions.get(requirement)
        if known is not None:
            decision, made_at, until = known
            if made_at <= now and (until is None or now < until):
                return decision
        decision = decide(
            creator_id=self.principal.creator.id,
            memberships=self.memberships,
            answer=self.answer,
            requirement=requirement,
            policy=self.policy,
            now=now,
            creator_enabled=self.principal.creator.enabled,
        )
        until = decision_horizon(self.memberships, self.answer, self.policy, now)
        self.decisions[requirement] = (decision, now, until)
        return decision


@dataclass(frozen=True)
class Hit:
    """A cached principal with a fresh decision computed now."""

    principal: Principal
    decision: Decision


class GateCache:
    """Entries by session-token hash, valid for one database version only."""

    def __init__(self, watcher: SqliteChangeWatcher, *, max_entries: int = MAX_ENTRIES) -> None:
        """Start empty."""
        self.watcher = watcher
        self.max_entries = max_entries
        self._version: int | None = None
        # By (session-token hash, the request's space): a user's admission at one creator
        # must never answer for another.
        self._entries: dict[tuple[bytes, str], Entry] = {}
        self.hits = 0

    @classmethod
    def for_database(cls, url: str) -> GateCache | None:
        """A gate cache for a SQLite file database; None for any other (nothing to watch)."""
        if not is_sqlite(url):
            return None
        database = make_url(url).database
        if not database or database == ":memory:":
            return None
        return cls(SqliteChangeWatcher(database))

    def close(self) -> None:
        """Close the watcher's connection."""
        self.watcher.close()

    def version(self) -> int | None:
        """Read the database version; call before reading any state you will `put`."""
        return self.watcher.version()

    def put(self, version: int | None, token_hash: bytes, entry: Entry, *, space: str = "") -> None:
        """Keep `entry`, read at `version` for `space` (a `/c/{route}` segment, "" for the
        default creator); older versions' entries are dropped."""
        if version is None:
            return
        if version != self._version:
            self._entries.clear()
            self._version = version
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[(token_hash, space)] = entry

    def admit(
        self,
        version: int | None,
        token_hash: bytes,
        requirement: Requirement,
        *,
        now: datetime,
        sessions: SessionPolicy,
        space: str = "",
    ) -> Hit | None:
        """A cached principal that is still allowed now, or None (read the database)."""
        if version is None or version != self._version:
            return None
        entry = self._entries.get((token_hash, space))
        if entry is None:
            return None
        session = entry.principal.session
        # Timeouts and the idle-time touch are decided exactly as a database read would.
        if expiry_reason(session, now=now, policy=sessions) is not None:
            return None
        if needs_touch(session, now):
            return None
        decision = entry.decision(requirement, now)
        if not decision.allowed or decision.needs_revalidation or decision.degraded:
            return None  # anything but a plain allow takes the full path (audit, revalidation)
        self.hits += 1
        return Hit(entry.principal, decision)
