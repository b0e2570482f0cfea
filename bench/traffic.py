"""The two requests the benchmarks replay: a browser's GET and a real daemon delivery."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon.headers import daemon_headers

from . import apps, jobs
from .common import QUEUE_PREFIX, local_sqs


@dataclass(frozen=True, slots=True)
class Replay:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(default=b"")


BROWSER_GET = Replay(
    "GET",
    "/",
    {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.5",
    },
)


@functools.cache
def daemon_delivery() -> Replay:
    """A no-op job really enqueued through moto and received: the POST aws-sqsd would make."""
    queue = QUEUE_PREFIX + "default"
    with local_sqs("default") as (endpoint, sqs):
        app = apps.with_include(endpoint)
        get_client(app.registry).enqueue(jobs.noop)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        (message,) = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )["Messages"]
    headers = daemon_headers(message, queue)
    # The daemon's configured MIME type; its default.
    headers["Content-Type"] = "application/json"
    return Replay("POST", "/", headers, message["Body"].encode())
