"""Property-based run of schemathesis against the app's own OpenAPI schema
(`/api/openapi.json`): generated requests, valid and invalid, never get a 5xx, and no
response breaks the schema. Bounded (examples per operation) and stateless."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from mentora.app import create_app
from mentora.clock import FrozenClock
from mentora.creators import ensure_configured_creator
from mentora.db.models import WorkerHeartbeat
from mentora.db.uow import transaction
from mentora.emulator import Emulator, EmulatorConfig
from mentora.services import build_services
from tests.support.env import APP_URL, ISSUER, TEST_ENV, make_settings
from tests.support.timeline import START

EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}


def _optional(name: str, where: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": {"type": "string"}}


def with_read_inputs(schema: dict[str, Any]) -> dict[str, Any]:
    """The app's schema plus the inputs some routes read by hand without declaring them
    (the callback's query, the webhook's headers and body, the CSRF header), so that the
    fuzzer reaches the code behind them."""
    paths = schema["paths"]
    callback = paths["/api/whop/callback"]["get"]
    callback["parameters"] = callback.get("parameters", []) + [
        _optional(name, "query") for name in ("code", "state", "iss", "error", "error_description")
    ]
    webhook = paths["/api/whop/webhooks"]["post"]
    webhook["parameters"] = webhook.get("parameters", []) + [
        _optional(name, "header")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    webhook["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    for path in ("/api/whop/logout", "/api/whop/refresh", "/api/whop/sessions/revoke-all"):
        operation = paths[path]["post"]
        operation["parameters"] = [
            *operation.get("parameters", []),
            _optional("x-csrf-token", "header"),
        ]
    return schema


async def _seed(settings: Any) -> None:
    """The configured creator, and a worker heartbeat so that /readyz reports ready."""
    seeding = build_services(settings)
    try:
        await ensure_configured_creator(seeding)
        async with transaction(seeding.sessionmaker, write=True) as db:
            db.add(WorkerHeartbeat(name="worker-1", beat_at=START))
    finally:
        await seeding.aclose()


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_openapi_fuzzing_finds_no_5xx_and_no_schema_breaks(sqlite_url: str) -> None:
    """Schemathesis over /api/openapi.json finds no 5xx and no schema break."""
    # Rate limits would turn most generated requests into 429s and hide the handlers.
    settings = make_settings(sqlite_url, ratelimit_enabled="false")
    asyncio.run(_seed(settings))
    emulator = Emulator(
        EmulatorConfig(
            issuer=ISSUER,
            client_id=TEST_ENV["WHOP_CLIENT_ID"],
            client_secret=TEST_ENV["WHOP_CLIENT_SECRET"],
            redirect_uris=[f"{APP_URL}/api/whop/callback"],
            api_key=TEST_ENV["WHOP_API_KEY"],
            webhook_url=None,
            webhook_secret=TEST_ENV["WHOP_WEBHOOK_SECRET"],
        ),
        clock=FrozenClock(START).now,
    )
    services = build_services(
        settings, clock=FrozenClock(START), transport=httpx.ASGITransport(app=emulator.app)
    )
    app = create_app(settings, services=services)
    served = schemathesis.openapi.from_asgi("/api/openapi.json", app).raw_schema
    schema = schemathesis.openapi.from_dict(with_read_inputs(copy.deepcopy(served)))
    schema.app = app
    checks = [not_a_server_error, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    try:
        for operation in operations:
            for mode, examples in EXAMPLES.items():

                @hypothesis_settings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: Any) -> None:
                    case.call_and_validate(checks=checks, allow_redirects=False)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to make invalid (no parameters, no body): no negative cases.
                    assert mode is GenerationMode.NEGATIVE, operation.label
    finally:
        asgi.shutdown_lifespans()
