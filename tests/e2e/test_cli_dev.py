"""``elasticjobs dev``: its options, its start-up table, and a graceful stop under load."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.cli import main
from pyramid_elasticjobs.cli.dev import describe, format_table, server_port
from pyramid_elasticjobs.devstack import DevStack
from tests.support import REGION, SECRET

from . import app as e2e_app
from .jobs import FIRST_ATTEMPT, NEVER, work
from .support import (
    DEVELOPMENT_INI,
    ROOT,
    TIMEOUT,
    Browser,
    DevProcess,
    depth,
    drain,
    get,
    job_numbers,
    wait_for,
    write_ini,
)


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names the config argument, every option and how it stops."""
    with pytest.raises(SystemExit) as exited:
        main(["dev", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in (
        "CONFIG_URI",
        "--host",
        "--port",
        "--allow-host",
        "--no-embedded-sqs",
        "SIGTERM",
        "cron.yaml next to the ini",
    ):
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
    status = main(["dev", str(DEVELOPMENT_INI), "--host", "0.0.0.0"])

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

    assert ("application", stack.app_url + "/", "waitress, 24 threads") in rows
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


def test_the_demo_starts_on_loopback_and_sigint_stops_it_with_status_0(
    run_dev: Callable[..., DevProcess],
) -> None:
    """development.ini as it ships, with no AWS credentials at all: page served, Ctrl-C exits 0."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    dev = run_dev(str(DEVELOPMENT_INI), "--port", "0", env=env)
    url = dev.wait_until_ready()

    assert url.startswith("http://127.0.0.1:")
    assert "pyramid_elasticjobs" in Browser(url).get("/")
    assert dev.stop(signal.SIGINT) == 0
    assert dev.lines[-1] == "elasticjobs dev: stopped"


def test_sigterm_during_load_loses_no_job(
    run_dev: Callable[..., DevProcess], tmp_path: Path, outside_sqs: str, queue_prefix: str
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


# -- start-up errors: one line, status 2 -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "module", "extra"),
    [
        ("dev", "yaml", "local"),
        ("dev", "moto", "local"),
        ("dev", "waitress", "local"),
        ("dev", "croniter", "local"),
        ("sqsd", "yaml", "local"),
    ],
)
def test_a_missing_extra_is_a_one_line_error_saying_what_to_install(
    command: str, module: str, extra: str
) -> None:
    """Without the 'local' extra, the command names the missing module and the pip command."""
    hide = f"import sys; sys.modules[{module!r}] = None; "  # import then fails as if absent
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            hide + "from pyramid_elasticjobs.cli import main; sys.exit(main())",
            command,
            str(DEVELOPMENT_INI),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"elasticjobs {command}: error: ")
    assert repr(module) in line
    assert f"pip install 'pyramid_elasticjobs[{extra}]'" in line


def test_a_busy_sqs_port_is_a_start_up_error_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], queue_prefix: str
) -> None:
    """The CLI reports the taken port itself, instead of werkzeug printing and exiting 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ini = write_ini(
            tmp_path / "app.ini",
            {
                "elasticjobs.secret": SECRET,
                "elasticjobs.aws_region": REGION,
                "elasticjobs.endpoint_url": f"http://127.0.0.1:{port}",
                "elasticjobs.queue_prefix": queue_prefix,
            },
        )

        status = main(["dev", str(ini), "--port", "0"])

    [line] = capsys.readouterr().err.splitlines()
    assert status == 2
    assert line.startswith(
        f"elasticjobs dev: error: cannot run the embedded SQS on 127.0.0.1:{port}"
    )
    assert "elasticjobs.endpoint_url" in line


def test_a_region_moto_does_not_know_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], queue_prefix: str
) -> None:
    """us-east-11 is refused before moto answers it with 500s and long tracebacks."""
    ini = write_ini(
        tmp_path / "app.ini",
        {
            "elasticjobs.secret": SECRET,
            "elasticjobs.aws_region": "us-east-11",
            "elasticjobs.endpoint_url": "http://127.0.0.1:0",
            "elasticjobs.queue_prefix": queue_prefix,
        },
    )

    status = main(["dev", str(ini), "--port", "0"])

    [line] = capsys.readouterr().err.splitlines()
    assert status == 2
    assert line.startswith("elasticjobs dev: error: elasticjobs.aws_region = 'us-east-11' ")
    assert "us-east-1" in line


# -- cron.yaml ---------------------------------------------------------------------------


def _cron_yaml(*entries: tuple[str, str]) -> str:
    lines = ["version: 1", "cron:"]
    for name, url in entries:
        lines += [f'  - name: "{name}"', f'    url: "{url}"', '    schedule: "0 12 * * *"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def test_app_ini(tmp_path: Path, queue_prefix: str) -> Path:
    """An ini for the test app on an embedded SQS, in a directory of its own."""
    return write_ini(
        tmp_path / "app.ini",
        {
            "elasticjobs.secret": SECRET,
            "elasticjobs.aws_region": REGION,
            "elasticjobs.endpoint_url": "http://127.0.0.1:0",
            "elasticjobs.queue_prefix": queue_prefix,
            "elasticjobs.process_jobs": "true",
            "elasticjobs.sqsd.summary_interval": "0",
        },
    )


def test_a_cron_yaml_next_to_the_ini_file_is_used(
    run_dev: Callable[..., DevProcess], test_app_ini: Path
) -> None:
    """As on Elastic Beanstalk, where cron.yaml sits at the root of the bundle."""
    cron = test_app_ini.parent / "cron.yaml"
    cron.write_text(_cron_yaml(("tick", "/periodic_tasks")), encoding="utf-8")

    dev = run_dev(str(test_app_ini), "--port", "0")
    dev.wait_until_ready()

    assert dev.table_value("cron") == "tick"
    assert dev.table_value("cron.yaml") == str(cron)
    assert dev.stop(signal.SIGTERM) == 0


def test_a_cron_entry_that_would_fail_stops_the_start_with_status_2(
    run_dev: Callable[..., DevProcess], test_app_ini: Path
) -> None:
    """A typo'd name, a job not declared periodic and a wrong url are each named with a fix."""
    cron = test_app_ini.parent / "cron.yaml"
    cron.write_text(
        _cron_yaml(("tick", "/periodic_tasks"), ("tik", "/periodic_tasks"), ("work", "/tasks")),
        encoding="utf-8",
    )

    dev = run_dev(str(test_app_ini), "--port", "0")
    status = dev.wait()

    errors = dev.stderr().split("elasticjobs dev: error: ", 1)[1].splitlines()
    assert status == 2
    assert errors[0].startswith(f"3 problem(s) in {cron} ")
    assert [line.split(": ")[1] for line in errors[1:]] == [
        "entry 'tik'",
        "entry 'work'",
        "entry 'work'",
    ]
    assert "did you mean 'tick'?" in errors[1]
    assert "@job(periodic=True)" in errors[2]
    assert "'url: /periodic_tasks'" in errors[3]


# -- hosts ---------------------------------------------------------------------------------


def test_allow_host_adds_a_host_name_the_demo_answers(
    run_dev: Callable[..., DevProcess],
) -> None:
    """With --allow-host myapp.test the page is served for that Host; other names get a 421."""
    dev = run_dev(str(DEVELOPMENT_INI), "--port", "0", "--allow-host", "myapp.test")
    url = dev.wait_until_ready()

    allowed_status, page = get(url, host="myapp.test:80")
    refused_status, refusal = get(url, host="other.test")

    assert (allowed_status, refused_status) == (200, 421)
    assert "pyramid_elasticjobs" in page
    assert "--allow-host other.test" in refusal
    assert dev.stop(signal.SIGINT) == 0


# -- stopping ------------------------------------------------------------------------------

#: Long enough that only a stop that waits for a running job or a long poll reaches it.
STOP_PATIENCE = 10.0


def test_one_sigint_stops_at_once_even_during_20_second_long_polls(
    run_dev: Callable[..., DevProcess], test_app_ini: Path
) -> None:
    """The daemons' waiting polls are released: 'stopping', then 'stopped', then status 0."""
    with test_app_ini.open("a", encoding="utf-8") as ini:
        ini.write("elasticjobs.sqsd.wait_time_seconds = 20\n")
    dev = run_dev(str(test_app_ini), "--port", "0")
    dev.wait_until_ready()

    status = dev.stop(signal.SIGINT, patience=STOP_PATIENCE)

    assert status == 0
    stopping = dev.lines.index("elasticjobs dev: stopping (running jobs may finish)...")
    assert dev.lines[stopping + 1 :] == ["elasticjobs dev: stopped"]


def test_a_second_signal_exits_at_once_with_status_1_and_frees_the_port(
    run_dev: Callable[..., DevProcess], test_app_ini: Path, tmp_path: Path, queue_prefix: str
) -> None:
    """While a job keeps the graceful stop waiting, a second SIGINT ends the process."""
    started = tmp_path / "started.txt"
    with test_app_ini.open("a", encoding="utf-8") as ini:
        ini.write(f"e2e.started_path = {started}\n")
    dev = run_dev(str(test_app_ini), "--port", "0")
    url = dev.wait_until_ready()
    app = e2e_app.main(
        {},
        **{
            "elasticjobs.secret": SECRET,
            "elasticjobs.aws_region": REGION,
            "elasticjobs.endpoint_url": dev.table_value("SQS"),
            "elasticjobs.queue_prefix": queue_prefix,
        },
    )
    get_client(app.registry).enqueue(work, n=1, seconds=3600)
    wait_for(started.exists, TIMEOUT, "the hour-long job to start")
    dev.process.send_signal(signal.SIGINT)
    wait_for(lambda: "stopping" in dev.stderr(), TIMEOUT, "the graceful stop to begin")

    status = dev.stop(signal.SIGINT, patience=STOP_PATIENCE)

    assert status == 1
    assert "exiting at once" in dev.stderr()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(url.rpartition(":")[2])), timeout=5).close()
