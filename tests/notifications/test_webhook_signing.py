"""signing.verify accepts exactly the signed body at a recent timestamp."""

import time

from controlplane.notifications import signing

SECRET = "whsec_test-secret"
BODY = b'{"id":"e1","type":"rollout.paused","data":{"percent":5.0}}'


def test_a_fresh_signature_verifies():
    now = int(time.time())
    signature = signing.sign(SECRET, now, BODY)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert signing.verify(SECRET, now, BODY, signature)
    assert signing.verify(SECRET, str(now), BODY.decode(), signature)  # header strings and text bodies too


def test_a_tampered_body_is_rejected():
    now = int(time.time())
    signature = signing.sign(SECRET, now, BODY)
    assert not signing.verify(SECRET, now, BODY.replace(b"5.0", b"50.0"), signature)


def test_another_secret_or_timestamp_is_rejected():
    now = int(time.time())
    signature = signing.sign(SECRET, now, BODY)
    assert not signing.verify("whsec_other", now, BODY, signature)
    assert not signing.verify(SECRET, now - 1, BODY, signature)


def test_an_old_timestamp_is_rejected_even_if_correctly_signed():
    old = int(time.time()) - 301
    signature = signing.sign(SECRET, old, BODY)
    assert not signing.verify(SECRET, old, BODY, signature)
    assert signing.verify(SECRET, old, BODY, signature, tolerance_s=600)
    assert signing.verify(SECRET, old, BODY, signature, now=old + 10)


def test_malformed_headers_are_rejected():
    now = int(time.time())
    hex_digest = signing.sign(SECRET, now, BODY).removeprefix("sha256=")
    assert not signing.verify(SECRET, now, BODY, hex_digest)  # no scheme prefix
    assert not signing.verify(SECRET, "yesterday", BODY, "sha256=" + hex_digest)
    assert not signing.verify(SECRET, now, BODY, "")


def test_new_secrets_are_random_and_prefixed():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and len(first) > 40
    assert first != second
