"""The callback pipeline's steps called directly (consume the login attempt, `check_response`,
then `redeem` and `confirm_userinfo`), on a login the app started and the emulator approved:
what each step hands on, and what it refuses.

The route-level checks (status pages, audit rows, no session) are in test_callback_checks.py;
these are fast enough for mutation testing (SQLite only there).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mentora.db.uow import transaction
from mentora.emulator import DEMO
from mentora.oauth import callback as cb
from mentora.oauth import login_attempt
from mentora.oauth.errors import (
    ExchangeFailed,
    IdTokenInvalid,
    IssuerMismatch,
    LoginAttemptError,
    ProviderError,
    UserinfoMismatch,
)
from mentora.services import Services
from mentora.web.cookie import LOGIN_COOKIE

# Whop's token and userinfo answers pass through the tampering wrapper (off unless a test
# sets it), so a test can take the ID token out or change userinfo's subject.
from tests.signin.test_id_token_route import Tamper, services, tamper  # noqa: F401 - fixtures
from tests.support.signin import SignIn


async def _approved(signin: SignIn, next_path: str | None = None) -> tuple[str, dict[str, str]]:
    """Start a login in the app and approve it at the emulator: the browser's login cookie and
    the authorization response's parameters, before the app has seen them."""
    started = await signin.start(next_path)
    authorized = await signin.authorize(started.headers["location"], DEMO.member_user_id)
    browser = signin.client.cookies.get(LOGIN_COOKIE)
    assert browser
    return browser, authorized.params


async def _check(services: Services, browser: str | None, params: dict[str, str]) -> Any:
    # The consumption commits on its own before the checks, as the sign-in usecase does it.
    async with transaction(services.sessionmaker, write=True) as db:
        login = await login_attempt.consume(db, box=services.tokens, browser_token=browser)
    meta = await services.provider.metadata()
    cb.check_response(login, params=params, meta=meta, now=services.clock.now())
    return login


async def _complete(services: Services, login: Any, code: str | None) -> cb.VerifiedLogin:
    now = services.clock.now()
    redeemed = await cb.redeem(login, code=code, provider=services.provider, now=now)
    return await cb.confirm_userinfo(login, redeemed, provider=services.provider)


async def test_an_approved_login_is_verified_end_to_end(
    app: Any, services: Services, signin: SignIn, emulator: Any
) -> None:
    """The transaction's return path, the ID token's and userinfo's subject, and the tokens
    reach the caller; the token endpoint is called once."""
    browser, params = await _approved(signin, "/course/lesson-2")
    login = await _check(services, browser, params)
    assert login.return_to == "/course/lesson-2"
    before = emulator.call_count("/oauth/token")
    verified = await _complete(services, login, params["code"])
    assert emulator.call_count("/oauth/token") - before == 1
    assert verified.subject == DEMO.member_user_id
    assert verified.claims["sub"] == verified.userinfo["sub"] == DEMO.member_user_id
    assert verified.claims["nonce"] == login.nonce
    assert verified.tokens.access_token and verified.tokens.id_token
    assert verified.return_to == "/course/lesson-2"


async def test_a_transaction_is_gone_after_its_first_use_whatever_the_outcome(
    app: Any, services: Services, signin: SignIn
) -> None:
    """A provider error consumes the transaction: the same response replayed finds none."""
    browser, params = await _approved(signin)
    description = "d" * 300
    with pytest.raises(ProviderError) as err:
        await _check(
            services, browser, {**params, "error": "e" * 100, "error_description": description}
        )
    assert err.value.detail == f"provider error {'e' * 64!r}: {'d' * 200!r}"
    with pytest.raises(LoginAttemptError):
        await _check(services, browser, params)


async def test_a_provider_error_without_description_is_named(
    app: Any, services: Services, signin: SignIn
) -> None:
    """`?error=access_denied` alone is refused as the provider's error, description empty."""
    browser, params = await _approved(signin)
    with pytest.raises(ProviderError) as err:
        await _check(services, browser, {"error": "access_denied", "state": params["state"]})
    assert err.value.detail == "provider error 'access_denied': ''"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"state": "forged"}, LoginAttemptError),
        ({"iss": "https://evil.test"}, IssuerMismatch),
        ({"iss": None}, IssuerMismatch),  # the emulator promises `iss` (RFC 9207)
    ],
)
async def test_state_and_issuer_are_checked_before_any_exchange(
    app: Any,
    services: Services,
    signin: SignIn,
    emulator: Any,
    change: dict[str, str | None],
    error: type[Exception],
) -> None:
    """A forged state, another issuer or a missing promised one is refused by the first step,
    before the token endpoint is called."""
    browser, params = await _approved(signin)
    changed = {k: v for k, v in {**params, **change}.items() if v is not None}
    before = emulator.call_count("/oauth/token")
    with pytest.raises(error):
        await _check(services, browser, changed)
    assert emulator.call_count("/oauth/token") == before


@pytest.mark.parametrize("code", [None, "", "c" * 2049])
async def test_a_missing_or_oversized_code_is_never_exchanged(
    app: Any, services: Services, signin: SignIn, emulator: Any, code: str | None
) -> None:
    """No code, an empty one or one over 2048 characters: refused without calling Whop."""
    browser, params = await _approved(signin)
    login = await _check(services, browser, params)
    before = emulator.call_count("/oauth/token")
    with pytest.raises(IdTokenInvalid) as err:
        await _complete(services, login, code)
    assert (err.value.code, err.value.detail) == ("code_missing", "no authorization code")
    assert emulator.call_count("/oauth/token") == before


async def test_a_code_of_the_longest_length_is_sent_to_whop(
    app: Any, services: Services, signin: SignIn, emulator: Any
) -> None:
    """A 2048-character code is within the limit: Whop is asked, and refuses a code it never
    issued."""
    browser, params = await _approved(signin)
    login = await _check(services, browser, params)
    before = emulator.call_count("/oauth/token")
    with pytest.raises(ExchangeFailed):
        await _complete(services, login, "c" * 2048)
    assert emulator.call_count("/oauth/token") - before == 1


async def test_a_response_delivered_twice_at_once_is_consumed_once(
    app: Any, services: Services, signin: SignIn
) -> None:
    """The same authorization response reaching two requests at the same moment (a double
    click, a replay racing the user): exactly one gets the transaction, the other is refused
    as a missing transaction, never a database error."""
    browser, params = await _approved(signin)
    results = await asyncio.gather(
        _check(services, browser, params),
        _check(services, browser, params),
        return_exceptions=True,
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["ConsumedLogin", "LoginAttemptError"], results


async def test_a_token_response_without_an_id_token_is_refused_before_userinfo(
    app: Any, services: Services, signin: SignIn, emulator: Any, tamper: Tamper
) -> None:
    """A token answer with no ID token ends the sign-in (`id_token_missing`): the access token
    it carries is never used for userinfo."""
    browser, params = await _approved(signin)
    login = await _check(services, browser, params)
    tamper.drop_id_token = True
    before = emulator.call_count("/oauth/userinfo")
    with pytest.raises(IdTokenInvalid) as err:
        await _complete(services, login, params["code"])
    assert (err.value.code, err.value.detail) == (
        "id_token_missing",
        "token response has no id_token",
    )
    assert emulator.call_count("/oauth/userinfo") == before


async def test_userinfo_about_another_subject_is_refused(
    app: Any, services: Services, signin: SignIn, tamper: Tamper
) -> None:
    """Userinfo naming another user than the verified ID token ends the sign-in (O10)."""
    browser, params = await _approved(signin)
    login = await _check(services, browser, params)
    tamper.userinfo_sub = "user_someone_else"
    with pytest.raises(UserinfoMismatch) as err:
        await _complete(services, login, params["code"])
    assert err.value.detail == "userinfo sub differs from the ID token"
