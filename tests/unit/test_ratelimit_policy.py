"""The pure parts of rate limiting: windows, Retry-After, rules from settings (R01)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mentora.errors import ConfigError
from mentora.ratelimit.policy import parse_items, retry_after, rules_from, window_for
from tests.support.env import make_settings

# Rules come from settings alone; nothing here opens the database the settings name.
UNUSED_DATABASE = "sqlite:///unused.db"


def test_windows_are_aligned_on_the_epoch_so_processes_agree() -> None:
    """Two instants in the same minute share a window; Retry-After counts to its end."""
    a = datetime(2026, 11, 27, 12, 0, 5, tzinfo=UTC)
    b = datetime(2026, 11, 27, 12, 0, 59, 500_000, tzinfo=UTC)
    assert window_for(a, 60) == window_for(b, 60)
    assert retry_after(a, window_for(a, 60)) == 55
    assert retry_after(b, window_for(b, 60)) == 1  # never 0: Retry-After must make you wait
    assert window_for(datetime(2026, 11, 27, 12, 1, tzinfo=UTC), 60).index == (
        window_for(a, 60).index + 1
    )


def test_r01_default_rules_and_failure_modes() -> None:
    """Default limits and costs; sign-in rules fail closed, the others open."""
    rules = rules_from(make_settings(UNUSED_DATABASE))
    assert rules["login"].describe() == "10 per 1 minute"
    assert rules["callback"].describe() == "20 per 1 minute"
    assert rules["callback"].failure_cost == 1 and rules["login"].failure_cost == 0
    assert [str(i) for i in rules["login"].ceiling] == ["1200 per 1 minute"]
    closed = {name for name, rule in rules.items() if rule.fail_closed}
    assert closed == {"login", "callback", "refresh"}


def test_burst_and_sustained_windows_parse() -> None:
    """`;` joins windows: a burst and a sustained limit apply together."""
    assert [str(i) for i in parse_items("5/second;100/hour")] == [
        "5 per 1 second",
        "100 per 1 hour",
    ]


def test_malformed_limit_is_refused_naming_the_setting() -> None:
    """A limit `limits` cannot parse stops the app at start-up, naming the setting."""
    with pytest.raises(ConfigError, match="RATELIMIT_CALLBACK"):
        make_settings(UNUSED_DATABASE, ratelimit_callback="lots")
