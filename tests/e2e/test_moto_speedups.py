"""The moto speed-ups of the embedded SQS apply only to a moto they were written for."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from typing import Any

import pytest

from pyramid_elasticjobs.devstack import moto_speedups

from .support import ROOT, TIMEOUT


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: the speed-ups patch moto for a whole process."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _copy_without(owner: Any, attribute: str) -> types.SimpleNamespace:
    names = (name for name in dir(owner) if name != attribute and not name.startswith("__"))
    return types.SimpleNamespace(**{name: getattr(owner, name) for name in names})


@pytest.mark.parametrize("version", ["5.2.0", "5.2.5", "5.2.10.dev3"])
def test_the_known_moto_series_is_accepted(version: str) -> None:
    """Any release of a series the speed-ups were written against."""
    assert moto_speedups.version_problem(version) is None


@pytest.mark.parametrize("version", ["5.3.0", "6.0.0", "5.1.9", "4.2.14", "unknown"])
def test_another_moto_version_is_refused(version: str) -> None:
    """A newer or older series may have moved what the speed-ups replace."""
    problem = moto_speedups.version_problem(version)

    assert problem is not None
    assert version in problem
    assert "5.2.x" in problem


def test_the_installed_moto_is_one_the_speed_ups_apply_to() -> None:
    """Else the embedded SQS of this very checkout would run without them."""
    result = _python(
        "import moto, moto.sqs.models as models, moto.core.utils as utils\n"
        "from pyramid_elasticjobs.devstack import moto_speedups as speedups\n"
        "print(speedups.version_problem(moto.__version__), "
        "speedups.missing_attributes(models, utils), speedups.apply())\n"
    )

    assert result.stdout.split() == ["None", "[]", "True"], result.stderr


@pytest.mark.parametrize(("owner", "attribute"), moto_speedups.REQUIRED)
def test_each_attribute_the_speed_ups_touch_is_checked(owner: str, attribute: str) -> None:
    """A moto whose module, class or instances lack one of them is reported, naming it."""
    models = importlib.import_module("moto.sqs.models")
    owners = moto_speedups.probe_owners(models)
    owners[owner] = _copy_without(owners[owner], attribute)
    core_utils = types.SimpleNamespace(unix_time_millis=models.unix_time_millis)

    missing = moto_speedups.missing_from(owners, core_utils)

    assert missing == [f"moto.sqs.models.{owner}.{attribute}"]


def test_an_unknown_moto_is_left_alone_and_the_embedded_sqs_still_works() -> None:
    """With a warning naming the version, SQS runs on plain moto: a queue round trip works."""
    result = _python(
        "import logging, os, boto3, moto, moto.sqs.models as models, moto.core.utils as utils\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "os.environ.update(AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x')\n"
        "moto.__version__ = '5.3.0'\n"
        "from pyramid_elasticjobs.devstack.embedded_sqs import EmbeddedSQS\n"
        "sqs = EmbeddedSQS('127.0.0.1', 0)\n"
        "client = boto3.client('sqs', region_name='us-east-1', endpoint_url=sqs.url)\n"
        "url = client.create_queue(QueueName='q')['QueueUrl']\n"
        "client.send_message(QueueUrl=url, MessageBody='hello')\n"
        "[message] = client.receive_message(QueueUrl=url)['Messages']\n"
        "sqs.stop()\n"
        "print(message['Body'], models.unix_time_millis is utils.unix_time_millis)\n"
    )

    assert result.stdout.split() == ["hello", "True"], result.stderr
    [warning] = result.stderr.splitlines()
    assert "plain moto" in warning
    assert "moto 5.3.0" in warning
