"""The source check under real servers, behind a real forwarding proxy, on 127.0.0.1.

WebTest runs no server, so it cannot show what servers do to the headers before the
application runs: waitress (default settings) deletes X-Forwarded-For and Forwarded from
requests of untrusted peers, and rewrites REMOTE_ADDR from a ``trusted_proxy``; gunicorn
passes them through. Each case sends the daemon's POST, straight to the server or through a
proxy that reports a client (203.0.113.7 for the internet, 127.0.0.1 for the daemon on the
instance), and checks the answer and whether the job ran.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

from .served import (
    DAEMON_CLIENT,
    INTERNET_CLIENT,
    PERIODIC_JOB,
    SIGNED_JOB,
    Answer,
    Forwarding,
    Request,
    app_settings,
    forwarding_proxy,
    gunicorn_command,
    isolated_environ,
    make_app,
    periodic_request,
    post,
    runs,
    served_in_subprocess,
    signed_request,
    waitress_command,
    waitress_in_thread,
)

SUCCEEDED = Answer(200, "succeeded")
UNTRUSTED = Answer(403, "untrusted_source")
SOURCE_UNKNOWN = Answer(403, "source_unknown")


class Server(Enum):
    """A server and the settings a user following the README would give the app under it."""

    #: waitress's defaults: the forwarding headers of untrusted peers are deleted.
    WAITRESS = "waitress"
    #: waitress's defaults, nothing proxies to the app: REMOTE_ADDR is the client.
    WAITRESS_DIRECT = "waitress, remote_addr_is_client"
    #: waitress rewrites REMOTE_ADDR from the X-Forwarded-For of a proxy on 127.0.0.1.
    WAITRESS_TRUSTED_PROXY = "waitress trusted_proxy, remote_addr_is_client"
    #: gunicorn passes every header through.
    GUNICORN = "gunicorn"


REMOTE_ADDR_IS_CLIENT = {"elasticjobs.remote_addr_is_client": "true"}
SERVER_SETTINGS = {
    Server.WAITRESS: {},
    Server.WAITRESS_DIRECT: REMOTE_ADDR_IS_CLIENT,
    Server.WAITRESS_TRUSTED_PROXY: REMOTE_ADDR_IS_CLIENT,
    Server.GUNICORN: {},
}
TRUSTED_PROXY = {"trusted_proxy": "127.0.0.1", "trusted_proxy_headers": "x-forwarded-for"}


@dataclass(frozen=True)
class Route:
    """How the request reaches the server: straight, or through a proxy reporting ``client``."""

    forwarding: Forwarding | None = None
    client: str = DAEMON_CLIENT


DIRECT = Route()


@dataclass(frozen=True)
class Case:
    server: Server
    route: Route
    expected: Answer
    signed: bool = False


CASES = {
    # An internet client whose only trace is X-Forwarded-For.
    "xff-internet-waitress": Case(
        Server.WAITRESS,
        Route(Forwarding.X_FORWARDED_FOR, INTERNET_CLIENT),
        SOURCE_UNKNOWN,  # waitress deleted the header: nothing is left to judge
    ),
    "xff-internet-waitress-trusted-proxy": Case(
        Server.WAITRESS_TRUSTED_PROXY,
        Route(Forwarding.X_FORWARDED_FOR, INTERNET_CLIENT),
        UNTRUSTED,  # REMOTE_ADDR is the internet client
    ),
    "xff-internet-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.X_FORWARDED_FOR, INTERNET_CLIENT), UNTRUSTED
    ),
    # The daemon behind the same proxy: waitress's defaults leave no trace of it either.
    "xff-daemon-waitress": Case(
        Server.WAITRESS, Route(Forwarding.X_FORWARDED_FOR, DAEMON_CLIENT), SOURCE_UNKNOWN
    ),
    "xff-daemon-waitress-trusted-proxy": Case(
        Server.WAITRESS_TRUSTED_PROXY, Route(Forwarding.X_FORWARDED_FOR, DAEMON_CLIENT), SUCCEEDED
    ),
    "xff-daemon-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.X_FORWARDED_FOR, DAEMON_CLIENT), SUCCEEDED
    ),
    # An internet client whose only trace is RFC 7239 Forwarded.
    "forwarded-internet-waitress": Case(
        Server.WAITRESS, Route(Forwarding.FORWARDED, INTERNET_CLIENT), SOURCE_UNKNOWN
    ),
    "forwarded-internet-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.FORWARDED, INTERNET_CLIENT), UNTRUSTED
    ),
    # Elastic Beanstalk's nginx: X-Real-IP (which waitress keeps) and X-Forwarded-For.
    "eb-daemon-waitress": Case(
        Server.WAITRESS, Route(Forwarding.ELASTIC_BEANSTALK, DAEMON_CLIENT), SUCCEEDED
    ),
    "eb-daemon-waitress-trusted-proxy": Case(
        Server.WAITRESS_TRUSTED_PROXY, Route(Forwarding.ELASTIC_BEANSTALK, DAEMON_CLIENT), SUCCEEDED
    ),
    "eb-daemon-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.ELASTIC_BEANSTALK, DAEMON_CLIENT), SUCCEEDED
    ),
    "eb-internet-waitress": Case(
        Server.WAITRESS, Route(Forwarding.ELASTIC_BEANSTALK, INTERNET_CLIENT), UNTRUSTED
    ),
    "eb-internet-waitress-trusted-proxy": Case(
        Server.WAITRESS_TRUSTED_PROXY,
        Route(Forwarding.ELASTIC_BEANSTALK, INTERNET_CLIENT),
        UNTRUSTED,
    ),
    "eb-internet-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.ELASTIC_BEANSTALK, INTERNET_CLIENT), UNTRUSTED
    ),
    # Straight from 127.0.0.1, no proxy.
    "direct-waitress": Case(Server.WAITRESS, DIRECT, SOURCE_UNKNOWN),
    "direct-waitress-remote-addr-is-client": Case(Server.WAITRESS_DIRECT, DIRECT, SUCCEEDED),
    "direct-waitress-trusted-proxy": Case(Server.WAITRESS_TRUSTED_PROXY, DIRECT, SUCCEEDED),
    "direct-gunicorn": Case(Server.GUNICORN, DIRECT, SUCCEEDED),
    # A correctly signed message is refused all the same when its source is not established.
    "signed-xff-internet-waitress": Case(
        Server.WAITRESS,
        Route(Forwarding.X_FORWARDED_FOR, INTERNET_CLIENT),
        SOURCE_UNKNOWN,
        signed=True,
    ),
    "signed-direct-waitress": Case(Server.WAITRESS, DIRECT, SOURCE_UNKNOWN, signed=True),
    "signed-xff-internet-gunicorn": Case(
        Server.GUNICORN, Route(Forwarding.X_FORWARDED_FOR, INTERNET_CLIENT), UNTRUSTED, signed=True
    ),
    "signed-eb-daemon-waitress": Case(
        Server.WAITRESS, Route(Forwarding.ELASTIC_BEANSTALK, DAEMON_CLIENT), SUCCEEDED, signed=True
    ),
}


@dataclass(frozen=True)
class Running:
    url: str
    settings: dict[str, str]
    runs_file: Path
    #: Where a server in its own process writes its stderr.
    log: Path | None = None

    def output(self) -> str:
        """The server's stderr so far, to explain a failure (waitress in a thread: pytest's)."""
        return self.log.read_text(encoding="utf-8") if self.log is not None else ""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Server], Running]]:
    """Each kind of server, started on first use and stopped at the end of the module."""
    started: dict[Server, Running] = {}
    with contextlib.ExitStack() as stack:
        stack.enter_context(isolated_environ())

        def server(kind: Server) -> Running:
            if kind not in started:
                runs_file = tmp_path_factory.mktemp(kind.name.lower()) / "runs"
                settings = app_settings(runs_file, **SERVER_SETTINGS[kind])
                log = None
                if kind is Server.GUNICORN:
                    log = runs_file.with_name("gunicorn.log")
                    served = stack.enter_context(
                        served_in_subprocess(gunicorn_command(), settings, log)
                    )
                    url = served.url
                else:
                    options = TRUSTED_PROXY if kind is Server.WAITRESS_TRUSTED_PROXY else {}
                    url = stack.enter_context(waitress_in_thread(make_app(settings), **options))
                started[kind] = Running(url, settings, runs_file, log)
            return started[kind]

        yield server


def send(server: Running, route: Route, request: Request) -> Answer:
    """POST ``request`` to ``server``, through a fresh proxy unless the route is direct."""
    if route.forwarding is None:
        return post(server.url, request)
    with forwarding_proxy(server.url, route.forwarding, route.client) as proxy_url:
        return post(proxy_url, request)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_job_runs_only_when_the_source_is_established_and_trusted(
    servers: Callable[[Server], Running], case: Case
) -> None:
    """The answer and the job's run follow the real client, whatever the server did to headers."""
    server = servers(case.server)
    server.runs_file.unlink(missing_ok=True)
    request = signed_request(server.settings) if case.signed else periodic_request()

    answer = send(server, case.route, request)

    assert answer == case.expected, server.output()
    job_name = SIGNED_JOB if case.signed else PERIODIC_JOB
    assert runs(server.runs_file) == ([job_name] if answer.code == 200 else [])


def test_unknown_source_warning_says_how_to_configure_once_per_process(tmp_path: Path) -> None:
    """Under waitress's defaults, two direct requests are refused and one warning explains why."""
    runs_file = tmp_path / "runs"
    log = tmp_path / "waitress.log"
    with served_in_subprocess(waitress_command(), app_settings(runs_file), log) as served:
        answers = [post(served.url, periodic_request()) for _ in range(2)]

    assert answers == [SOURCE_UNKNOWN, SOURCE_UNKNOWN]
    assert runs(runs_file) == []
    warnings = [line for line in served.stderr.splitlines() if "remote_addr_is_client" in line]
    assert len(warnings) == 1, served.stderr
    assert warnings[0].startswith("WARNING pyramid_elasticjobs")
    assert "X-Real-IP" in warnings[0]
