"""DevStack: which SQS it runs, the queues it creates, and how it starts and stops."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs import ConfigurationError, get_client
from pyramid_elasticjobs.devstack import DevStack, dead_letter_queue_name, provision_queues
from pyramid_elasticjobs.devstack.stack import embedded_address, loopback_host
from pyramid_elasticjobs.settings import parse_settings

from .app import ledger as ledger_of
from .jobs import elsewhere, work
from .support import DAEMON_OPTIONS, MAX_RECEIVE_COUNT, TIMEOUT, build_test_app, get, wait_for

#: What both servers answer a request for a host they do not serve.
REFUSED = 421


@pytest.mark.parametrize(
    ("queue", "suffix", "expected"),
    [
        ("jobs", "-dead-letters", "jobs-dead-letters"),
        ("jobs.fifo", "-dead-letters", "jobs-dead-letters.fifo"),
        ("p-jobs", "_dlq", "p-jobs_dlq"),
    ],
)
def test_dead_letter_queue_names_keep_fifo_at_the_end(
    queue: str, suffix: str, expected: str
) -> None:
    """The suffix goes before .fifo, since a FIFO queue's dead-letter queue must be FIFO."""
    assert dead_letter_queue_name(queue, suffix) == expected


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://127.0.0.1:0", ("127.0.0.1", 0)),
        ("http://localhost:4566", ("127.0.0.1", 4566)),
        ("http://127.0.0.2:5000/", ("127.0.0.2", 5000)),
        (None, None),
        ("", None),
        ("https://sqs.us-east-1.amazonaws.com", None),
        ("http://10.0.0.5:4566", None),
    ],
)
def test_only_a_loopback_endpoint_gets_an_embedded_sqs(
    endpoint: str | None, expected: tuple[str, int] | None
) -> None:
    """Loopback URLs say where to run moto; AWS and other hosts are used as they are."""
    assert embedded_address(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1", "https://127.0.0.1:0"])
def test_a_loopback_endpoint_needs_http_and_a_port(endpoint: str) -> None:
    """Without a port there is nowhere to listen; moto serves plain http only."""
    with pytest.raises(ConfigurationError, match="explicit port"):
        embedded_address(endpoint)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::1"])
def test_the_stack_refuses_to_listen_beyond_ipv4_loopback(host: str) -> None:
    """The stack has no authentication of its own, so it serves 127.0.0.0/8 only."""
    with pytest.raises(ConfigurationError, match="loopback"):
        loopback_host(host)


def test_each_queue_gets_a_dead_letter_queue_and_a_redrive_policy(
    sqs: Any, settings: dict[str, str]
) -> None:
    """Standard and FIFO queues redrive to a queue of their kind after max_receive_count."""
    parsed = parse_settings({**settings, "elasticjobs.max_receive_count": "4"})

    standard, fifo = provision_queues(sqs, parsed, ["mail", "orders.fifo"])

    for queue in (standard, fifo):
        attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])
        dead_letters = sqs.get_queue_attributes(
            QueueUrl=queue.dead_letter_url, AttributeNames=["All"]
        )["Attributes"]
        redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dead_letters["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 4
        assert dead_letters.get("FifoQueue", "false") == ("true" if queue is fifo else "false")
    assert fifo.dead_letter_name == parsed.queue_prefix + "orders-dead-letters.fifo"


def test_provisioning_again_keeps_the_queues_and_applies_the_new_receive_count(
    sqs: Any, settings: dict[str, str]
) -> None:
    """A second start finds the queues made by the first and updates their redrive policy."""
    [first] = provision_queues(sqs, parse_settings(settings), ["mail"])
    again = parse_settings({**settings, "elasticjobs.max_receive_count": "7"})

    [second] = provision_queues(sqs, again, ["mail"])

    attributes = sqs.get_queue_attributes(QueueUrl=second.url, AttributeNames=["RedrivePolicy"])
    assert (second.url, second.dead_letter_url) == (first.url, first.dead_letter_url)
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] in (7, "7")


def test_a_started_stack_serves_the_app_and_knows_its_queues(stack: DevStack) -> None:
    """After start the app listens on loopback and every app queue has a daemon and a DLQ."""
    host, port = stack.app_url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert [queue.name for queue in stack.queues] == ["default", "other"]
    assert all(queue.max_receive_count == MAX_RECEIVE_COUNT for queue in stack.queues)
    assert stack.sqs_endpoint is not None
    assert stack.sqs_endpoint.startswith("http://127.0.0.1:")


def test_stop_closes_the_app_and_the_embedded_sqs(make_stack: Callable[..., DevStack]) -> None:
    """After stop nothing listens any more, and stopping again is harmless."""
    stack = make_stack()
    addresses = [_address(stack.app_url), _address(stack.sqs_endpoint or "")]

    stack.stop()
    stack.stop()

    for address in addresses:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=5).close()


def test_a_busy_app_port_is_a_clear_error_and_nothing_is_left_running(
    stack_settings: dict[str, str],
) -> None:
    """When waitress cannot listen, start raises and stops the SQS it had started."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        stack = DevStack(
            stack_settings,
            app_factory=build_test_app(stack_settings),
            port=busy.getsockname()[1],
        )
        with pytest.raises(ConfigurationError, match="cannot serve the application"):
            stack.start()
    assert stack.sqs is None
    assert stack.daemons == {}


def test_an_app_built_beforehand_cannot_use_an_sqs_on_any_free_port(
    stack_settings: dict[str, str],
) -> None:
    """Port 0 is only known once moto listens, too late for an app that already exists."""
    app = build_test_app(stack_settings)({})
    with pytest.raises(ConfigurationError, match="app_factory"):
        DevStack(stack_settings, app=app)


def test_an_environment_override_hiding_the_embedded_sqs_is_an_error(
    stack_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ELASTICJOBS_ENDPOINT_URL beats the ini, so the app would miss the embedded SQS."""
    monkeypatch.setenv("ELASTICJOBS_ENDPOINT_URL", "http://127.0.0.1:0")
    stack = DevStack(stack_settings, app_factory=build_test_app(stack_settings))

    with pytest.raises(ConfigurationError, match="ELASTICJOBS_ENDPOINT_URL"):
        stack.start()
    assert stack.sqs is None


def test_no_embedded_sqs_uses_the_server_at_the_endpoint(
    sqs_endpoint: str, stack_settings: dict[str, str]
) -> None:
    """With embedded_sqs=False the stack works against the SQS server already listening."""
    settings = {**stack_settings, "elasticjobs.endpoint_url": sqs_endpoint}
    stack = DevStack(
        settings,
        app_factory=build_test_app(settings),
        embedded_sqs=False,
        daemon_overrides=DAEMON_OPTIONS,
    )
    with stack:
        assert stack.sqs is None
        assert stack.sqs_endpoint == sqs_endpoint
        assert stack.queues[0].url.startswith(sqs_endpoint)


def test_no_embedded_sqs_with_port_zero_is_an_error(stack_settings: dict[str, str]) -> None:
    """Port 0 means "start one", which contradicts embedded_sqs=False."""
    with pytest.raises(ConfigurationError, match="port of the SQS server"):
        DevStack(stack_settings, app_factory=build_test_app(stack_settings), embedded_sqs=False)


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def test_the_app_runs_jobs_without_remote_addr_is_client_in_its_settings(
    make_stack: Callable[..., DevStack], stack_settings: dict[str, str]
) -> None:
    """The stack tells the app its peer is the real client: nothing proxies to waitress."""
    del stack_settings["elasticjobs.remote_addr_is_client"]
    stack = make_stack()
    runs = ledger_of(stack.registry)

    get_client(stack.registry).enqueue(work, n=7)

    wait_for(lambda: runs.runs("work"), TIMEOUT, "the job to run")
    assert [run.n for run in runs.runs("work")] == [7]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:6543",
        "localhost",
        "LOCALHOST:80",
        "[::1]:8080",
        "[::1]",
        "[0:0:0:0:0:0:0:1]:80",
    ],
)
def test_both_servers_answer_loopback_host_names_on_any_port(stack: DevStack, host: str) -> None:
    """The names a browser on this machine uses pass the Host check."""
    app_status, _ = get(stack.app_url + "/", host=host)
    sqs_status, _ = get(stack.sqs_endpoint or "", host=host)

    assert REFUSED not in (app_status, sqs_status)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:6543",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "[::2]",
        "",
    ],
)
def test_both_servers_refuse_other_host_names_with_a_one_line_reason(
    stack: DevStack, host: str
) -> None:
    """A page that rebinds its name to 127.0.0.1 gets a 421, whatever it asks for."""
    app_status, app_body = get(stack.app_url + "/", host=host)
    sqs_status, sqs_body = get(stack.sqs_endpoint or "", host=host)

    assert (app_status, sqs_status) == (REFUSED, REFUSED)
    for body in (app_body, sqs_body):
        [line] = body.splitlines()
        assert f"Host {host!r}" in line
        assert "--allow-host" in line


def test_allowed_hosts_are_answered_too(make_stack: Callable[..., DevStack]) -> None:
    """A name given in allowed_hosts passes, any port; the loopback names still do."""
    stack = make_stack(allowed_hosts=["myapp.test"])

    statuses = [get(stack.app_url + "/", host=host)[0] for host in ("myapp.test:8080", "localhost")]

    assert REFUSED not in statuses
    assert get(stack.app_url + "/", host="other.test")[0] == REFUSED


@pytest.mark.parametrize("value", ["myapp.test:8080", "http://myapp.test", "my app"])
def test_an_allowed_host_must_be_a_bare_host_name(
    stack_settings: dict[str, str], value: str
) -> None:
    """Ports and URLs are refused with the form to use instead."""
    with pytest.raises(ConfigurationError, match="is not a host name or IP address; give one"):
        DevStack(stack_settings, app_factory=build_test_app(stack_settings), allowed_hosts=[value])


def test_waitress_has_a_thread_for_every_daemon_connection(
    make_stack: Callable[..., DevStack], caplog: pytest.LogCaptureFixture
) -> None:
    """Twenty jobs at once on two daemons of ten connections: no request waits for a thread."""
    stack = make_stack()
    jobs = get_client(stack.registry)
    jobs.enqueue_many(work, [{"n": n, "seconds": 1.0} for n in range(10)])
    jobs.enqueue_many(elsewhere, [{"n": n, "seconds": 1.0} for n in range(10)])

    runs = ledger_of(stack.registry)
    wait_for(lambda: len(runs.runs()) == 20, TIMEOUT, "the twenty jobs to run")

    queued = [record for record in caplog.records if record.name == "waitress.queue"]
    assert queued == []


def test_a_cron_path_beside_the_settings_is_checked_before_the_daemons_start(
    make_stack: Callable[..., DevStack], tmp_path: Path
) -> None:
    """elasticjobs.sqsd.cron_path naming a job that does not exist: a ConfigurationError."""
    cron = tmp_path / "cron.yaml"
    cron.write_text(
        'version: 1\ncron:\n  - name: "nightly"\n    url: "/periodic_tasks"\n'
        '    schedule: "0 1 * * *"\n',
        encoding="utf-8",
    )

    with pytest.raises(ConfigurationError, match=r"entry 'nightly': no job is named 'nightly'"):
        make_stack(**{"elasticjobs.sqsd.cron_path": str(cron)})


def test_an_unreadable_cron_path_names_the_setting_to_fix(
    make_stack: Callable[..., DevStack], tmp_path: Path
) -> None:
    """Not the daemon's --cron option, which elasticjobs dev does not have."""
    missing = tmp_path / "nowhere" / "cron.yaml"

    with pytest.raises(ConfigurationError) as raised:
        make_stack(**{"elasticjobs.sqsd.cron_path": str(missing)})

    assert "fix elasticjobs.sqsd.cron_path" in str(raised.value)
    assert "--cron" not in str(raised.value)


def test_the_allowed_hosts_setting_adds_names_without_an_unknown_key_warning(
    make_stack: Callable[..., DevStack], caplog: pytest.LogCaptureFixture
) -> None:
    """elasticjobs.dev.allowed_hosts belongs to the dev stack: the app does not warn about it."""
    stack = make_stack(**{"elasticjobs.dev.allowed_hosts": "myapp.test, other.test"})

    statuses = [get(stack.app_url + "/", host=host)[0] for host in ("myapp.test", "other.test")]

    assert REFUSED not in statuses
    assert "elasticjobs.dev.allowed_hosts" not in caplog.text
