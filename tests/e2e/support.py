"""Helpers of the end-to-end tests: the stack's test settings, waiting for conditions,
reading queues, browsing pages and running ``elasticjobs dev`` in a subprocess.

Fixtures live in conftest.py; test modules import helpers from here, never from
conftest or from each other.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from . import app as e2e_app

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
DEVELOPMENT_INI = ROOT / "development.ini"
#: Patience for anything the tests wait for: only reached when something is broken.
TIMEOUT = 60.0
#: Fast retries and short polls, so failures come back within seconds.
DAEMON_OPTIONS = {
    "wait_time_seconds": 1,
    "error_visibility_timeout": 1,
    "http_connections": 10,
    "summary_interval": 0,
}
MAX_RECEIVE_COUNT = 3
#: The last line of the start-up table of ``elasticjobs dev``.
READY = "Ctrl-C stops everything."


def build_test_app(settings: Mapping[str, Any]) -> Callable[[Mapping[str, str]], Any]:
    """A DevStack app factory for the test app with ``settings``."""
    return lambda overrides: e2e_app.main({}, **{**settings, **overrides})


def write_ini(path: Path, settings: Mapping[str, str], server: str = "") -> Path:
    """An ini file serving the test app with ``settings`` (and a [server:main] if given)."""
    lines = ["[app:main]", "use = call:tests.e2e.app:main"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n" + server, encoding="utf-8")
    return path


def get(url: str, host: str | None = None) -> tuple[int, str]:
    """GET ``url`` (with another Host header if given): the status and the body."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    try:
        headers = {"Host": host} if host is not None else {}
        connection.request("GET", parts.path or "/", headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


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

    def dashboard_numbers(self) -> dict[str, Any]:
        """The dashboard's live numbers: totals per outcome, per job, and each queue's counts."""
        document: dict[str, Any] = json.loads(self.get("/elasticjobs/live.json?period=1h"))
        return document


class DevProcess:
    """``elasticjobs dev`` in a subprocess, its standard output collected line by line."""

    def __init__(
        self, *arguments: str, stderr_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.lines: list[str] = []
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyramid_elasticjobs.cli", "dev", *arguments],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_until_ready(self) -> str:
        """Wait for the start-up table; return the application's URL."""
        wait_for(
            lambda: READY in self.lines or self.process.poll() is not None,
            TIMEOUT,
            "elasticjobs dev to start",
        )
        assert READY in self.lines, (self.lines, self.stderr())
        return self.table_value("application").rstrip("/")

    def table_value(self, what: str) -> str:
        """The name column of the start-up table's row ``what``."""
        [value] = [line.split()[1] for line in self.lines if line.split()[:1] == [what]]
        return value

    def stop(self, signum: int, patience: float = TIMEOUT) -> int:
        """Send ``signum``; the exit status, once the process has exited within ``patience``."""
        self.process.send_signal(signum)
        return self.wait(patience)

    def wait(self, patience: float = TIMEOUT) -> int:
        try:
            status = self.process.wait(patience)
        except subprocess.TimeoutExpired:
            self.process.kill()
            tail = "\n".join(self.stderr().splitlines()[-40:])
            pytest.fail(
                f"elasticjobs dev still running {patience:.0f}s after the signal; "
                f"last lines of its output:\n{tail}"
            )
        self._reader.join(TIMEOUT)
        return status

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(encoding="utf-8")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()
