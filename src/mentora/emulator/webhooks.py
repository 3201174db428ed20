"""Signed webhook delivery, the way Whop does it (Standard Webhooks, retries, a send log).

Each event gets one `webhook-id` and one body. Delivery is an asyncio task: the first
attempt goes out at once, and after a non-2xx answer or a transport error the sender
waits each of `retry_delays` in turn (Whop: 10, 20, 40 s) and tries again, re-signing
with a fresh timestamp every time. Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from mentora.emulator.config import API_VERSION_DATE, Clock, EmulatorConfig
from mentora.emulator.faults import Sleep
from mentora.emulator.records import iso

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass
class Attempt:
    """One delivery attempt: the receiver's status code, or the transport error."""

    number: int
    at: datetime
    status_code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Return True if the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, Any]:
        """Return the attempt as admin-API JSON."""
        return {
            "number": self.number,
            "at": iso(self.at),
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass
class WebhookRecord:
    """One event and its delivery history.

    `outcome` is `pending` while attempts remain, then `delivered` or `failed`; `skipped`
    means no webhook URL was configured, so the event was only logged.
    """

    id: str
    type: str
    url: str | None
    body: str
    created_at: datetime
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = "pending"

    @property
    def payload(self) -> dict[str, Any]:
        """Return the parsed JSON body."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def as_json(self) -> dict[str, Any]:
        """Return the record as admin-API JSON."""
        return {
            "webhook_id": self.id,
            "type": self.type,
            "url": self.url,
            "created_at": iso(self.created_at),
            "outcome": self.outcome,
            "attempts": [a.as_json() for a in self.attempts],
            "body": self.payload,
        }


# Legacy v2/v5 names of today's events (Whop's v5 webhook docs); others keep their v1 name.
LEGACY_NAMES: dict[str, str] = {
    "membership.activated": "membership.went_valid",
    "membership.deactivated": "membership.went_invalid",
}


def legacy_envelope(
    *, event_type: str, company_id: str | None, data: dict[str, Any], valid: bool | None
) -> dict[str, Any]:
    """Build a legacy body: `{action, data, company}`; a membership's data says `valid`."""
    return {
        "action": LEGACY_NAMES.get(event_type, event_type),
        "data": data if valid is None else {**data, "valid": valid},
        "company": company_id,
    }


def envelope(
    *, msg_id: str, event_type: str, now: datetime, company_id: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Build the v1 webhook body: id, api_version, type, timestamp, company/account, data."""
    return {
        "id": msg_id,
        "api_version": "v1",
        "api_version_date": API_VERSION_DATE,
        "type": event_type,
        "timestamp": iso(now),
        # `company_id` as in Whop's v1 docs; `account_id` as in whop-sdk 2.6.0's payload models.
        "company_id": company_id,
        "account_id": company_id,
        "data": data,
    }


class WebhookSender:
    """Queues events, delivers them with retries, and appends to the shared log."""

    def __init__(
        self,
        *,
        config: EmulatorConfig,
        clock: Clock,
        log: list[WebhookRecord],
        client: httpx.AsyncClient | None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Use `client` if given (tests pass an ASGI-backed one), else create one lazily;
        `sleep` waits out each retry delay (tests pass one that records the delay)."""
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._log = log
        self._client = client
        self._owns_client = client is None
        # Standard Webhooks base64-decodes its key; Whop HMACs with the raw secret bytes.
        self._signer = Webhook(base64.b64encode(config.webhook_secret.encode()).decode())
        self._tasks: set[asyncio.Task[None]] = set()
        # Set while deliveries may go out; cleared by `hold()`.
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        """Stop making attempts (new and retries) until `release()`; nothing is dropped.

        A retry whose delay runs out while held waits and goes out on release, so a test
        can take the receiver down for as long as the machine needs without the retry
        schedule running out underneath it.
        """
        self._open.clear()

    def release(self) -> None:
        """Let held attempts go out, and new ones again as they come."""
        self._open.set()

    @property
    def held(self) -> bool:
        """True between `hold()` and `release()`."""
        return not self._open.is_set()

    def send(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        company_id: str | None,
        valid: bool | None = None,
        legacy: bool | None = None,
    ) -> WebhookRecord:
        """Log an event and, if a webhook URL is configured, start delivering it.

        `legacy` (default: the configured `webhook_format`) sends the v2/v5 envelope, whose
        membership data carries `valid`; the record's `type` is the name the body uses.
        """
        now = self._clock()
        msg_id = f"msg_{secrets.token_hex(12)}"
        if legacy if legacy is not None else self._config.webhook_format == "legacy":
            payload = legacy_envelope(
                event_type=event_type, company_id=company_id, data=data, valid=valid
            )
            event_type = str(payload["action"])
        else:
            payload = envelope(
                msg_id=msg_id, event_type=event_type, now=now, company_id=company_id, data=data
            )
        body = json.dumps(payload, separators=(",", ":"))
        url = self._config.webhook_url
        record = WebhookRecord(id=msg_id, type=event_type, url=url, body=body, created_at=now)
        self._log.append(record)
        if url is None:
            record.outcome = "skipped"
            return record
        task = asyncio.get_running_loop().create_task(self._deliver(record, url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def flush(self) -> None:
        """Wait until every queued delivery, retries included, has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP client if we created it."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _deliver(self, record: WebhookRecord, url: str) -> None:
        """Attempt delivery once plus once per retry delay, stopping at the first 2xx."""
        delays = self._config.retry_delays
        for number in range(1, len(delays) + 2):
            await self._open.wait()
            attempt = await self._attempt(record, url, number)
            record.attempts.append(attempt)
            if attempt.ok:
                record.outcome = "delivered"
                return
            if number <= len(delays):
                await self._sleep(delays[number - 1])
        record.outcome = "failed"

    async def _attempt(self, record: WebhookRecord, url: str, number: int) -> Attempt:
        """POST the body once with fresh Standard Webhooks headers."""
        now = self._clock()
        signature: str = self._signer.sign(record.id, now, record.body)
        headers = {
            "content-type": "application/json",
            "user-agent": "Whop-Emulator/1.0 (+mentora)",
            "webhook-id": record.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT_SECONDS)
        try:
            response = await self._client.post(url, content=record.body.encode(), headers=headers)
        except Exception as exc:  # a transport error or a crashing ASGI receiver: both "failed"
            return Attempt(
                number=number, at=now, status_code=None, error=f"{type(exc).__name__}: {exc}"
            )
        return Attempt(number=number, at=now, status_code=response.status_code)
