"""``elasticjobs sqsd``: help, option errors, config files, and a graceful SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs.cli import main
from tests.support import REGION

from .support import PATIENCE, RecordingApp, queue_counts, send, wait_until

ELASTICJOBS = [sys.executable, "-m", "pyramid_elasticjobs.cli"]

FLAGS = [
    "--queue",
    "--endpoint-url",
    "--region",
    "--worker-url",
    "--http-path",
    "--http-connections",
    "--connect-timeout",
    "--inactivity-timeout",
    "--visibility-timeout",
    "--error-visibility-timeout",
    "--max-retries",
    "--mime-type",
    "--cron",
    "--wait-time-seconds",
]


def test_help_describes_every_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    """--help lists each flag with its range, default and ini key, like the EB docs."""
    with pytest.raises(SystemExit) as exited:
        main(["sqsd", "--help"])

    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(flag in text for flag in FLAGS)
    assert "1-100 [ini: elasticjobs.sqsd.http_connections; default: 50]" in text
    assert "default: http://127.0.0.1:80" in text
    assert "[ini: elasticjobs.sqsd.error_visibility_timeout; default: 2]" in text
    assert "CONFIG_URI" in text


def test_the_command_is_listed_by_elasticjobs(capsys: pytest.CaptureFixture[str]) -> None:
    """`elasticjobs --help` names the sqsd subcommand."""
    with pytest.raises(SystemExit):
        main(["--help"])

    assert "sqsd" in capsys.readouterr().out


def test_the_command_line_loads_without_the_daemon_dependencies() -> None:
    """`elasticjobs --help` works without croniter and PyYAML (the `local` extra)."""
    probe = (
        "import sys; from pyramid_elasticjobs.cli import build_parser; build_parser(); "
        "print(sorted({'croniter', 'yaml'} & set(sys.modules)))"
    )

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--http-connections", "500"],
            "--http-connections or elasticjobs.sqsd.http_connections = 500 is out of range",
        ),
        (
            ["--visibility-timeout", "soon"],
            "= 'soon' is not a whole number; give a value from 0 to 43200",
        ),
        (["--worker-url", "127.0.0.1:8080"], "is not http://host:port"),
    ],
)
def test_a_bad_option_value_exits_2_with_a_message(
    arguments: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No traceback: one line saying what was wrong and what is accepted."""
    status = main(["sqsd", "--queue", "jobs", "--region", REGION, *arguments])

    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("elasticjobs sqsd: error: ")
    assert expected in error


def test_a_missing_queue_exits_2_saying_how_to_name_one(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a config file nothing names the queue: the message says how to."""
    status = main(["sqsd", "--region", REGION])

    assert status == 2
    assert "--queue or elasticjobs.sqsd.queue is not set" in capsys.readouterr().err


def test_a_queue_that_does_not_exist_exits_2(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The queue is looked up at start-up; the error says how to create or name it."""
    arguments = ["--queue", "no-such-queue", "--region", REGION, "--endpoint-url", sqs_endpoint]

    status = main(["sqsd", *arguments])

    assert status == 2
    assert "SQS queue 'no-such-queue' does not exist" in capsys.readouterr().err


def test_settings_of_a_config_file_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad elasticjobs.sqsd.* key in [app:main] is reported by its ini name."""
    ini = tmp_path / "development.ini"
    ini.write_text(
        "[app:main]\nelasticjobs.aws_region = us-east-1\nelasticjobs.sqsd.http_connections = 0\n"
    )

    status = main(["sqsd", str(ini)])

    assert status == 2
    assert "elasticjobs.sqsd.http_connections = 0 is out of range" in capsys.readouterr().err


def test_a_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The message names the file that could not be read."""
    status = main(["sqsd", str(tmp_path / "missing.ini")])

    assert status == 2
    assert "missing.ini" in capsys.readouterr().err


def test_sigterm_stops_the_command_gracefully(
    tmp_path: Path,
    sqs: Any,
    sqs_endpoint: str,
    queue_prefix: str,
    queue_url: str,
    worker_url: str,
    recording_app: RecordingApp,
) -> None:
    """Started from a config file, the command delivers, then exits 0 on SIGTERM."""
    process = _start_sqsd(tmp_path, sqs_endpoint, queue_prefix, worker_url)
    try:
        send(sqs, queue_url, "{}")
        recording_app.wait_for_requests(1)
        wait_until(lambda: queue_counts(sqs, queue_url) == (0, 0), what="the delete")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=PATIENCE)
    finally:
        process.kill()

    assert process.returncode == 0, stderr
    assert "HTTP 200 in" in stderr
    assert "sqsd stopped: received=1 delivered=1 succeeded=1" in stderr


def test_a_second_sigterm_exits_at_once(
    tmp_path: Path,
    sqs: Any,
    sqs_endpoint: str,
    queue_prefix: str,
    queue_url: str,
    worker_url: str,
    recording_app: RecordingApp,
) -> None:
    """While a request holds the graceful stop, another signal ends the command with status 1."""
    recording_app.gate.clear()
    process = _start_sqsd(tmp_path, sqs_endpoint, queue_prefix, worker_url)
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        send(sqs, queue_url, "{}")
        recording_app.wait_for_requests(1)
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: any("stopping gracefully" in line for line in lines), what="stop")
        process.send_signal(signal.SIGTERM)
        process.wait(PATIENCE)
    finally:
        process.kill()

    assert process.returncode == 1, "".join(lines)
    assert queue_counts(sqs, queue_url) == (0, 1)  # the running request keeps its message


def _start_sqsd(
    tmp_path: Path, endpoint: str, prefix: str, worker_url: str
) -> subprocess.Popen[str]:
    """`elasticjobs sqsd development.ini` in a subprocess, its stderr piped."""
    ini = tmp_path / "development.ini"
    ini.write_text(
        _INI.format(endpoint=endpoint, region=REGION, prefix=prefix, worker_url=worker_url)
    )
    return subprocess.Popen(
        [*ELASTICJOBS, "sqsd", str(ini), "--wait-time-seconds", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


_INI = """\
[app:main]
elasticjobs.aws_region = {region}
elasticjobs.endpoint_url = {endpoint}
elasticjobs.queue_prefix = {prefix}
elasticjobs.default_queue = work
elasticjobs.sqsd.worker_url = {worker_url}
elasticjobs.sqsd.summary_interval = 0

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = plain

[formatter_plain]
format = %(levelname)s %(name)s %(message)s
"""
