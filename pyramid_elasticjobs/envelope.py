"""The versioned JSON envelope that carries one job through SQS."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .exceptions import EnvelopeError, UnsupportedEnvelopeVersion

#: 2 added ``expires_at`` and ``resent`` (replay protection); version 1 is no longer read.
ENVELOPE_VERSION = 2


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a message body says: which job, with which (schema-dumped) arguments, and when.

    ``expires_at`` is signed with the rest, so a captured message cannot run after it.
    ``resent`` counts how often a worker re-sent the job because it arrived before
    ``run_at``. The arguments are left out of the repr: tracebacks that capture locals
    would otherwise carry them.
    """

    name: str
    job_id: str
    queue: str
    arguments: dict[str, Any] = field(repr=False)
    enqueued_at: datetime
    run_at: datetime | None
    expires_at: datetime
    resent: int = 0

    def to_json(self) -> bytes:
        """The exact bytes that are signed and sent.

        Raises ``TypeError``, ``ValueError`` or ``UnicodeEncodeError`` for arguments that
        JSON cannot carry; the client turns those into errors naming the field.
        """
        document = {
            "v": ENVELOPE_VERSION,
            "job": self.name,
            "id": self.job_id,
            "queue": self.queue,
            "args": self.arguments,
            "enqueued_at": self.enqueued_at.isoformat(),
            "run_at": self.run_at.isoformat() if self.run_at else None,
            "expires_at": self.expires_at.isoformat(),
            "resent": self.resent,
        }
        return encode_json(document)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view, for logs and listeners."""
        result: dict[str, Any] = json.loads(self.to_json())
        return result

    @classmethod
    def from_json(cls, body: bytes) -> Envelope:
        """Parse a message body; :class:`EnvelopeError` says what is wrong with it."""
        try:
            document = json.loads(body.decode())  # str: json skips guessing the encoding
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise EnvelopeError(f"message body is not valid JSON: {error!r}") from None
        if not isinstance(document, dict):
            raise EnvelopeError("message body is not a JSON object")
        version = document.get("v")
        if version != ENVELOPE_VERSION:
            raise UnsupportedEnvelopeVersion(
                f"envelope version {version!r} is not supported (this worker reads version "
                f"{ENVELOPE_VERSION}); deploy one pyramid_elasticjobs version to web and worker"
            )
        try:
            name, job_id, queue = document["job"], document["id"], document["queue"]
            arguments, resent = document["args"], document["resent"]
            enqueued_at = _timestamp(document["enqueued_at"])
            run_at = _timestamp(document["run_at"]) if document.get("run_at") else None
            expires_at = _timestamp(document["expires_at"])
        except (KeyError, TypeError, ValueError) as error:
            raise EnvelopeError(f"message body is not a job envelope: {error!r}") from None
        if (
            not all(isinstance(value, str) for value in (name, job_id, queue))
            or not isinstance(arguments, dict)
            or type(resent) is not int
            or resent < 0
        ):
            raise EnvelopeError("message body is not a job envelope: wrong field types")
        return cls(name, job_id, queue, arguments, enqueued_at, run_at, expires_at, resent)


# One encoder for every message: json.dumps() with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(document: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused, since other parsers reject them."""
    return _ENCODER.encode(document).encode()


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"timestamp {value!r} is not a string")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
