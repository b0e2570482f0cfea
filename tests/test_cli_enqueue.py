"""``elasticjobs enqueue``: one job validated, signed and sent to moto, or the field errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyramid_elasticjobs.cli import main
from pyramid_elasticjobs.envelope import Envelope
from pyramid_elasticjobs.protocol import SIGNATURE_ATTRIBUTE
from pyramid_elasticjobs.signing import Signer

from .cli_support import base_settings, run_cli, write_ini
from .support import SECRET, queue_depths, receive


@pytest.fixture
def ini(tmp_path: Path, sqs_endpoint: str, queue_prefix: str) -> Path:
    return write_ini(tmp_path, base_settings(sqs_endpoint, queue_prefix))


@pytest.fixture
def images(make_queue: Any) -> str:
    make_queue("default")
    url: str = make_queue("images")
    return url


def test_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names JOB, --args, --delay, --queue, --json and the exit statuses."""
    with pytest.raises(SystemExit) as exited:
        main(["enqueue", "--help"])

    text = capsys.readouterr().out
    assert exited.value.code == 0
    for expected in ("JOB", "--args", "--delay", "--queue", "--json", "Exit status"):
        assert expected in text


def test_a_job_is_sent_signed_and_its_ids_printed(ini: Path, images: str, sqs: Any) -> None:
    """The real command: the message carries the job, its loaded-and-dumped args, a signature."""
    result = run_cli("enqueue", str(ini), "resize_image", "--args", '{"image_id": 5}')

    assert result.returncode == 0, result.stderr
    message = receive(sqs, images)
    envelope = Envelope.from_json(message["Body"].encode())
    assert (envelope.name, envelope.arguments) == ("resize_image", {"image_id": 5, "width": 800})
    assert f"job id {envelope.job_id}" in result.stdout
    assert f"message id {message['MessageId']}" in result.stdout
    signature = message["MessageAttributes"][SIGNATURE_ATTRIBUTE]["StringValue"]
    assert Signer((SECRET,)).verify(message["Body"].encode(), signature)


def test_invalid_arguments_exit_1_with_each_fields_errors(
    ini: Path, images: str, sqs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is sent; each field's problem is printed."""
    status = main(["enqueue", str(ini), "resize_image", "--args", '{"width": "wide"}'])

    output = capsys.readouterr().out
    assert status == 1
    assert "image_id: Missing data for required field." in output
    assert "width: Not a valid integer." in output
    assert queue_depths(sqs, images) == (0, 0)


def test_json_output_for_scripts(
    ini: Path, images: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints the job id, message id and queues."""
    assert main(["enqueue", str(ini), "noop", "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    assert result["job"] == "noop"
    assert result["queue"] == "default"
    assert result["job_id"]
    assert result["message_id"]


def test_delay_postpones_the_message(ini: Path, images: str, sqs: Any) -> None:
    """--delay becomes SQS's DelaySeconds."""
    assert (
        main(["enqueue", str(ini), "resize_image", "--args", '{"image_id": 1}', "--delay", "60"])
        == 0
    )

    assert queue_depths(sqs, images) == (0, 1)


def test_queue_sends_elsewhere(ini: Path, images: str, make_queue: Any, sqs: Any) -> None:
    """--queue overrides the job's queue (with the prefix), leaving the registry as it was."""
    other = make_queue("other")

    assert (
        main(["enqueue", str(ini), "resize_image", "--args", '{"image_id": 2}', "--queue", "other"])
        == 0
    )

    assert Envelope.from_json(receive(sqs, other)["Body"].encode()).queue == "other"
    assert queue_depths(sqs, images) == (0, 0)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["nope"], "no job named 'nope' is registered"),
        (["noop", "--args", "{bad"], "--args is not JSON"),
        (["noop", "--args", "[1]"], "must be a JSON object"),
    ],
    ids=["unknown-job", "bad-json", "not-an-object"],
)
def test_usage_errors_exit_2(
    ini: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    """An unknown job or unreadable --args: exit 2 with the fix."""
    status = main(["enqueue", str(ini), *arguments])

    assert status == 2
    assert expected in capsys.readouterr().err


def test_a_missing_queue_exits_1(ini: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SQS has no such queue: exit 1, naming the queue to create."""
    status = main(["enqueue", str(ini), "noop"])

    assert status == 1
    assert "does not exist" in capsys.readouterr().err
