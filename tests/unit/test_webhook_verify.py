"""Unit tests of the pure webhook verifier (checklist W01-W08), pinned to its reason words."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from mentora.errors import ConfigError
from mentora.webhooks.errors import WebhookVerificationError
from mentora.webhooks.verify import sign, signing_key, signing_keys, verify

SECRET = "ws_test_webhook_secret"
KEY = signing_key(SECRET)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BODY = b'{"type":"membership.activated","data":{"id":"mem_1","status":"active"}}'


def headers_for(
    body: bytes = BODY, *, msg_id: str = "msg_1", at: datetime = NOW, key: bytes = KEY
) -> dict[str, str]:
    """Correct Standard Webhooks headers for `body`."""
    stamp = int(at.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(key, msg_id, stamp, body),
    }


def reason_of(body: bytes, headers: dict[str, str], **kwargs: object) -> str:
    """The reason word verification fails with."""
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers, keys=[KEY], now=NOW, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


def test_valid_delivery_is_accepted() -> None:
    """A correctly signed delivery verifies and keeps the exact raw bytes."""
    verified = verify(BODY, headers_for(), keys=[KEY], now=NOW)
    assert verified.webhook_id == "msg_1"
    assert verified.body == BODY
    assert verified.timestamp == NOW


def test_w01_reserialised_body_rejected() -> None:
    """Whitespace changed after signing (a re-serialised body) fails verification."""
    headers = headers_for(b'{"test":1}')
    assert reason_of(b'{"test": 1}', headers) == "no_matching_signature"


def test_w02_standard_webhooks_vector() -> None:
    """Our signer reproduces the Standard Webhooks test vector, and the verifier accepts it."""
    key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": expected,
    }
    verify(body, headers, keys=[key], now=datetime.fromtimestamp(1614265330, UTC))


def test_w02_whop_key_is_the_raw_secret_like_the_reference_library() -> None:
    """A delivery signed the way Whop's SDKs do (library given base64(secret)) verifies."""
    signer = Webhook(base64.b64encode(SECRET.encode()).decode())
    signature = signer.sign("msg_lib", NOW, BODY.decode())
    headers = {
        "webhook-id": "msg_lib",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": signature,
    }
    assert verify(BODY, headers, keys=[KEY], now=NOW).webhook_id == "msg_lib"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_w03_each_required_header(missing: str) -> None:
    """Dropping any one of the three headers is refused as missing_headers."""
    headers = headers_for()
    del headers[missing]
    assert reason_of(BODY, headers) == "missing_headers"


def test_w03_upper_case_headers_accepted() -> None:
    """Header names are matched case-insensitively even in a plain dict."""
    headers = {name.upper(): value for name, value in headers_for().items()}
    assert verify(BODY, headers, keys=[KEY], now=NOW).webhook_id == "msg_1"


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(-301, "timestamp_too_old"), (301, "timestamp_too_new")],
)
def test_w04_timestamp_outside_window(offset: int, reason: str) -> None:
    """A correctly signed delivery 301 s in the past or future is refused."""
    headers = headers_for(at=NOW + timedelta(seconds=offset))
    assert reason_of(BODY, headers) == reason


def test_w04_timestamp_inside_window() -> None:
    """A delivery signed 299 s ago is accepted."""
    verify(BODY, headers_for(at=NOW - timedelta(seconds=299)), keys=[KEY], now=NOW)


@pytest.mark.parametrize("stamp", ["hello", "1e10", "-5", "", "12.5", "9" * 13])
def test_w04_malformed_timestamp(stamp: str) -> None:
    """A timestamp that is not plain unix seconds is refused before any HMAC work."""
    headers = headers_for()
    headers["webhook-timestamp"] = stamp
    assert reason_of(BODY, headers) == "malformed_timestamp"


@pytest.mark.parametrize(
    "signature", ["garbage", "v1,@@@", "v2,abc", "v1a,c2lnbmF0dXJl", "", "v1,", ",,,", "v1,a,b"]
)
def test_w05_malformed_signature_header_is_a_clean_refusal(signature: str) -> None:
    """Junk signature headers raise our error (never a bare ValueError → 500)."""
    headers = headers_for()
    headers["webhook-signature"] = signature
    assert reason_of(BODY, headers) == "no_matching_signature"


def test_w06_any_matching_v1_entry_is_enough() -> None:
    """Among wrong, foreign-version and right entries, the right one is found."""
    good = headers_for()["webhook-signature"]
    wrong = "v1," + base64.b64encode(b"x" * 32).decode()
    headers = headers_for()
    headers["webhook-signature"] = f"{wrong} v2,abc {good} {wrong}"
    verify(BODY, headers, keys=[KEY], now=NOW)


def test_w07_rotation_accepts_old_secret_until_dropped() -> None:
    """With [new, old] configured, a delivery signed by old passes; with [new] only, it fails."""
    old, new = "ws_old_secret_value", "ws_new_secret_value"
    headers = headers_for(key=signing_key(old))
    verify(BODY, headers, keys=signing_keys([new, old]), now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, headers, keys=signing_keys([new]), now=NOW)


def test_w08_id_is_bound_by_the_signature() -> None:
    """Swapping the webhook-id on a valid delivery breaks the signature."""
    headers = headers_for(msg_id="msg_1")
    headers["webhook-id"] = "msg_2"
    assert reason_of(BODY, headers) == "no_matching_signature"


def test_w08_timestamp_is_bound_by_the_signature() -> None:
    """Shifting the timestamp by one second breaks the signature."""
    headers = headers_for()
    headers["webhook-timestamp"] = str(int(NOW.timestamp()) + 1)
    assert reason_of(BODY, headers) == "no_matching_signature"


@pytest.mark.parametrize("msg_id", ["msg.1", "msg 1", "x" * 129, "msg\n1"])
def test_w08_ids_that_would_make_signing_ambiguous_are_refused(msg_id: str) -> None:
    """An id with a dot, whitespace or over 128 characters is refused as malformed."""
    headers = headers_for()
    headers["webhook-id"] = msg_id
    assert reason_of(BODY, headers) == "malformed_id"


def test_secrets_that_would_make_a_weak_key_are_refused() -> None:
    """An empty secret, or a whsec_ secret that is not base64, is a configuration error."""
    for bad in ["", "whsec_", "whsec_not base64!"]:
        with pytest.raises(ConfigError):
            signing_key(bad)
    with pytest.raises(ConfigError):
        signing_keys([])


def test_legacy_scheme_only_when_enabled() -> None:
    """`x-whop-signature: t=..,v1=<hex>` verifies with legacy on and is refused with it off."""
    import hashlib
    import hmac

    stamp = int(NOW.timestamp())
    digest = hmac.new(KEY, f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"x-whop-signature": f"t={stamp},v1={digest}"}
    verified = verify(BODY, headers, keys=[KEY], now=NOW, legacy=True)
    assert verified.scheme == "legacy"
    assert verified.webhook_id.startswith("legacy_")
    assert reason_of(BODY, headers) == "missing_headers"
    headers["x-whop-signature"] = "sha256=" + digest
    assert reason_of(BODY, headers, legacy=True) == "malformed_signature"


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ([""], "WHOP_WEBHOOK_SECRET is empty"),
        (["whsec_"], "WHOP_WEBHOOK_SECRET: a whsec_ secret must not be empty"),
        (["whsec_not base64!"], "WHOP_WEBHOOK_SECRET: a whsec_ secret must be base64"),
        # Loose base64 would drop the stray characters and decode the rest into a key.
        (["whsec_MfKQ9r8G$KYqrTwjU"], "WHOP_WEBHOOK_SECRET: a whsec_ secret must be base64"),
        ([], "WHOP_WEBHOOK_SECRET is empty"),
    ],
)
def test_weak_secret_errors_name_the_setting(secrets: list[str], message: str) -> None:
    """Each refused secret is a configuration error that names WHOP_WEBHOOK_SECRET and why."""
    with pytest.raises(ConfigError) as refused:
        signing_keys(secrets)
    assert str(refused.value) == message


def test_w03_headers_are_found_in_any_case_in_a_plain_dict() -> None:
    """A plain dict with exact lower-case names and one with mixed case both verify."""
    exact = headers_for()
    assert verify(BODY, exact, keys=[KEY], now=NOW).scheme == "standard"
    mixed = {name.title(): value for name, value in exact.items()}
    assert verify(BODY, mixed, keys=[KEY], now=NOW).webhook_id == "msg_1"


def test_w06_entries_of_another_version_never_count() -> None:
    """A correct MAC labelled v2 (or unlabelled) is not a v1 signature."""
    headers = headers_for()
    mac = headers["webhook-signature"].removeprefix("v1,")
    for entry in (f"v2,{mac}", f",{mac}", mac):
        headers["webhook-signature"] = entry
        assert reason_of(BODY, headers) in ("no_matching_signature", "malformed_signature")


def test_w05_signature_base64_is_strict_and_bad_entries_are_skipped() -> None:
    """A v1 entry with stray characters is not decoded leniently; the entries after an
    unparseable one are still tried."""
    headers = headers_for()
    mac = headers["webhook-signature"].removeprefix("v1,")
    headers["webhook-signature"] = f"v1,{mac[:10]}!{mac[10:]}"
    assert reason_of(BODY, headers) in ("no_matching_signature", "malformed_signature")
    headers["webhook-signature"] = f"v1,%%% v1,{mac}"
    assert verify(BODY, headers, keys=[KEY], now=NOW).webhook_id == "msg_1"


@pytest.mark.parametrize("offset", [-300, 300])
def test_w04_the_window_edges_are_inside(offset: int) -> None:
    """Exactly ±300 s of skew is still accepted; the refusal starts past it."""
    at = NOW + timedelta(seconds=offset)
    assert verify(BODY, headers_for(at=at), keys=[KEY], now=NOW).timestamp == at


@pytest.mark.parametrize(("offset", "detail"), [(-400, "skew 400s"), (400, "skew -400s")])
def test_w04_refusals_log_the_skew(offset: int, detail: str) -> None:
    """The refusal's detail (for logs) gives the skew in seconds."""
    with pytest.raises(WebhookVerificationError) as refused:
        verify(BODY, headers_for(at=NOW + timedelta(seconds=offset)), keys=[KEY], now=NOW)
    assert str(refused.value) == detail


def test_legacy_delivery_is_identified_by_its_body_and_keeps_its_time() -> None:
    """A legacy delivery's id is `legacy_` + 40 hex of SHA-256(body); its timestamp and raw
    body are kept; a wrong MAC or an old timestamp is refused with the usual reasons."""
    import hashlib
    import hmac

    at = NOW - timedelta(seconds=30)
    stamp = int(at.timestamp())
    digest = hmac.new(KEY, f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"x-whop-signature": f"t={stamp},v1={digest}"}
    verified = verify(BODY, headers, keys=[KEY], now=NOW, legacy=True)
    assert verified.webhook_id == "legacy_" + hashlib.sha256(BODY).hexdigest()[:40]
    assert (verified.timestamp, verified.body) == (at, BODY)
    assert reason_of(BODY + b" ", headers, legacy=True) == "no_matching_signature"
    with pytest.raises(WebhookVerificationError) as refused:
        verify(BODY + b" ", headers, keys=[KEY], now=NOW, legacy=True)
    assert str(refused.value) == "no_matching_signature"
    assert reason_of(BODY, headers, legacy=True, tolerance=10) == "timestamp_too_old"
