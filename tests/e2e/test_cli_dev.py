"""``elasticjobs dev``: its options, its start-up table, and a graceful stop under load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.cli import main
from pyramid_elasticjobs.cli.dev import describe, format_table, server_port
from pyramid_elasticjobs.devstack import DevStack
from pyramid_elasticjobs.devstack.embedded_sqs import EmbeddedSQS
from tests.support import REGION, SECRET

from . import app as e2e_app
from .jobs import FIRST_ATTEMPT, NEVER, work
from .support import Browser, depth, drain, job_numbers, wait_for

ROOT = Path(__file__).resolve().parents[2]
READY = "Ctrl-C stops everything."
TIMEOUT = 60.0


class DevProcess:
    """``elasticjobs dev`` in a subprocess, its standard output collected line by line."""

    def __init__(
        self, *arguments: str, stderr_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.lines: list[str] = []
        self._stderr = stderr_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from pyramid_elasticjobs.cli import main; sys.exit(main())",
                "dev",
                *arguments,
            ],
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
        assert READY in self.lines, self.lines
        [url] = [line.split()[1] for line in self.lines if line.split()[:1] == ["application"]]
        return url

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        status = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        return status

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


@pytest.fixture
def run_dev(tmp_path: Path) -> Iterator[Any]:
    started: list[DevProcess] = []

    def run_dev(*arguments: str, env: dict[str, str] | None = None) -> DevProcess:
        log = tmp_path / f"stderr-{len(started)}.log"
        process = DevProcess(*arguments, stderr_path=log, env=env)
        started.append(process)
        return process

    yield run_dev
    for process in started:
        process.close()


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names the config argument, every option and how it stops."""
    with pytest.raises(SystemExit) as exited:
        main(["dev", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in ("CONFIG_URI", "--host", "--port", "--no-embedded-sqs", "SIGTERM"):
        assert expected in text


def test_a_missing_config_file_exits_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error names the file and what to give instead."""
    status = main(["dev", str(tmp_path / "missing.ini")])

    assert status == 2
    assert "missing.ini' not found" in capsys.readouterr().err


def test_a_non_loopback_host_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    """The local stack never listens beyond loopback."""
    status = main(["dev", str(ROOT / "development.ini"), "--host", "0.0.0.0"])

    assert status == 2
    assert "loopback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("server_section", "expected"),
    [
        ("[server:main]\nuse = egg:waitress#main\nlisten = 127.0.0.1:6000\n", 6000),
        ("[server:main]\nuse = egg:waitress#main\nlisten = *:7000 [::]:7000\n", 7000),
        ("[server:main]\nuse = egg:waitress#main\nport = 8080\n", 8080),
        ("", 6543),
    ],
)
def test_the_default_port_is_the_one_of_server_main(
    tmp_path: Path, server_section: str, expected: int
) -> None:
    """Without --port, the app listens where pserve would serve it."""
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:tests.e2e.app:main\n" + server_section, encoding="utf-8")

    assert server_port(str(ini)) == expected


def test_an_application_configuration_error_exits_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The app's own message (here: no secret) is shown, without Pyramid's wrapping."""
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[app:main]\nuse = call:tests.e2e.app:main\nelasticjobs.aws_region = us-east-1\n"
        "elasticjobs.endpoint_url = http://127.0.0.1:0\n",
        encoding="utf-8",
    )

    status = main(["dev", str(ini), "--port", "0"])

    assert status == 2
    assert capsys.readouterr().err.startswith("elasticjobs dev: error: elasticjobs.secret ")


def test_an_unknown_app_section_exits_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CONFIG_URI#name must name an app section of the file."""
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = call:tests.e2e.app:main\n", encoding="utf-8")

    status = main(["dev", f"{ini}#other", "--port", "0"])

    assert status == 2
    assert "No section 'other'" in capsys.readouterr().err


def test_the_start_up_table_lists_what_runs_where_in_aligned_columns(stack: DevStack) -> None:
    """App, SQS, each queue with its DLQ and each daemon appear, their columns aligned."""
    rows = describe(stack, "test.ini")
    lines = format_table(rows).splitlines()[1:-1]

    assert ("application", stack.app_url + "/", "") in rows
    for queue in stack.queues:
        assert ("queue", queue.sqs_name, queue.url) in rows
        assert queue.dead_letter_name in [name for what, name, _ in rows if what == "dead letters"]
    assert [name for what, name, _ in rows if what == "daemon"] == ["default", "other"]
    name_starts = {
        line.index(name, len(what) + 2) for (what, name, _), line in zip(rows, lines, strict=True)
    }
    where_starts = {
        len(line) - len(where) for (_, _, where), line in zip(rows, lines, strict=True) if where
    }
    assert (len(name_starts), len(where_starts)) == (1, 1), lines


def test_the_demo_starts_on_loopback_and_sigint_stops_it_with_status_0(run_dev: Any) -> None:
    """development.ini as it ships, with no AWS credentials at all: page served, Ctrl-C exits 0."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    dev = run_dev(str(ROOT / "development.ini"), "--port", "0", env=env)
    url = dev.wait_until_ready()

    assert url.startswith("http://127.0.0.1:")
    assert "pyramid_elasticjobs" in Browser(url.rstrip("/")).get("/")
    assert dev.stop(signal.SIGINT) == 0
    assert dev.lines[-1] == "elasticjobs dev: stopped"


@pytest.fixture
def outside_sqs() -> Iterator[str]:
    """An SQS server in the test process, which outlives the stack under test."""
    server = EmbeddedSQS("127.0.0.1", 0)
    yield server.url
    server.stop()


def test_sigterm_during_load_loses_no_job(
    run_dev: Any, tmp_path: Path, outside_sqs: str, queue_prefix: str
) -> None:
    """Every job enqueued ran, or is back in its queue (or DLQ), and the exit status is 0."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=outside_sqs)
    ledger_path = tmp_path / "ledger.jsonl"
    settings = {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.endpoint_url": outside_sqs,
        "elasticjobs.queue_prefix": queue_prefix,
        "elasticjobs.max_receive_count": "3",
    }
    ini = tmp_path / "load.ini"
    ini.write_text(
        "[app:main]\nuse = call:tests.e2e.app:main\n"
        + "".join(f"{key} = {value}\n" for key, value in settings.items())
        + "elasticjobs.process_jobs = true\n"
        f"e2e.ledger_path = {ledger_path}\n"
        "elasticjobs.sqsd.http_connections = 5\n"
        "elasticjobs.sqsd.wait_time_seconds = 1\n"
        "elasticjobs.sqsd.error_visibility_timeout = 1\n",
        encoding="utf-8",
    )
    dev = run_dev(str(ini), "--port", "0", "--no-embedded-sqs")
    dev.wait_until_ready()
    count = 300
    jobs = get_client(e2e_app.main({}, **settings).registry)
    jobs.enqueue_many(
        work,
        [
            {"n": n, "seconds": 0.05, "fails": FIRST_ATTEMPT if n % 10 == 0 else NEVER}
            for n in range(count)
        ],
    )

    def ran() -> set[int]:
        if not ledger_path.exists():
            return set()
        lines = ledger_path.read_text(encoding="utf-8").splitlines()
        return {run["n"] for run in map(json.loads, lines) if run["succeeded"]}

    wait_for(lambda: len(ran()) >= 30, TIMEOUT, "30 jobs to run")
    assert dev.stop(signal.SIGTERM) == 0

    queue_url = sqs.get_queue_url(QueueName=queue_prefix + "default")["QueueUrl"]
    dead_letter_url = sqs.get_queue_url(QueueName=queue_prefix + "default-dead-letters")["QueueUrl"]
    # Messages failed just before the stop come back after the error visibility timeout.
    wait_for(
        lambda: depth(sqs, queue_url)["ApproximateNumberOfMessagesNotVisible"] == 0,
        TIMEOUT,
        "in-flight messages to become visible again",
    )
    done, waiting = ran(), set(job_numbers(drain(sqs, queue_url)))
    dead = set(job_numbers(drain(sqs, dead_letter_url)))
    assert done | waiting | dead == set(range(count))
    assert done
    assert waiting, "the stop came after the load was over: the test proves nothing"
    assert dev.lines[-1] == "elasticjobs dev: stopped"
