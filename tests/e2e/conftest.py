"""A whole local stack per test: embedded SQS, the test app under waitress, the daemons."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.devstack import DevStack
from pyramid_elasticjobs.devstack.embedded_sqs import EmbeddedSQS
from tests.support import REGION, SECRET

from . import app as e2e_app
from .support import DAEMON_OPTIONS, MAX_RECEIVE_COUNT, DevProcess, build_test_app


@pytest.fixture
def stack_settings(queue_prefix: str) -> dict[str, str]:
    return {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.endpoint_url": "http://127.0.0.1:0",
        "elasticjobs.queue_prefix": queue_prefix,
        "elasticjobs.process_jobs": "true",
        "elasticjobs.max_receive_count": str(MAX_RECEIVE_COUNT),
        # waitress, with the daemons connecting straight to it: nothing proxies.
        "elasticjobs.remote_addr_is_client": "true",
    }


@pytest.fixture
def make_stack(stack_settings: dict[str, str]) -> Iterator[Callable[..., DevStack]]:
    """Start a DevStack serving the test app; every stack is stopped after the test."""
    stacks: list[DevStack] = []

    def make_stack(
        daemon_overrides: Mapping[str, Any] | None = None,
        allowed_hosts: Sequence[str] = (),
        **settings: str,
    ) -> DevStack:
        stack = DevStack(
            {**stack_settings, **settings},
            app_factory=build_test_app({**stack_settings, **settings}),
            daemon_overrides={**DAEMON_OPTIONS, **(daemon_overrides or {})},
            allowed_hosts=allowed_hosts,
        )
        stacks.append(stack)
        return stack.start()

    yield make_stack
    for stack in stacks:
        stack.stop()


@pytest.fixture
def stack(make_stack: Callable[..., DevStack]) -> DevStack:
    return make_stack()


@pytest.fixture
def ledger(stack: DevStack) -> e2e_app.Ledger:
    return e2e_app.ledger(stack.registry)


@pytest.fixture
def jobs(stack: DevStack) -> Any:
    """A job client of the running app (sends at once, as in a script)."""
    return get_client(stack.registry)


@pytest.fixture
def stack_sqs(stack: DevStack) -> Any:
    """A boto3 client of the stack's SQS, independent of the app's."""
    return boto3.client("sqs", region_name=REGION, endpoint_url=stack.sqs_endpoint)


@pytest.fixture
def cron_file(tmp_path: Path) -> Path:
    path = tmp_path / "cron.yaml"
    path.write_text(
        'version: 1\ncron:\n  - name: "tick"\n    url: "/periodic_tasks"\n'
        '    schedule: "0 12 * * *"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def run_dev(tmp_path: Path) -> Iterator[Callable[..., DevProcess]]:
    """Start ``elasticjobs dev`` subprocesses; any still running is killed after the test."""
    started: list[DevProcess] = []

    def run_dev(*arguments: str, env: dict[str, str] | None = None) -> DevProcess:
        log = tmp_path / f"stderr-{len(started)}.log"
        process = DevProcess(*arguments, stderr_path=log, env=env)
        started.append(process)
        return process

    yield run_dev
    for process in started:
        process.close()


@pytest.fixture
def outside_sqs() -> Iterator[str]:
    """An SQS server in the test process, which outlives the stack under test."""
    server = EmbeddedSQS("127.0.0.1", 0)
    yield server.url
    server.stop()
