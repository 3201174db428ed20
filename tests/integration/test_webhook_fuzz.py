"""Property: whatever headers and body reach the webhook endpoint, the answer is never a 5xx.

Hypothesis throws random, malformed and (some) correctly signed deliveries at the real route
with a real SQLite database; a signed-but-junk body must still be a clean 4xx (or a stored,
ignored 2xx), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.creators import ensure_configured_creator
from mentora.services import build_services
from tests.support.env import APP_URL, make_settings
from tests.support.timeline import START
from tests.support.webhooks import WEBHOOK_PATH, signed_headers

header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
junk_headers = st.fixed_dictionaries(
    {},
    optional={
        "webhook-id": header_text,
        "webhook-timestamp": st.one_of(header_text, st.integers().map(str)),
        "webhook-signature": st.one_of(
            header_text,
            st.lists(header_text, max_size=4).map(" ".join),
            header_text.map(lambda s: "v1," + s),
        ),
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "application/json; charset=utf-8", "", "x/y"]
        ),
        "x-whop-signature": header_text,
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(
                [
                    "membership.activated",
                    "membership.deactivated",
                    "payment.failed",
                    "refund.created",
                    "dispute.created",
                    "membership.updated",
                    "future.event",
                ]
            ),
            json_values,
        ),
        "data": json_values,
        "company_id": st.one_of(st.sampled_from(["biz_demo", "biz_unknown"]), json_values),
        "id": json_values,
    },
)
bodies = st.one_of(st.binary(max_size=300), envelopes.map(lambda e: json.dumps(e).encode()))


WELL_FORMED = json.dumps(
    {"type": "future.event", "company_id": "biz_demo", "data": {"id": "x_1"}, "id": "msg_ok"}
).encode()


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_random_deliveries_never_get_a_5xx(sqlite_url: str, tmp_path: Path) -> None:
    """Random headers and bodies, unsigned or validly signed: every answer is below 500."""
    loop = asyncio.new_event_loop()
    clock = FrozenClock(START)
    config = make_settings(sqlite_url, mail_dir=str(tmp_path / "mail"), ratelimit_enabled="false")
    services = build_services(config, clock=clock)
    loop.run_until_complete(ensure_configured_creator(services))
    app = create_app(config, services=services)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=APP_URL
    )
    counter = iter(range(10**6))
    seen: dict[int, int] = {}

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(headers=junk_headers, body=bodies, sign=st.booleans(), skew=st.integers(-400, 400))
    # Always run one correctly signed, well-formed delivery too: a random draw alone sometimes
    # never gets past verification, and the run must reach the handlers to mean anything.
    @example(headers={}, body=WELL_FORMED, sign=True, skew=0)
    def check(headers: dict[str, str], body: bytes, sign: bool, skew: int) -> None:
        if sign and _is_utf8(body):
            headers = {
                **headers,
                **signed_headers(
                    body,
                    at=clock.now() + timedelta(seconds=skew),
                    msg_id=f"msg_fuzz_{next(counter)}",
                ),
            }
        response = loop.run_until_complete(client.post(WEBHOOK_PATH, content=body, headers=headers))
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text)
        assert "Traceback" not in response.text

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(services.aclose())
        loop.close()
    # The run reached past verification too, not only the cheap refusals.
    assert any(status < 300 for status in seen), seen
    assert any(status in (400, 401, 413, 415) for status in seen), seen
