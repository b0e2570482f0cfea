"""The enqueue side: its CPU cost without the network (c), and batching against moto (d)."""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from moto.sqs.models import Queue

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.runtime import get_runtime
from pyramid_elasticjobs.transport import OutgoingMessage

from . import apps, jobs
from .common import SECRET, Goal, Result, interleave, local_sqs, timed_result

Call = Callable[[], object]


def _no_network(queue: str, message: OutgoingMessage) -> tuple[str, str]:
    """Stands in for ``SQSTransport.send``: SQS's answer, without asking SQS."""
    return "00000000-0000-0000-0000-000000000000", f"local://{queue}"


def enqueue_pair() -> tuple[Call, Call]:
    """(c) ``enqueue`` with the transport's send stubbed, and the same work written by hand."""
    app = apps.with_include()
    # The boundary: validation, envelope, signature and size check all run; only the
    # SendMessage call (boto3 request building, HTTP, SQS) is replaced.
    get_runtime(app.registry).transport.send = _no_network  # type: ignore[method-assign]
    client = get_client(app.registry)

    def ours() -> object:
        return client.enqueue(jobs.resize_image, image_id=5)

    schema = jobs.ResizeImage()
    key = SECRET.encode()

    def by_hand() -> object:
        arguments = schema.dump(schema.load({"image_id": 5}))
        # The same envelope fields, so both sides serialise the same document.
        body = json.dumps(
            {
                "v": 1,
                "job": "resize_image",
                "id": uuid.uuid4().hex,
                "queue": "images",
                "args": arguments,
                "enqueued_at": datetime.now(UTC).isoformat(),
                "run_at": None,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        return hmac.new(key, body, hashlib.sha256).hexdigest()

    return ours, by_hand


def measure_enqueue(rounds: int, seconds: float) -> Result:
    ours, by_hand = enqueue_pair()
    return timed_result(
        "enqueue",
        "(c) enqueue CPU (send stubbed) vs by hand",
        ours,
        by_hand,
        goal=Goal(1.5),
        rounds=rounds,
        seconds_per_round=seconds,
    )


@contextmanager
def constant_time_sends() -> Iterator[None]:
    """Make moto's SendMessage cost independent of the queue's length, as SQS's is.

    moto 5.2 computes the queue's approximate message counts (a scan of every stored
    message) on each SendMessage, so 1,000 sends into one queue cost O(n^2) and moto,
    not the client, would dominate both sides. Only GetQueueAttributes reports them.
    """
    with ExitStack() as stack:
        for counter in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible",
        ):
            stack.enter_context(mock.patch.object(Queue, counter, property(lambda queue: 0)))
        yield


def measure_batch(rounds: int, count: int) -> list[Result]:
    """(d) ``enqueue_many`` of ``count`` jobs vs ``count`` ``enqueue`` calls, through moto.

    Two rows from the same rounds: elapsed time (what "faster" means), and the CPU of
    client and moto together (moto runs in this process), which load elsewhere on the
    machine does not inflate.
    """
    with constant_time_sends(), local_sqs("images") as (endpoint, _):
        client = get_client(apps.with_include(endpoint).registry)
        # Creates the boto3 client, resolves the queue URL, opens the connection pool.
        client.enqueue(jobs.resize_image, image_id=0)
        arguments: list[dict[str, Any]] = [{"image_id": index} for index in range(count)]

        def one_call() -> object:
            return client.enqueue_many(jobs.resize_image, arguments)

        def one_by_one() -> object:
            return [client.enqueue(jobs.resize_image, **entry) for entry in arguments]

        many, single = interleave(one_call, one_by_one, rounds=rounds, iterations=1)
    title = f"(d) enqueue_many({count:,}) vs {count:,} x enqueue, moto"
    results = []
    for clock, label in (("wall", "elapsed"), ("cpu", "CPU")):
        ours = [getattr(timing, clock) for timing in many]
        baseline = [getattr(timing, clock) for timing in single]
        results.append(
            Result(
                "batch" if clock == "wall" else "batch-cpu",
                f"{title}, {label}",
                "ms",
                statistics.median(ours) * 1e3,
                statistics.median(baseline) * 1e3,
                [b / o for o, b in zip(ours, baseline, strict=True)],
                Goal(5, at_least=True),
                [f"{rounds} rounds, {label} time; ratio = speed-up of enqueue_many"],
            )
        )
    return results
