"""Waiting for conditions, reading queues and browsing pages, for the end-to-end tests."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def wait_for(probe: Callable[[], T], timeout: float, what: str, *, interval: float = 0.05) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def depth(sqs: Any, queue_url: str) -> dict[str, int]:
    """The queue's approximate counts: visible, not visible (in flight) and delayed."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=DEPTH_ATTRIBUTES)
    return {name: int(attributes["Attributes"][name]) for name in DEPTH_ATTRIBUTES}


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive (and delete) every visible message of a queue."""
    drained: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return drained
        drained.extend(messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
            ],
        )


def job_numbers(messages: list[dict[str, Any]]) -> list[int]:
    """The ``n`` argument inside each message's envelope."""
    return [json.loads(message["Body"])["args"]["n"] for message in messages]


class Browser:
    """Just enough of a browser: cookies, forms with their CSRF token, redirects."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            text: str = response.read().decode()
            return text

    def post(self, path: str, **fields: str) -> str:
        """POST a form (with the page's CSRF token unless one is given); the page it leads to."""
        if "csrf_token" not in fields:
            fields["csrf_token"] = self.csrf_token()
        data = urllib.parse.urlencode(fields).encode()
        with self.opener.open(self.base_url + path, data=data, timeout=30) as response:
            text: str = response.read().decode()
            return text

    def csrf_token(self) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get("/"))
        assert match, "the page has no CSRF token"
        return match.group(1)

    def activity(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.get("/activity.json"))
        return document
