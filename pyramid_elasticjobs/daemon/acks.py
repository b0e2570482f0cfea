"""Deletes and visibility changes, sent by one thread in batches of up to ten.

Once an answer is queued the thread waits up to LINGER_SECONDS for ten, so that under
load each call carries a full batch; when idle, an answer goes out that much later.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from .stats import Counters

log = logging.getLogger("pyramid_elasticjobs.daemon")

#: DeleteMessageBatch and ChangeMessageVisibilityBatch take at most ten entries.
BATCH_SIZE = 10
#: How many queued answers one pass of the thread takes at most.
DRAIN_LIMIT = 100
#: How long a partial batch waits for more answers. A call costs SQS (and far more, moto)
#: about the same for one entry as for ten, and a delete a few ms later changes nothing
#: for a message whose job has run.
LINGER_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class Ack:
    """What to do with one received message: delete it, or make it visible in N seconds."""

    message_id: str
    receipt_handle: str
    visibility: int | None  # None = delete


class Acknowledger:
    """Queues acks for the batching thread; after :meth:`close`, sends them synchronously."""

    def __init__(self, client: Any, queue_url: str, counters: Counters) -> None:
        self._client = client
        self._queue_url = queue_url
        self._counters = counters
        self._pending: queue.SimpleQueue[Ack | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sqsd-acks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, ack: Ack) -> None:
        with self._lock:
            if not self._closed:
                self._pending.put(ack)
                return
        # A request that outlived stop(): its answer still counts, sent from here.
        self._send([ack])

    def close(self, timeout: float | None) -> bool:
        """Send everything queued so far, then stop the thread; False if it is still sending."""
        with self._lock:
            self._closed = True
            self._pending.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            taken = [self._pending.get()]
            linger_until = time.monotonic() + LINGER_SECONDS
            while len(taken) < DRAIN_LIMIT and taken[-1] is not None:
                wait = linger_until - time.monotonic() if len(taken) < BATCH_SIZE else 0.0
                try:
                    taken.append(
                        self._pending.get(timeout=wait) if wait > 0 else self._pending.get_nowait()
                    )
                except queue.Empty:
                    break
            try:
                self._send([ack for ack in taken if ack is not None])
            except Exception:
                # This thread is the only one that deletes: it must outlive any surprise.
                log.exception("sending %d deletes/visibility changes failed", len(taken))
            if None in taken:
                return

    def _send(self, acks: list[Ack]) -> None:
        groups: defaultdict[int | None, list[Ack]] = defaultdict(list)
        for ack in acks:
            groups[ack.visibility].append(ack)
        for visibility, group in groups.items():
            for start in range(0, len(group), BATCH_SIZE):
                self._send_batch(visibility, group[start : start + BATCH_SIZE])

    def _send_batch(self, visibility: int | None, acks: list[Ack]) -> None:
        entries: list[dict[str, Any]] = [
            {"Id": str(index), "ReceiptHandle": ack.receipt_handle}
            for index, ack in enumerate(acks)
        ]
        try:
            if visibility is None:
                response = self._client.delete_message_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
                self._counters.add(deleted=len(response.get("Successful", ())))
            else:
                for entry in entries:
                    entry["VisibilityTimeout"] = visibility
                response = self._client.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            for ack in acks:
                _log_failure(ack, str(error))
            return
        for failure in response.get("Failed", ()):
            reason = f"{failure.get('Code')}: {failure.get('Message')}"
            _log_failure(acks[int(failure["Id"])], reason)


def _log_failure(ack: Ack, reason: str) -> None:
    if ack.visibility is None:
        log.error(
            "could not delete message %s (%s); it will be delivered again after its "
            "visibility timeout",
            ack.message_id,
            reason,
        )
    else:
        log.error(
            "could not set the visibility of message %s to %ds (%s); it becomes visible "
            "again when its current visibility timeout ends",
            ack.message_id,
            ack.visibility,
            reason,
        )
