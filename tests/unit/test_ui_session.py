"""Session cookies and CSRF tags of the review pages: signed, tamper-evident, bound to their purpose."""

from __future__ import annotations

from api.ui.session import SessionSigner


def test_signed_payload_round_trips_and_tampering_is_refused() -> None:
    signer = SessionSigner("s3cret")
    token = signer.sign({"kid": 7, "fp": "abc", "sid": "x", "exp": 123})
    assert signer.unsign(token) == {"kid": 7, "fp": "abc", "sid": "x", "exp": 123}

    body, _, mac = token.partition(".")
    forged_body = SessionSigner("other").sign({"kid": 1, "fp": "abc", "sid": "x", "exp": 10**12}).partition(".")[0]
    assert signer.unsign(f"{forged_body}.{mac}") is None  # another payload under this signature
    assert signer.unsign(f"{body}.{mac[:-2]}AA") is None  # altered signature
    assert SessionSigner("other").unsign(token) is None  # another deployment's secret
    for junk in ("", ".", "abc", "abc.", ".abc", "%%%.%%%", "a" * 2000 + ".b"):
        assert signer.unsign(junk) is None


def test_csrf_tags_are_bound_to_purpose_and_value() -> None:
    signer = SessionSigner("s3cret")
    tag = signer.tag("csrf", "session-1")
    assert signer.check_tag("csrf", "session-1", tag)
    assert not signer.check_tag("csrf", "session-2", tag)
    assert not signer.check_tag("login", "session-1", tag)
    assert not signer.check_tag("csrf", "session-1", None)
    assert not signer.check_tag("csrf", "session-1", "")
