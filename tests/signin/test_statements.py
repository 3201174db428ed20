"""What a returning member's sign-in costs the database: the statements of its two requests.

Counted on the real engine (`before_cursor_execute`, every statement the driver runs), on
SQLite and PostgreSQL, for a sign-in whose local state agrees with Whop's (no reconciliation).
bench/signin.py reports the same figure under load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from mentora.emulator import DEMO
from mentora.services import Services
from tests.support.signin import SignIn

# /auth: the login attempt (one INSERT … SELECT under the per-IP cap). /callback: consume the
# attempt with the enabled creators (DELETE … RETURNING, SELECT); then one transaction for
# the user, their student row, the membership check, the session, its tokens and both audit
# rows. SQLite counts each transaction's BEGIN (IMMEDIATE) too.
EXPECTED = {
    "sqlite": (
        Counter({"BEGIN": 1, "INSERT": 1}),
        Counter({"BEGIN": 2, "DELETE": 1, "SELECT": 2, "INSERT": 5}),
    ),
    "postgresql": (
        Counter({"INSERT": 1}),
        Counter({"DELETE": 1, "SELECT": 2, "INSERT": 5}),
    ),
}


@contextmanager
def _statements(services: Services) -> Iterator[Counter[str]]:
    """The statements run inside the block, by first word."""
    counts: Counter[str] = Counter()

    def counted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counts[statement.split(None, 1)[0].upper()] += 1

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", counted)


async def test_a_returning_members_sign_in_runs_the_listed_statements(
    signin: SignIn, services: Services
) -> None:
    """Start and callback of a second sign-in run exactly the statements listed above (12 on
    SQLite, 9 on PostgreSQL), and the member is signed in."""
    await signin.sign_in(DEMO.member_user_id)  # the first one reconciles the memberships
    signin.client.cookies.clear()
    with _statements(services) as start:
        started = await signin.start()
    authorized = await signin.authorize(started.headers["location"], DEMO.member_user_id)
    with _statements(services) as finish:
        response = await signin.callback(authorized)
    assert response.status_code == 303, response.text
    assert signin.session_cookie()
    assert (start, finish) == EXPECTED[services.engine.dialect.name]
