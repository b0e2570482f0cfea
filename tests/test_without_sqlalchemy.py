"""The core needs no SQLAlchemy: importing it and a worker request work without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter where importing sqlalchemy or alembic raises ImportError.
SCRIPT = """
import sys

for blocked in ("sqlalchemy", "alembic"):
    sys.modules[blocked] = None  # `import sqlalchemy` now raises ImportError

from pyramid.config import Configurator
from webtest import TestApp

import pyramid_elasticjobs
from pyramid_elasticjobs.daemon.headers import daemon_headers
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.signing import signed_message
from tests.support import REGION, SECRET, make_envelope

RAN = []


def hello(ctx):
    RAN.append(ctx.job_id)


with Configurator(settings={
    "elasticjobs.secret": SECRET,
    "elasticjobs.aws_region": REGION,
    "elasticjobs.process_jobs": "true",
}) as config:
    config.include("pyramid_elasticjobs")
    config.add_job(hello)
app = config.make_wsgi_app()

envelope = make_envelope("hello")
message = signed_message(get_runtime(app.registry), envelope.to_json(), "hello")
headers = daemon_headers(
    {
        "MessageId": "m-1",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value}
            for name, value in message.attributes.items()
        },
    },
    "default",
)
response = TestApp(app).post(
    "/", message.body, headers=headers, content_type="application/json",
    extra_environ={"REMOTE_ADDR": "127.0.0.1"},
)
assert response.json == {"status": "succeeded", "job_id": envelope.job_id}, response.json
assert RAN == [envelope.job_id], RAN
loaded = sorted(n for n, m in sys.modules.items() if m is not None and n.startswith(
    ("sqlalchemy", "alembic", "pyramid_elasticjobs.audit")))
assert loaded == [], loaded
print("ok")
"""


def test_core_imports_and_runs_a_job_without_sqlalchemy() -> None:
    """With sqlalchemy and alembic unimportable, the core imports and a worker request runs."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_an_audit_url_without_sqlalchemy_says_what_to_install() -> None:
    """The check can fail: with the audit log switched on, start-up stops with one line
    naming the missing module and the extra to install."""
    script = SCRIPT.replace(
        '"elasticjobs.process_jobs": "true",',
        '"elasticjobs.process_jobs": "true", "elasticjobs.audit.url": "sqlite://",',
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"},
        check=False,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "the audit log needs 'sqlalchemy'" in last
    assert "pip install 'pyramid_elasticjobs[audit]'" in last
