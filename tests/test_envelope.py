"""The envelope format and its signature."""

from __future__ import annotations

import json
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
        b'{"v":2,"job":"noop","id":"1","queue":"q","args":{},"resent":0,'
        b'"enqueued_at":"2026-11-28T10:00:00","run_at":null,"expires_at":"2026-12-12T10:00:00"}'
    )
    assert Envelope.from_json(body).enqueued_at == datetime(2026, 11, 28, 10, tzinfo=UTC)


def test_other_versions_are_refused() -> None:
    """Version 1 (no expiry), 3 or none is UnsupportedEnvelopeVersion, a kind of EnvelopeError."""
    for version in (1, 3):
        with pytest.raises(UnsupportedEnvelopeVersion, match=f"version {version} is not supported"):
            Envelope.from_json(b'{"v": %d}' % version)
    with pytest.raises(EnvelopeError, match="version None"):
        Envelope.from_json(b'{"job": "noop"}')


def test_bad_timestamp_is_malformed() -> None:
    """A timestamp that is not ISO 8601 makes the envelope malformed."""
    body = (
        b'{"v":2,"job":"noop","id":"1","queue":"q","args":{},"resent":0,'
        b'"enqueued_at":"yesterday","expires_at":"2026-12-12T10:00:00"}'
    )
    with pytest.raises(EnvelopeError, match="not a job envelope"):
        Envelope.from_json(body)


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": None},
        {"expires_at": "soon"},
        {"resent": -1},
        {"resent": "1"},
        {"resent": True},
        {"args": []},
    ],
    ids=repr,
)
def test_envelope_without_a_valid_expiry_or_hop_count_is_malformed(
    change: dict[str, object],
) -> None:
    """expires_at must be a timestamp, resent a non-negative integer, args an object."""
    document = json.loads(make_envelope().to_json()) | change
    with pytest.raises(EnvelopeError, match="not a job envelope"):
        Envelope.from_json(json.dumps(document).encode())


def test_envelope_refuses_nan_and_keeps_arguments_out_of_its_repr() -> None:
    """NaN is not JSON; argument values never show in a repr (tracebacks capture them)."""
    with pytest.raises(ValueError, match="Out of range float"):
        make_envelope(arguments={"x": float("nan")}).to_json()
    assert "hunter2" not in repr(make_envelope(arguments={"password": "hunter2"}))


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
