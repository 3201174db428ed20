"""Unit tests of envelope parsing after verification (W09) and of event-name aliases."""

from __future__ import annotations

import json

import pytest

from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.errors import WebhookPayloadError


def test_v1_envelope() -> None:
    """A v1 body yields its type, company, data and send time."""
    envelope = parse_envelope(
        b'{"type":"membership.activated","company_id":"biz_1",'
        b'"timestamp":"2026-11-27T12:00:00.000Z","data":{"id":"mem_1"}}'
    )
    assert envelope.kind == "membership.activated"
    assert envelope.company_id == "biz_1"
    assert envelope.data == {"id": "mem_1"}
    assert envelope.sent_at is not None


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"action":"membership.went_valid","data":{},"company":"biz_1"}', "membership.activated"),
        (b'{"action":"membership.went_invalid","data":{}}', "membership.deactivated"),
        (b'{"event":"membership.created","data":{}}', "membership.activated"),
        (b'{"event":"membership.expired","data":{}}', "membership.deactivated"),
        (b'{"type":"future.event"}', "future.event"),
    ],
)
def test_legacy_and_seed_names_map_to_v1(body: bytes, kind: str) -> None:
    """Legacy (`action`) and seed (`event`) names resolve to the v1 handler names."""
    assert parse_envelope(body).kind == kind


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe{}", "not_json"),
        (b"[1,2]", "not_an_object"),
        (b'{"data":{}}', "bad_type"),
        (b'{"type":"a\\nb"}', "bad_type"),
        (b'{"type":"x","data":[1]}', "bad_data"),
    ],
)
def test_malformed_envelopes(body: bytes, reason: str) -> None:
    """Bodies that are not event envelopes raise WebhookPayloadError with a reason word."""
    with pytest.raises(WebhookPayloadError) as caught:
        parse_envelope(body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("membership_deactivated", "membership.deactivated"),
        ("membership_activated", "membership.activated"),
        ("membership_went_invalid", "membership.deactivated"),
        ("payment_succeeded", "payment.succeeded"),
        ("refund_created", "refund.created"),
        ("dispute_alert_created", "dispute_alert.created"),
        ("dispute_alert.created", "dispute_alert.created"),
        ("membership_cancel_at_period_end_changed", "membership.cancel_at_period_end_changed"),
        ("Membership.Deactivated", "membership.deactivated"),
        ("membership_cancelled", "membership.deactivated"),
        ("future_event", "future_event"),
    ],
)
def test_every_spelling_resolves_to_one_name(name: str, kind: str) -> None:
    """Underscored (whop-saas-starter), mixed-case and seed spellings pick the v1 handler;
    `dispute_alert` keeps its own underscore; unknown names pass through lower-cased."""
    assert parse_envelope(f'{{"type":"{name}","data":{{}}}}'.encode()).kind == kind


@pytest.mark.parametrize(
    ("data", "event", "status"),
    [
        ({"status": "completed", "valid": False}, "membership.went_invalid", "deactivated"),
        ({"status": "active", "valid": False}, "membership.went_valid", "deactivated"),
        ({"status": "past_due"}, "membership.deactivated", "deactivated"),
        ({"status": "canceling"}, "membership_deactivated", "deactivated"),
        ({"status": "expired"}, "membership.deactivated", "expired"),
        ({"status": "active", "valid": True}, "membership.went_valid", "active"),
        ({"status": "past_due"}, "membership.updated", "past_due"),
    ],
)
def test_deactivation_outranks_status(data: dict[str, object], event: str, status: str) -> None:
    """A deactivation or `valid: false` stores `deactivated` where `status` alone would grant;
    a non-granting status is kept as Whop said it."""
    body = {"action": event, "data": {"id": "mem_1", "page_id": "biz_1", **data}}
    snapshot = parse_envelope(json.dumps(body).encode()).membership
    assert snapshot.status == status
    assert snapshot.company_id == "biz_1"


def test_v0_body_key_carries_the_data_and_missing_data_is_empty() -> None:
    """Whop's older envelopes put the object under `body`; with neither key, data is {}."""
    older = parse_envelope(b'{"action":"membership.went_valid","body":{"id":"mem_1"}}')
    assert older.data == {"id": "mem_1"}
    bare = parse_envelope(b'{"type":"membership.activated"}')
    assert bare.data == {}
    null = parse_envelope(b'{"type":"membership.activated","data":null}')
    assert null.data == {}


def test_w09_type_length_limit_is_inclusive() -> None:
    """A type of exactly 128 characters is accepted; 129 is refused."""
    longest = "a" * 128
    assert parse_envelope(f'{{"type":"{longest}"}}'.encode()).event_type == longest
    with pytest.raises(WebhookPayloadError):
        parse_envelope(f'{{"type":"{longest}a"}}'.encode())


@pytest.mark.parametrize(
    ("fields", "company"),
    [
        ('"company_id":"biz_1"', "biz_1"),
        ('"account_id":"biz_2"', "biz_2"),
        ('"company":"biz_3"', "biz_3"),
        ('"company":{"id":"biz_4"}', "biz_4"),
        ('"account_id":{"id":"biz_5"}', "biz_5"),
        ('"company_id":"","account_id":"biz_6"', "biz_6"),
        ('"company_id":7,"company":"biz_7"', "biz_7"),
        ('"company":{"id":8}', None),
        ('"company_id":""', None),
    ],
)
def test_company_is_read_from_each_place_whop_puts_it(fields: str, company: str | None) -> None:
    """company_id, account_id or company (a string or an object with an id), first usable."""
    envelope = parse_envelope(f'{{"type":"membership.activated",{fields}}}'.encode())
    assert envelope.company_id == company


@pytest.mark.parametrize(
    ("envelope_company", "data_company", "expected"),
    [
        ("biz_env", None, "biz_env"),  # v1: the company beside `data`, not in it
        ("biz_env", "biz_data", "biz_data"),  # the membership's own company wins
        ("", None, None),  # an empty company names none
        (None, None, None),
    ],
)
def test_membership_company_falls_back_to_the_envelope(
    envelope_company: str | None, data_company: str | None, expected: str | None
) -> None:
    """A membership object naming no company takes the envelope's; one naming its own keeps
    it; an empty or absent envelope company leaves it unknown."""
    data: dict[str, object] = {"id": "mem_1", "status": "active", "user_id": "user_1"}
    if data_company:
        data["company_id"] = data_company
    body: dict[str, object] = {"type": "membership.updated", "data": data}
    if envelope_company is not None:
        body["company_id"] = envelope_company
    snapshot = parse_envelope(json.dumps(body).encode()).membership
    assert snapshot.company_id == expected
    assert snapshot.status == "active"
