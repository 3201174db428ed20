"""L02: canary secrets planted everywhere a secret lives (client secret, webhook secret, API
key, SECRET_KEY, encryption key, session token, login cookie, state, nonce, PKCE verifier,
codes, access/refresh/ID tokens, CSRF token, webhook signature) never show up in any captured
log line, structlog's or the stdlib's, nor in any response except where they must travel."""

from __future__ import annotations

import json
import logging
import secrets
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mentora.clock import FrozenClock
from tests.hardening.helpers import SAME_ORIGIN, CapturedLogs, ScriptedTransport, csrf_token
from tests.hardening.scripted import scripted, services  # noqa: F401 - fixtures
from tests.support.env import ISSUER
from tests.support.webhooks import WEBHOOK_PATH, event_body, signed_headers

CLIENT_SECRET = "CANARYclientsecret" + "x7Hq2"
API_KEY = "CANARYapikey" + "p9Lm4"
WEBHOOK_SECRET = "ws_CANARYwebhooksecret" + "Zk3"
SECRET_KEY = "CANARYsecretkey-" + "r" * 32
TOKEN_KEY = "Q0FOQVJZdG9rZW5rZXktMDEyMzQ1Njc4OWFiY2RlZiE="  # base64 of "CANARYtokenkey-..."


class Canaries:
    """Every secret value of the run, with where it may legitimately appear."""

    def __init__(self) -> None:
        """Start with the planted configuration secrets."""
        self.values: dict[str, str] = {}
        for label, value in (
            ("client_secret", CLIENT_SECRET),
            ("api_key", API_KEY),
            ("webhook_secret", WEBHOOK_SECRET),
            ("secret_key", SECRET_KEY),
            ("token_key", TOKEN_KEY),
        ):
            self.add(label, value)

    def add(self, label: str, value: str) -> str:
        """Remember `value` under a unique label."""
        self.values[f"{label}#{len(self.values)}"] = value
        return value

    def mint(self, label: str) -> str:
        """A fresh canary-tagged random value (URL-safe, as the real ones are)."""
        return self.add(label, f"CANARY{label}{secrets.token_urlsafe(24)}")

    def leaks(self, text: str, *, skip: tuple[str, ...] = ()) -> list[str]:
        """Labels of canaries (whole, or their last 12 characters) found in `text`."""
        return [
            label
            for label, value in self.values.items()
            if not label.startswith(skip) and (value in text or value[-12:] in text)
        ]


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> Canaries:
    """Plant canaries in every generator of secrets, ours and the emulator's."""
    import mentora.emulator.grants as emulator_grants
    import mentora.oauth.login_attempt as login_attempt
    import mentora.oauth.pkce as pkce
    import mentora.sessions.store as session_store

    planted = Canaries()
    monkeypatch.setattr(emulator_grants, "new_token", lambda prefix: planted.mint(prefix))
    monkeypatch.setattr(session_store, "new_token", lambda: planted.mint("session"))
    monkeypatch.setattr(
        login_attempt, "secrets", SimpleNamespace(token_urlsafe=lambda n=32: planted.mint("tx"))
    )
    monkeypatch.setattr(
        pkce, "secrets", SimpleNamespace(token_urlsafe=lambda n=32: planted.mint("verifier"))
    )
    return planted


@pytest.fixture
def overrides() -> dict[str, Any]:
    """The app's planted secrets."""
    return {
        "whop_client_secret": CLIENT_SECRET,
        "whop_api_key": API_KEY,
        "whop_webhook_secret": WEBHOOK_SECRET,
        "secret_key": SECRET_KEY,
        "token_encryption_keys": TOKEN_KEY,
    }


@pytest.fixture
def emulator_config(emulator_config: Any) -> Any:
    """The emulator knows the same planted secrets."""
    emulator_config.client_secret = CLIENT_SECRET
    emulator_config.api_key = API_KEY
    emulator_config.webhook_secret = WEBHOOK_SECRET
    return emulator_config


def _response_text(response: httpx.Response) -> str:
    """Status, headers and body, minus the places a secret must travel: our Set-Cookie
    (session and login cookies) and the redirect to Whop's authorize page (state, nonce)."""
    headers = [
        f"{name}: {value}"
        for name, value in response.headers.multi_items()
        if name != "set-cookie" and not (name == "location" and value.startswith(ISSUER))
    ]
    return "\n".join([str(response.status_code), *headers, response.text])


async def test_l02_canaries_never_reach_logs_or_responses(
    client: httpx.AsyncClient,
    signin: Any,
    emulator: Any,
    clock: FrozenClock,
    scripted: ScriptedTransport,
    canaries: Canaries,
    json_logs: CapturedLogs,
) -> None:
    """Sign-in, refresh, webhooks, replay, logout: no canary in any log line or response."""
    responses: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        responses.append(response)

    client.event_hooks["response"].append(keep)

    started = await signin.start()
    authorized = await signin.authorize(started.headers["location"], "user_demo_member")
    done = await signin.callback(authorized)
    assert done.status_code == 303
    cookie = signin.session_cookie()
    assert cookie is not None and cookie.startswith("CANARYsession")  # the plant took
    assert canaries.leaks(done.headers["set-cookie"])  # and the detector sees it where it is
    for path in ("/dashboard", "/api/whop/verify", "/account/sessions", "/content"):
        await client.get(path)
    token = canaries.add("csrf", await csrf_token(client))
    clock.advance(30)  # past the minimum interval between forced rotations: really rotate
    refreshed = await client.post(
        "/api/whop/refresh", headers={**SAME_ORIGIN, "x-csrf-token": token}
    )
    assert refreshed.status_code == 200

    emulator.trigger("membership.activated", user_id="user_demo_member")
    await emulator.flush_webhooks()
    body = event_body("future.event", {"id": "x_canary"})
    headers = signed_headers(body, at=clock.now(), secret=WEBHOOK_SECRET)
    canaries.add("webhook_signature", headers["webhook-signature"].split(",", 1)[1])
    assert (await client.post(WEBHOOK_PATH, content=body, headers=headers)).status_code == 200
    forged = {**headers, "webhook-signature": "v1,CANARYforgedsignature0123456789abcdef=="}
    canaries.add("forged_signature", "CANARYforgedsignature0123456789abcdef==")
    assert (await client.post(WEBHOOK_PATH, content=body, headers=forged)).status_code == 401

    replay = await signin.callback(authorized)  # code and state again: refused and logged
    assert replay.status_code == 400

    for _request, payload in scripted.exchanges:
        try:
            answer = json.loads(payload)
        except ValueError:
            continue
        if isinstance(answer, dict) and "id_token" in answer:
            canaries.add("id_token", answer["id_token"].rsplit(".", 1)[1])
            canaries.add("id_token_payload", answer["id_token"].split(".")[1])
    # A third-party library logging a credential through the stdlib is scrubbed too.
    access = next(v for k, v in canaries.values.items() if k.startswith("at#"))
    logging.getLogger("httpx").warning("retrying with Authorization: Bearer %s", access)

    out = await client.post(
        "/api/whop/logout",
        headers={**SAME_ORIGIN, "x-csrf-token": token, "accept": "application/json"},
    )
    assert out.status_code == 200

    labels = {label.split("#")[0] for label in canaries.values}
    assert {"session", "tx", "verifier", "code", "at", "rt", "id_token", "csrf"} <= labels
    logs = json_logs.refresh()
    assert "authn_login_success" in logs and "Bearer [redacted]" in logs  # the capture works
    assert canaries.leaks(logs) == []
    for response in responses:
        leaked = canaries.leaks(_response_text(response), skip=("csrf",))
        assert leaked == [], (response.request.url.path, leaked)
