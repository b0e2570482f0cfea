"""The headers ``aws-sqsd`` sends with each message it POSTs (the daemon's side of the protocol)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .defaults import USER_AGENT


def daemon_headers(
    message: Mapping[str, Any], queue_name: str, user_agent: str = USER_AGENT
) -> dict[str, str]:
    """The headers ``aws-sqsd`` sends for an SQS message (as returned by ReceiveMessage).

    Needs the message's ``Attributes`` (``All``) and ``MessageAttributes``; Binary
    attributes are dropped, as the daemon does.
    """
    system = message.get("Attributes", {})
    headers = {
        "User-Agent": user_agent,
        "X-Aws-Sqsd-Msgid": message["MessageId"],
        "X-Aws-Sqsd-Queue": queue_name,
        "X-Aws-Sqsd-Receive-Count": system.get("ApproximateReceiveCount", "1"),
    }
    first_received = system.get("ApproximateFirstReceiveTimestamp")
    if first_received:
        headers["X-Aws-Sqsd-First-Received-At"] = _iso_from_millis(first_received)
    sent = system.get("SentTimestamp")
    if sent:
        headers["X-Aws-Sqsd-Sent-At"] = _iso_from_millis(sent)
    if system.get("SenderId"):
        headers["X-Aws-Sqsd-Sender-Id"] = system["SenderId"]
    for name, value in message.get("MessageAttributes", {}).items():
        if value.get("DataType", "").split(".")[0] in ("String", "Number"):
            headers[f"X-Aws-Sqsd-Attr-{name}"] = value["StringValue"]
    return headers


def _iso_from_millis(millis: str) -> str:
    moment = datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
