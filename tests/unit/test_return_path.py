"""C08: the post-login return target is a plain local path or the dashboard, never a way off
the site (pure checks of `safe_return_path`; the callback tests show it on the real route)."""

from __future__ import annotations

import pytest

from mentora.oauth.redirects import DEFAULT_RETURN, MAX_LENGTH, safe_return_path


@pytest.mark.parametrize(
    "value",
    [
        "/account/sessions",
        "/courses/intro?page=2#notes",
        "/a%20b",
        "/" + "a" * (MAX_LENGTH - 1),
    ],
)
def test_c08_plain_local_paths_are_kept(value: str) -> None:
    """A same-origin path (with query or fragment, up to the length cap) comes back unchanged."""
    assert safe_return_path(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "/" + "a" * MAX_LENGTH,  # one past the cap
        "dashboard",  # not a path
        "https://evil.test/",
        "//evil.test/",
        "/\\evil.test/",
        "/%2F%2Fevil.test",  # decodes to //evil.test
        "%2F%2Fevil.test",
        "/%5Cevil.test",  # decodes to a backslash
        "/ok\\path",
        "/line%0Abreak",
        "/tab\there",
        "/del\x7f",
        "/x\x1f",
        "/api/whop/logout",
        "/api/",
    ],
)
def test_c08_anything_else_falls_back_to_the_dashboard(value: str | None) -> None:
    """Absolute and scheme-relative URLs, backslashes, control characters (raw or encoded),
    over-long values and API routes all end on the dashboard."""
    assert safe_return_path(value) == DEFAULT_RETURN == "/dashboard"


def test_c08_a_path_that_only_looks_like_a_url_stays_local() -> None:
    """`/http://x` is a local path whose first segment is `http:`; it is kept as is."""
    assert safe_return_path("/http://evil.test") == "/http://evil.test"
