"""`effective_policy`: a creator's own payment policy wins; NULL means the setting's."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mentora.config import Settings
from mentora.memberships.policy import PaymentPolicy, effective_policy


@dataclass
class Own:
    """A creator row's three policy columns (None: not set)."""

    payment_failed_pauses_access: bool | None = None
    refund_revokes_access: bool | None = None
    dispute_revokes_access: bool | None = None


def _settings(pauses: bool, refunds: bool, disputes: bool) -> Settings:
    """Settings with only the three policies chosen (nothing else is read)."""
    return Settings.model_construct(
        payment_failed_pauses_access=pauses,
        refund_revokes_access=refunds,
        dispute_revokes_access=disputes,
    )


@pytest.mark.parametrize("defaults", [(False, False, True), (True, True, False)])
def test_an_unconfigured_creator_follows_the_settings(defaults: tuple[bool, bool, bool]) -> None:
    """A creator with no policy of its own, or no creator at all, gets exactly the settings:
    a single-creator install behaves as before policies moved onto the creator row."""
    settings = _settings(*defaults)
    expected = PaymentPolicy(*defaults)
    assert effective_policy(Own(), settings) == expected
    assert effective_policy(None, settings) == expected


def test_the_creators_own_value_wins_each_policy_separately() -> None:
    """Each policy the creator set overrides its setting, False as much as True; the others
    still follow their settings."""
    settings = _settings(False, False, True)
    assert effective_policy(Own(payment_failed_pauses_access=True), settings) == PaymentPolicy(
        True, False, True
    )
    assert effective_policy(Own(dispute_revokes_access=False), settings) == PaymentPolicy(
        False, False, False
    )
    assert effective_policy(Own(refund_revokes_access=True), settings) == PaymentPolicy(
        False, True, True
    )
    assert effective_policy(Own(False, False, False), _settings(True, True, True)) == (
        PaymentPolicy(False, False, False)
    )
