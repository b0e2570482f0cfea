"""``pshell development.ini``: ``jobs`` enqueues, e.g. ``jobs.enqueue(send_welcome_email, ...)``.

The ini's SQS is embedded in ``elasticjobs dev``: to reach it from pshell, start
pshell with ``ELASTICJOBS_ENDPOINT_URL`` set to the SQS URL that ``elasticjobs dev`` printed.
"""

from __future__ import annotations

from typing import Any

from pyramid_elasticjobs import get_client

from . import jobs as demo_jobs


def setup(env: dict[str, Any]) -> None:
    env["jobs"] = get_client(env["registry"])
    env["demo_jobs"] = demo_jobs
