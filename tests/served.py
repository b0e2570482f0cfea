"""Real servers for the source-address tests: the app, waitress, gunicorn, a forwarding proxy.

Everything listens on 127.0.0.1 only. The application records each job run as a line in a
file named by its settings, so a run inside a gunicorn process is visible to the test.
Subprocesses inherit a listening socket opened by the test (``fd://`` for gunicorn,
``sockets=`` for waitress): the port comes from the OS, and a request sent before the server
is ready waits in the socket's backlog instead of racing its start.

``python -m tests.served FD`` serves the application (settings in ``SETTINGS_ENVIRON``) with
waitress's default settings on the inherited socket ``FD``, in a process of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import waitress
from pyramid.config import Configurator

from pyramid_elasticjobs import JobContext, job
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.settings import ENVIRONMENT_OVERRIDES
from pyramid_elasticjobs.signing import signed_message

from .support import REGION, SECRET, make_envelope

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
#: An address of TEST-NET-3 (RFC 5737): an internet client.
INTERNET_CLIENT = "203.0.113.7"
#: The daemon on the instance itself, as Elastic Beanstalk's nginx reports it.
DAEMON_CLIENT = LOOPBACK

#: The environment variable that carries the application's settings (JSON) to a subprocess.
SETTINGS_ENVIRON = "SERVED_APP_SETTINGS"
#: Environment variables that would override the settings the tests give the application.
OVERRIDING_ENVIRON = (*ENVIRONMENT_OVERRIDES.values(), "AWS_DEFAULT_REGION")
#: The settings key naming the file where jobs record their runs.
RUNS_FILE = "served.runs_file"

PERIODIC_JOB = "served_periodic"
SIGNED_JOB = "served_signed"
QUEUE = "default"
USER_AGENT = "aws-sqsd/3.0.4"

#: Headers that belong to one connection and that a proxy does not pass on (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


# --- the application -------------------------------------------------------------------------


@job(periodic=True, name=PERIODIC_JOB)
def served_periodic(ctx: JobContext) -> None:
    _record(ctx)


@job(name=SIGNED_JOB)
def served_signed(ctx: JobContext) -> None:
    _record(ctx)


def _record(ctx: JobContext) -> None:
    with open(ctx.registry.settings[RUNS_FILE], "a", encoding="utf-8") as runs:
        runs.write(ctx.name + "\n")


def app_settings(runs_file: Path, **overrides: str) -> dict[str, str]:
    """A worker's settings. No request of these tests reaches SQS, so no endpoint is needed."""
    return {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.process_jobs": "true",
        RUNS_FILE: str(runs_file),
        **overrides,
    }


def make_app(settings: Mapping[str, str]) -> WSGIApplication:
    """A Pyramid application including pyramid_elasticjobs, with this module's jobs."""
    with Configurator(settings=dict(settings)) as config:
        config.include("pyramid_elasticjobs")
        config.scan("tests.served")
    app: WSGIApplication = config.make_wsgi_app()
    return app


def app_from_environ() -> WSGIApplication:
    """The application of a subprocess: ``gunicorn 'tests.served:app_from_environ()'``."""
    return make_app(json.loads(os.environ[SETTINGS_ENVIRON]))


def runs(runs_file: Path) -> list[str]:
    """The names of the jobs that ran, in order."""
    if not runs_file.exists():
        return []
    return runs_file.read_text(encoding="utf-8").split()


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A POST as the daemon sends it: path, headers, body."""

    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """The status code, and the JSON ``status`` of the answer (``None`` if there is none)."""

    code: int
    status: str | None


def periodic_request(task: str = PERIODIC_JOB) -> Request:
    """The daemon's unsigned POST for a ``cron.yaml`` entry."""
    return Request(
        "/periodic_tasks",
        {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-Aws-Sqsd-Msgid": uuid.uuid4().hex,
            "X-Aws-Sqsd-Taskname": task,
            "X-Aws-Sqsd-Scheduled-At": datetime.now(UTC).isoformat(),
        },
    )


def signed_request(settings: Mapping[str, str]) -> Request:
    """The daemon's POST of a job message signed with the secret of ``settings``."""
    with Configurator(settings=dict(settings)) as config:
        config.include("pyramid_elasticjobs")
    runtime = get_runtime(config.registry)
    envelope = make_envelope(SIGNED_JOB, queue=QUEUE)
    message = signed_message(runtime, envelope.to_json(), SIGNED_JOB)
    received = {
        "MessageId": str(uuid.uuid4()),
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message.attributes.items()
        },
    }
    headers = daemon_headers(received, QUEUE, user_agent=USER_AGENT)
    headers["Content-Type"] = "application/json"
    return Request("/", headers, message.body)


def post(url: str, request: Request) -> Answer:
    """Send ``request`` to ``url`` (``http://127.0.0.1:PORT``) over a new connection."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        connection.request("POST", request.path, request.body, request.headers)
        response = connection.getresponse()
        payload = response.read()
        content_type = response.getheader("Content-Type") or ""
    finally:
        connection.close()
    status = None
    if content_type.startswith("application/json"):
        status = json.loads(payload).get("status")
    return Answer(response.status, status)


# --- the forwarding proxy --------------------------------------------------------------------


class Forwarding(Enum):
    """Which headers a proxy adds to tell the application who its client was."""

    X_FORWARDED_FOR = "X-Forwarded-For"
    FORWARDED = "Forwarded (RFC 7239)"
    #: Elastic Beanstalk's nginx: ``X-Real-IP $remote_addr`` and ``$proxy_add_x_forwarded_for``.
    ELASTIC_BEANSTALK = "X-Real-IP and X-Forwarded-For"

    def headers(self, client: str) -> dict[str, str]:
        if self is Forwarding.X_FORWARDED_FOR:
            return {"X-Forwarded-For": client}
        if self is Forwarding.FORWARDED:
            return {"Forwarded": f"for={client};proto=http"}
        return {"X-Real-IP": client, "X-Forwarded-For": client}


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    upstream: tuple[str, int]
    added_headers: dict[str, str]


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in _ADDED
        }
        headers.update(self.server.added_headers)
        connection = http.client.HTTPConnection(*self.server.upstream)
        try:
            connection.request(self.command, self.path, body, headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:  # as nginx does when the app is down
            self.send_error(502, f"upstream: {error}")
            return
        finally:
            connection.close()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on answers, not on an access log."""


#: Forwarding headers the client sent: the proxy replaces them with its own, as nginx's
#: ``proxy_set_header`` does.
_ADDED = frozenset({"x-forwarded-for", "x-real-ip", "forwarded"})


@contextlib.contextmanager
def forwarding_proxy(upstream: str, forwarding: Forwarding, client: str) -> Iterator[str]:
    """A proxy on 127.0.0.1 to ``upstream`` that reports ``client`` as its client; its URL."""
    host, _, port = upstream.removeprefix("http://").partition(":")
    server = _ProxyServer((LOOPBACK, 0), _ProxyHandler)
    server.upstream = (host, int(port))
    server.added_headers = forwarding.headers(client)
    thread = threading.Thread(target=server.serve_forever, name="forwarding-proxy")
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def isolated_environ() -> Iterator[None]:
    """No variable of the shell overrides the tests' settings, in this process or its children."""
    with pytest.MonkeyPatch.context() as patch:
        for name in OVERRIDING_ENVIRON:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@contextlib.contextmanager
def waitress_in_thread(app: WSGIApplication, **options: Any) -> Iterator[str]:
    """waitress (defaults unless ``options``) on a free loopback port, in a thread; its URL."""
    channels: dict[int, Any] = {}  # our own socket map, so the stop closes every connection
    server: Any = waitress.create_server(app, map=channels, host=LOOPBACK, port=0, **options)
    thread = threading.Thread(target=server.run, name="served-waitress")
    thread.start()

    def close_all() -> None:
        server.close()
        for channel in list(channels.values()):
            channel.handle_close()

    try:
        yield f"http://{LOOPBACK}:{server.effective_port}"
    finally:
        # On the server's own thread: asyncore objects are not thread-safe.
        try:
            server.trigger.pull_trigger(close_all)
        except OSError:  # the trigger is closed: the loop is ending, or has, on its own
            close_all()
        thread.join()
        server.task_dispatcher.shutdown()


@dataclass
class Served:
    """A server in a process of its own: its URL, and where its stderr goes."""

    url: str
    log: Path

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr so far (all of it once the server stopped)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def served_in_subprocess(
    command: list[str], settings: Mapping[str, str], log: Path
) -> Iterator[Served]:
    """Run ``command`` with ``{fd}`` replaced by an inherited listening socket on 127.0.0.1.

    The server's stderr goes to the file ``log`` (a pipe nobody reads could fill and block it).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(64)
    served = Served(f"http://{LOOPBACK}:{listener.getsockname()[1]}", log)
    fd = listener.fileno()
    environ = {**os.environ, SETTINGS_ENVIRON: json.dumps(dict(settings))}
    with listener, log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [part.replace("{fd}", str(fd)) for part in command],
            cwd=ROOT,
            env=environ,
            pass_fds=(fd,),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    # Our copy is closed: if the server dies, requests are refused instead of waiting forever.
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.returncode not in (0, -signal.SIGTERM):  # a crash, not our stop
        raise RuntimeError(f"{command} exited with status {process.returncode}:\n{served.stderr}")


def gunicorn_command() -> list[str]:
    """gunicorn, one sync worker, serving ``app_from_environ()`` on the inherited socket."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        "fd://{fd}",
        "--workers",
        "1",
        "--log-level",
        "warning",
        "tests.served:app_from_environ()",
    ]


def waitress_command() -> list[str]:
    """waitress with its default settings, in a process of its own (see ``main``)."""
    return [sys.executable, "-m", "tests.served", "{fd}"]


def main(argv: list[str]) -> None:
    """Serve ``app_from_environ()`` with waitress's defaults on the inherited socket ``argv[0]``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    listener = socket.socket(fileno=int(argv[0]))
    server: Any = waitress.create_server(app_from_environ(), sockets=[listener])
    server.run()  # until SIGTERM; each log record is already written to stderr


if __name__ == "__main__":
    main(sys.argv[1:])
