"""HMAC-SHA256 signatures over the exact message body, with key rotation."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .protocol import JOB_ATTRIBUTE, ORIGIN, ORIGIN_ATTRIBUTE, SIGNATURE_ATTRIBUTE
from .transport import OutgoingMessage

if TYPE_CHECKING:
    from .runtime import Runtime


class Signer:
    """Signs with the first secret and verifies against all of them.

    Listing the new secret first and the old one second lets web and worker
    environments be redeployed in any order without refusing messages.
    """

    __slots__ = ("_keys",)

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("Signer needs at least one secret")
        # Keyed HMAC objects are copied per message: cheaper than re-keying.
        self._keys = tuple(hmac.new(s.encode(), digestmod=hashlib.sha256) for s in secrets)

    def sign(self, body: bytes) -> str:
        mac = self._keys[0].copy()
        mac.update(body)
        return mac.hexdigest()

    def verify(self, body: bytes, signature: str) -> bool:
        """True if any secret signed ``body``; every secret is checked, in constant time."""
        try:
            given = signature.encode("ascii")
        except UnicodeEncodeError:
            return False
        valid = False
        for key in self._keys:
            mac = key.copy()
            mac.update(body)
            valid |= hmac.compare_digest(mac.hexdigest().encode(), given)
        return valid


def signed_message(
    runtime: Runtime,
    body: bytes,
    job_name: str,
    *,
    delay_seconds: int = 0,
    group_id: str | None = None,
    deduplication_id: str | None = None,
) -> OutgoingMessage:
    """An envelope's exact bytes, with their signature and origin marker as attributes."""
    attributes = {
        ORIGIN_ATTRIBUTE: ORIGIN,
        SIGNATURE_ATTRIBUTE: runtime.signer.sign(body),
        JOB_ATTRIBUTE: job_name,
    }
    return OutgoingMessage(body, attributes, delay_seconds, group_id, deduplication_id)
