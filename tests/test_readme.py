"""The README's example runs as pasted: its view enqueues into SQS and its worker runs the job."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from webtest import TestApp

from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.envelope import Envelope

from .support import receive

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## In 20 lines"


def readme_example() -> str:
    """The first ``python`` block under the example's heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python block under {HEADING!r}"
    return match.group(1)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The example saved as a module of its own and imported, as a user's ``myapp`` would be."""
    path = tmp_path / "readme_example.py"
    path.write_text(readme_example(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("readme_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "readme_example", module)  # config.scan() looks it up
    spec.loader.exec_module(module)
    return module


def test_example_is_as_short_as_its_heading_says() -> None:
    """The example has at most 20 lines of code, blank lines aside."""
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 20, "\n".join(lines)


def test_example_view_enqueues_and_its_worker_runs_the_job(
    example: ModuleType,
    settings: dict[str, str],
    make_queue: Callable[..., str],
    sqs: Any,
) -> None:
    """POST /upload sends both jobs to the "images" queue; the daemon's delivery runs one."""
    queue_url = make_queue("images")
    app = example.main({}, **settings)

    assert TestApp(app).post("/upload", status=200).json == {"ok": True}

    message = receive(sqs, queue_url)
    envelope = Envelope.from_json(message["Body"].encode())
    assert (envelope.name, envelope.arguments) == ("resize_image", {"image_id": 5, "width": 800})
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # image 6, in an hour

    delivered = TestApp(app).post(
        "/",
        message["Body"],
        headers=daemon_headers(message, queue_url.rsplit("/", 1)[-1]),
        content_type="application/json",
        extra_environ={"REMOTE_ADDR": "127.0.0.1"},
        status=200,
    )
    assert delivered.json == {"status": "succeeded", "job_id": envelope.job_id}
