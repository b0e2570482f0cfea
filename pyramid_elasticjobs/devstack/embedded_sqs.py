"""moto's SQS HTTP API on loopback, made safe for the daemon's concurrent calls.

moto's SQS backend is not thread-safe: two ReceiveMessage calls at once can hand out
the same message twice, or fail with a 500 after hiding messages (they then stay
invisible for their whole visibility timeout); a receive racing a delete can fail
too. The daemon polls with several threads while it deletes and the app sends, so
every call here runs alone. Long polls would then block everyone, so they are
turned into short polls repeated outside the lock until a message comes or the wait ends.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from . import moto_speedups
from .app_server import bind
from .hosts import HostCheck

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

RECEIVE_TARGET = "AmazonSQS.ReceiveMessage"
#: How often a waiting long poll looks again when its queue saw no call meanwhile:
#: delays and visibility timeouts end without any request.
RECHECK_SECONDS = 0.5
#: How often the server thread looks for a stop request (werkzeug's default is 0.5 s).
STOP_POLL_SECONDS = 0.05
#: moto keeps one backend per process, shared by every server started in it.
_BACKEND_LOCK = threading.Lock()


class SerializedSQS:
    """WSGI middleware: one SQS call at a time; long polls wait between short polls.

    A waiting poll tries again as soon as another call names its queue (a send, a
    visibility change...), else every ``RECHECK_SECONDS``: idle pollers must not
    keep the lock busy, since moto's ReceiveMessage costs milliseconds.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._changed = threading.Condition()
        self._changes: dict[str, int] = {}  # queue URL -> calls that named it
        self._releasing = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = _Request.parse(environ, body)
        if request.action in _MOVE_TASK_ACTIONS:
            # moto raises NotImplementedError (a 500 with a traceback on the console, which
            # botocore retries): answer as SQS answers an action it does not know.
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")])
            return [_NO_MOVE_TASKS]
        deadline = time.monotonic() + request.wait_seconds
        body = request.without_wait()
        while True:
            seen = self._changes.get(request.queue_url, 0)
            status, headers, answer = self._call_alone(environ, body)
            remaining = deadline - time.monotonic()
            if (
                remaining <= 0
                or self._releasing
                or not status.startswith("200")
                or _received_any(answer)
            ):
                break
            self._wait_for_change(request.queue_url, seen, min(remaining, RECHECK_SECONDS))
        if not request.is_receive and request.queue_url:
            with self._changed:
                self._changes[request.queue_url] = self._changes.get(request.queue_url, 0) + 1
                self._changed.notify_all()
        start_response(status, headers)
        return [answer]

    def release_waiting_polls(self) -> None:
        """From now on, answer long polls after one short poll, and end those waiting now.

        A stopping daemon waits for its long poll (up to 20 s) before it returns.
        """
        with self._changed:
            self._releasing = True
            self._changed.notify_all()

    def _wait_for_change(self, queue_url: str, seen: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: self._releasing or self._changes.get(queue_url, 0) != seen, timeout
            )

    def _call_alone(
        self, environ: WSGIEnvironment, body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        with _BACKEND_LOCK:
            result = self.app(environ, capture)
            try:
                answer = b"".join(result)
            finally:
                close: Callable[[], None] | None = getattr(result, "close", None)
                if close is not None:
                    close()
        return captured["status"], captured["headers"], answer


class _Request:
    """What the middleware needs of an SQS call, in the JSON protocol (boto3) or the query one."""

    def __init__(self, body: bytes, document: dict[str, Any] | None, is_json: bool) -> None:
        self.body = body
        self.document = document or {}
        self.is_json = is_json
        self.queue_url = str(self.document.get("QueueUrl", ""))
        action = str(self.document.get("Action", ""))
        self.action = action.rsplit(".", 1)[-1]  # "AmazonSQS.ReceiveMessage" -> "ReceiveMessage"
        self.is_receive = action in (RECEIVE_TARGET, "ReceiveMessage")
        try:
            wait = float(self.document.get("WaitTimeSeconds") or 0) if self.is_receive else 0.0
        except (TypeError, ValueError):
            wait = 0.0  # moto will refuse it
        self.wait_seconds = max(wait, 0.0)

    @classmethod
    def parse(cls, environ: WSGIEnvironment, body: bytes) -> _Request:
        target = environ.get("HTTP_X_AMZ_TARGET")
        try:
            if target:
                document = json.loads(body or b"{}")
                return cls(body, {**document, "Action": target}, is_json=True)
            return cls(body, dict(parse_qsl(body.decode())), is_json=False)
        except (ValueError, UnicodeDecodeError, TypeError):
            return cls(body, None, is_json=False)  # moto will answer it as it sees fit

    def without_wait(self) -> bytes:
        """The body, asking not to wait: the waiting happens here, outside the lock."""
        if not self.wait_seconds:
            return self.body
        document = {key: value for key, value in self.document.items() if key != "Action"}
        if self.is_json:
            return json.dumps({**document, "WaitTimeSeconds": 0}).encode()
        return urlencode({**self.document, "WaitTimeSeconds": "0"}).encode()


_MOVE_TASK_ACTIONS = frozenset(
    {"StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask"}
)
_NO_MOVE_TASKS = json.dumps(
    {
        "__type": "InvalidAction",
        "message": "the embedded SQS of `elasticjobs dev` (moto) has no message move tasks",
    }
).encode()


def _received_any(answer: bytes) -> bool:
    if answer.startswith(b"{"):
        try:
            return bool(json.loads(answer).get("Messages"))
        except ValueError:
            return True  # not ours to judge: hand it to the caller
    return b"<Message>" in answer


class _QuietRequestHandler(WSGIRequestHandler):
    """No access log line per SQS call: the daemon logs each delivery already."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmbeddedSQS:
    """moto's SQS on ``host:port`` (0 = any free port), served from a background thread.

    It answers only requests addressed to a loopback name or one of ``allowed_hosts``
    (see :class:`HostCheck`).
    """

    def __init__(self, host: str, port: int, allowed_hosts: Iterable[str] = ()) -> None:
        moto_speedups.apply()
        self._sqs = SerializedSQS(DomainDispatcherApplication(create_backend_app))
        app = HostCheck(self._sqs, allowed_hosts, name="the embedded SQS of elasticjobs dev")
        listener = bind(
            host,
            port,
            "run the embedded SQS",
            "choose another port in elasticjobs.endpoint_url, or 0 for any free one",
        )
        port = listener.getsockname()[1]
        with listener:  # werkzeug serves a duplicate of it
            self._server = make_server(
                host,
                port,
                app,
                threaded=True,
                request_handler=_QuietRequestHandler,
                fd=listener.fileno(),
            )
        self.address = (host, port)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(STOP_POLL_SECONDS,),
            name="devstack-sqs",
            daemon=True,
        )
        self._thread.start()

    def release_waiting_polls(self) -> None:
        """End the long polls waiting now, and answer later ones at once (see SerializedSQS)."""
        self._sqs.release_waiting_polls()

    def stop(self) -> None:
        self.release_waiting_polls()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
