"""The HTTP request aws-sqsd makes for one SQS message: path, body and headers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyramid_elasticjobs.protocol import JOB_ATTRIBUTE

from .cron import PERIODIC_ATTRIBUTES, periodic_task_of
from .headers import daemon_headers
from .options import DaemonOptions

log = logging.getLogger("pyramid_elasticjobs.daemon")

#: X-Aws-Sqsd-Sender-Id of a periodic task when SQS does not report a sender.
LOCAL_SENDER_ID = "elasticjobs-sqsd"


@dataclass(frozen=True, slots=True)
class Request:
    """A POST to the application, and the label (job or task name) its log line shows."""

    path: str
    body: bytes
    headers: dict[str, bytes]
    label: str


def build_request(message: Mapping[str, Any], options: DaemonOptions) -> Request:
    """The POST for a received message (with ``All`` system and message attributes).

    A periodic task's message becomes an empty POST to the task's url, its
    ``beanstalk.sqsd.*`` attributes turned into the Taskname/Scheduled-At headers.
    """
    headers = daemon_headers(message, options.queue_name, options.user_agent)
    headers["Content-Type"] = options.mime_type
    periodic = periodic_task_of(message)
    if periodic is None:
        job = message.get("MessageAttributes", {}).get(JOB_ATTRIBUTE, {})
        path, body, label = options.http_path, message["Body"].encode(), job.get("StringValue")
    else:
        path, label, scheduled_at = periodic
        body = b""
        for attribute in PERIODIC_ATTRIBUTES:
            headers.pop(f"X-Aws-Sqsd-Attr-{attribute}", None)
        headers["X-Aws-Sqsd-Taskname"] = label
        headers["X-Aws-Sqsd-Scheduled-At"] = scheduled_at
        headers.setdefault("X-Aws-Sqsd-Sender-Id", LOCAL_SENDER_ID)
    return Request(path, body, _encode_headers(headers, message["MessageId"]), label or "-")


def _encode_headers(headers: Mapping[str, str], message_id: str) -> dict[str, bytes]:
    """UTF-8 values (SQS attributes are Unicode); drop any value that would split the header."""
    encoded = {}
    for name, value in headers.items():
        raw = value.encode()
        if b"\r" in raw or b"\n" in raw or b"\0" in raw:
            log.warning(
                "sqsd: message %s: header %s not sent: its value has a line break or NUL",
                message_id,
                name,
            )
            continue
        encoded[name] = raw
    return encoded
