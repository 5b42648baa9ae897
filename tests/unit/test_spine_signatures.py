from __future__ import annotations

import base64
import json

import pytest
from square.utils.webhooks_helper import verify_signature as square_sdk_verify

from api.signatures import SignatureError, sign_pos, sign_square, verify_pos, verify_square

BODY = json.dumps({"event": "sale.completed", "event_id": "evt_1"}).encode()


def test_pos_signature_roundtrip() -> None:
    header = sign_pos("s3cret", BODY, timestamp=1_700_000_000)
    verify_pos("s3cret", BODY, header, now=1_700_000_010)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("garbage", "malformed"),
        ("t=abc,v1=00", "malformed timestamp"),
        ("v1=00", "needs t= and v1="),
        ("t=1700000000", "needs t= and v1="),
        # str.isdigit() accepts these; int() then raises (500) or reads a digit nobody signed.
        ("t=\u00b2,v1=00", "malformed timestamp"),
        ("t=\u0661\u0667\u0660\u0660,v1=00", "malformed timestamp"),
        ("t=1700000000\u00b9,v1=00", "malformed timestamp"),
        ("t=+1700000000,v1=00", "malformed timestamp"),
        ("t= 1700000000 ,v1=00", "malformed timestamp"),
        ("t=-1,v1=00", "malformed timestamp"),
        ("t=,v1=00", "malformed timestamp"),
        # Longer than any Unix time: never handed to int() (which refuses > 4,300 digits) or float maths.
        ("t=" + "9" * 5000 + ",v1=00", "malformed timestamp"),
        ("t=" + "9" * 13 + ",v1=00", "malformed timestamp"),
    ],
)
def test_pos_signature_malformed(header: str | None, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_pos("s3cret", BODY, header, now=1_700_000_000)


def test_pos_signature_wrong_secret_or_tampered_body() -> None:
    header = sign_pos("s3cret", BODY, timestamp=1_700_000_000)
    with pytest.raises(SignatureError, match="mismatch"):
        verify_pos("other", BODY, header, now=1_700_000_000)
    with pytest.raises(SignatureError, match="mismatch"):
        verify_pos("s3cret", BODY + b" ", header, now=1_700_000_000)


def test_pos_signature_replay_window() -> None:
    header = sign_pos("s3cret", BODY, timestamp=1_700_000_000)
    verify_pos("s3cret", BODY, header, now=1_700_000_300)  # exactly at the tolerance edge
    with pytest.raises(SignatureError, match="stale"):
        verify_pos("s3cret", BODY, header, now=1_700_000_301)
    with pytest.raises(SignatureError, match="stale"):  # from the future too
        verify_pos("s3cret", BODY, header, now=1_699_999_699)


def test_pos_signature_timestamp_is_signed() -> None:
    """Moving t forward to dodge the window breaks the MAC."""
    header = sign_pos("s3cret", BODY, timestamp=1_700_000_000)
    forged = header.replace("t=1700000000", "t=1700000900")
    with pytest.raises(SignatureError, match="mismatch"):
        verify_pos("s3cret", BODY, forged, now=1_700_000_900)


@pytest.mark.parametrize("candidate", ["\u00e9" * 64, "\u00ff", "DEADBEEF" * 8, "zz", ""])
def test_pos_signature_odd_v1_is_a_mismatch_not_a_crash(candidate: str) -> None:
    """Latin-1 header text reaches compare_digest, which raises TypeError on non-ASCII str."""
    with pytest.raises(SignatureError, match="mismatch"):
        verify_pos("s3cret", BODY, f"t=1700000000,v1={candidate}", now=1_700_000_000)


def test_pos_signature_rotation_accepts_any_valid_v1() -> None:
    good = sign_pos("new", BODY, timestamp=1_700_000_000).split(",")[1]
    verify_pos("new", BODY, f"t=1700000000,v1=deadbeef,{good}", now=1_700_000_000)


def test_square_signature_matches_official_sdk() -> None:
    url = "https://example.com/webhooks/square"
    key = "sq-signature-key"
    body = json.dumps({"merchant_id": "M1", "type": "payment.updated", "event_id": "e-1", "data": {}})
    header = sign_square(key, url, body.encode())
    assert square_sdk_verify(request_body=body, signature_header=header, signature_key=key, notification_url=url)
    verify_square(key, url, body.encode(), header)
    # The SDK and we both refuse a signature made for another URL.
    other = sign_square(key, url + "x", body.encode())
    assert not square_sdk_verify(request_body=body, signature_header=other, signature_key=key, notification_url=url)
    with pytest.raises(SignatureError):
        verify_square(key, url, body.encode(), other)
    with pytest.raises(SignatureError, match="missing"):
        verify_square(key, url, body.encode(), None)


@pytest.mark.parametrize("header", ["not base64!", "\u00e9\u00e9\u00e9\u00e9", "abc", "====", "YWJj\nZGVm"])
def test_square_signature_malformed_base64_is_a_signature_error(header: str) -> None:
    with pytest.raises(SignatureError):
        verify_square("k", "https://example.com/hook", BODY, header)


def test_square_signature_must_be_the_whole_digest() -> None:
    good = sign_square("k", "https://example.com/hook", BODY)
    verify_square("k", "https://example.com/hook", BODY, f"  {good} ")
    truncated = base64.b64encode(base64.b64decode(good)[:16]).decode()
    with pytest.raises(SignatureError, match="mismatch"):
        verify_square("k", "https://example.com/hook", BODY, truncated)
