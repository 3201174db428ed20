"""C06: the authorization response's `iss` (RFC 9207) against the login attempt's issuer.

`check_issuer` is pure, but its module (the callback's steps) needs the database layer, so
this file sits beside the other callback tests rather than in tests/unit. The other steps
are covered by tests/signin/test_callback_steps.py and, through the route,
tests/signin/test_callback_checks.py.
"""

from __future__ import annotations

import pytest

from mentora.oauth.callback import check_issuer
from mentora.oauth.errors import IssuerMismatch

ISSUER = "https://api.whop.com"


@pytest.mark.parametrize("required", [True, False])
def test_the_transactions_issuer_is_accepted(required: bool) -> None:
    """The exact issuer passes whether or not the server promises to send it."""
    check_issuer(ISSUER, expected=ISSUER, required=required)


def test_a_missing_issuer_is_accepted_only_when_not_promised() -> None:
    """No `iss`: fine when the metadata does not promise it, refused (and said so) when it does."""
    check_issuer(None, expected=ISSUER, required=False)
    with pytest.raises(IssuerMismatch) as err:
        check_issuer(None, expected=ISSUER, required=True)
    assert (err.value.code, err.value.detail) == (
        "iss_mismatch",
        "iss missing from the authorization response",
    )


@pytest.mark.parametrize("presented", ["https://evil.test", ISSUER + "/", "", ISSUER.upper()])
@pytest.mark.parametrize("required", [True, False])
def test_another_issuer_is_refused_even_when_not_promised(presented: str, required: bool) -> None:
    """Any other string, a trailing slash, an empty one or another case, is a mix-up: refused."""
    with pytest.raises(IssuerMismatch) as err:
        check_issuer(presented, expected=ISSUER, required=required)
    assert err.value.detail == "iss does not match the login attempt's issuer"
