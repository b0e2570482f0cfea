"""The envelope format and its signature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.exceptions import EnvelopeError, UnsupportedEnvelopeVersion
from pyramid_elasticjobs.signing import Signer

from .support import OLD_SECRET, SECRET, make_envelope


def test_envelope_round_trips() -> None:
    """to_json then from_json gives back the same envelope, run_at included."""
    envelope = make_envelope(
        "resize_image", {"image_id": 1, "tags": ["a", "é"]}, run_at=datetime.now(UTC)
    )
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_envelope_json_is_compact_and_utf8() -> None:
    """No whitespace between tokens; non-ASCII stays UTF-8 (smaller messages)."""
    body = make_envelope(arguments={"name": "Zoë"}).to_json()
    assert b", " not in body
    assert "Zoë".encode() in body


def test_naive_timestamps_are_read_as_utc() -> None:
    """An enqueued_at without offset is taken as UTC, never as local time."""
    body = (
        b'{"v":1,"job":"noop","id":"1","queue":"q","args":{},'
        b'"enqueued_at":"2026-11-28T10:00:00","run_at":null}'
    )
    assert Envelope.from_json(body).enqueued_at == datetime(2026, 11, 28, 10, tzinfo=UTC)


def test_other_versions_are_refused() -> None:
    """Version 2 (or none) is UnsupportedEnvelopeVersion, a kind of EnvelopeError."""
    with pytest.raises(UnsupportedEnvelopeVersion, match="version 2 is not supported"):
        Envelope.from_json(b'{"v": 2}')
    with pytest.raises(EnvelopeError, match="version None"):
        Envelope.from_json(b'{"job": "noop"}')


def test_bad_timestamp_is_malformed() -> None:
    """A timestamp that is not ISO 8601 makes the envelope malformed."""
    body = b'{"v":1,"job":"noop","id":"1","queue":"q","args":{},"enqueued_at":"yesterday"}'
    with pytest.raises(EnvelopeError, match="not a job envelope"):
        Envelope.from_json(body)


def test_signature_verifies_only_the_exact_body() -> None:
    """A signature covers the exact bytes: any change invalidates it."""
    signer = Signer([SECRET])
    body = make_envelope().to_json()
    signature = signer.sign(body)
    assert signer.verify(body, signature)
    assert not signer.verify(body + b" ", signature)
    assert not signer.verify(body, signature[:-1])
    assert not signer.verify(body, "")
    assert not signer.verify(body, "é" * 64)


def test_rotation_signs_with_first_and_verifies_with_all() -> None:
    """With [new, old] the old secret's signatures still verify; new ones use the new secret."""
    body = make_envelope(enqueued_at=datetime.now(UTC) - timedelta(days=1)).to_json()
    old_signature = Signer([OLD_SECRET]).sign(body)
    rotated = Signer([SECRET, OLD_SECRET])
    assert rotated.verify(body, old_signature)
    assert rotated.sign(body) == Signer([SECRET]).sign(body)
    assert not Signer([SECRET]).verify(body, old_signature)
