"""Deletes and visibility changes, sent by one thread in batches of up to ten.

Once an answer is queued the thread waits up to LINGER_SECONDS for ten, so that under
load each call carries a full batch; when idle, an answer goes out that much later.
When SQS fails (an outage, a timeout), the answers are kept and sent again with
growing pauses until the message's visibility timeout would end: past that, SQS may
have handed the message to another consumer, and a delete could not stop the rerun.
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

from .defaults import (
    ACK_BACKOFF_SECONDS,
    ACK_EXPIRY_MARGIN_SECONDS,
    SLOW_SQS_CALL_SECONDS,
)
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

_SQS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


@dataclass(frozen=True, slots=True)
class Ack:
    """What to do with one received message: delete it, or make it visible in N seconds.

    ``expires`` is the ``time.monotonic()`` at which the message's visibility timeout
    ends: the receipt handle is worth nothing after it.
    """

    message_id: str
    receipt_handle: str
    visibility: int | None  # None = delete
    expires: float

    @property
    def action(self) -> str:
        if self.visibility is None:
            return "delete"
        return f"set the visibility to {self.visibility}s of"


@dataclass(slots=True)
class _Pending:
    ack: Ack
    attempts: int = 0
    due: float = 0.0  # time.monotonic() of the next attempt


class Acknowledger:
    """Queues acks for the batching thread; after :meth:`close`, sends them synchronously."""

    def __init__(self, client: Any, queue_url: str, counters: Counters) -> None:
        self._client = client
        self._queue_url = queue_url
        self._counters = counters
        self._pending: queue.SimpleQueue[Ack | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._give_up_at = float("inf")
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="sqsd-acks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, ack: Ack) -> None:
        with self._lock:
            if not self._closed:
                self._pending.put(ack)
                return
        # A request that outlived stop(): its answer still counts, sent (and retried) here.
        waiting = [_Pending(ack)]
        while waiting:
            time.sleep(max(0.0, _next_due(waiting) - time.monotonic()))
            waiting = self._attempt(waiting, give_up_at=float("inf"))

    def close(self, timeout: float) -> bool:
        """Send everything queued so far (retrying at most ``timeout`` s); False if not done."""
        with self._lock:
            self._closed = True
            self._give_up_at = time.monotonic() + timeout
            self._pending.put(None)
        self._thread.join(timeout + 1.0)
        return not self._thread.is_alive()

    def _run(self) -> None:
        retries: list[_Pending] = []
        closing = False
        while True:
            if closing:
                time.sleep(max(0.0, _next_due(retries) - time.monotonic()))
                taken: list[Ack] = []
            else:
                taken, closing = self._take(_next_due(retries))
            now = time.monotonic()
            due = [item for item in retries if item.due <= now]
            retries = [item for item in retries if item.due > now]
            give_up_at = self._give_up_at if closing else float("inf")
            try:
                retries += self._attempt([_Pending(ack) for ack in taken] + due, give_up_at)
            except Exception:
                # This thread is the only one that deletes: it must outlive any surprise.
                log.exception("sqsd: sending deletes/visibility changes failed unexpectedly")
            if closing and _next_due(retries) > self._give_up_at:
                _give_up(retries, "the daemon is stopping")
                return

    def _take(self, until: float) -> tuple[list[Ack], bool]:
        """Wait for acks until ``until`` (monotonic); linger briefly for a full batch.

        Returns the acks and whether :meth:`close` was called.
        """
        taken: list[Ack] = []
        wait = None if until == float("inf") else max(0.0, until - time.monotonic())
        try:
            item = self._pending.get(timeout=wait)
        except queue.Empty:
            return taken, False
        linger_until = time.monotonic() + LINGER_SECONDS
        while item is not None:
            taken.append(item)
            if len(taken) >= DRAIN_LIMIT:
                return taken, False
            pause = linger_until - time.monotonic() if len(taken) < BATCH_SIZE else 0.0
            try:
                item = self._pending.get(timeout=pause) if pause > 0 else self._pending.get_nowait()
            except queue.Empty:
                return taken, False
        return taken, True

    def _attempt(self, items: list[_Pending], give_up_at: float) -> list[_Pending]:
        """Send once; return the items to try again (their ``due`` set), giving up on the rest."""
        failures: list[tuple[_Pending, str]] = []
        groups: defaultdict[int | None, list[_Pending]] = defaultdict(list)
        for item in items:
            groups[item.ack.visibility].append(item)
        for visibility, group in groups.items():
            for start in range(0, len(group), BATCH_SIZE):
                failures += self._send_batch(visibility, group[start : start + BATCH_SIZE])
        if not failures:
            if self._failing and items:
                self._failing = False
                log.info("sqsd: SQS takes deletes and visibility changes again")
            return []
        self._failing = True
        return _schedule(failures, give_up_at)

    def _send_batch(
        self, visibility: int | None, items: list[_Pending]
    ) -> list[tuple[_Pending, str]]:
        """Send one batch; return the items that failed in a way worth retrying, with why."""
        entries: list[dict[str, Any]] = [
            {"Id": str(index), "ReceiptHandle": item.ack.receipt_handle}
            for index, item in enumerate(items)
        ]
        started = time.monotonic()
        try:
            if visibility is None:
                call = "DeleteMessageBatch"
                response = self._client.delete_message_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
                self._counters.add(deleted=len(response.get("Successful", ())))
            else:
                call = "ChangeMessageVisibilityBatch"
                for entry in entries:
                    entry["VisibilityTimeout"] = visibility
                response = self._client.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
        except _SQS_ERRORS as error:
            return [(item, str(error)) for item in items]
        elapsed = time.monotonic() - started
        if elapsed > SLOW_SQS_CALL_SECONDS:
            log.warning(
                "sqsd: SQS took %.1fs to answer %s; deletes lag behind the jobs (check the "
                "network to SQS, or --endpoint-url)",
                elapsed,
                call,
            )
        retry = []
        for failure in response.get("Failed", ()):
            item = items[int(failure["Id"])]
            reason = f"{failure.get('Code')}: {failure.get('Message')}"
            if failure.get("SenderFault"):
                _log_refused(item.ack, reason)  # e.g. an expired handle: retrying cannot help
            else:
                retry.append((item, reason))
        return retry


def _next_due(items: list[_Pending]) -> float:
    """When the earliest retry is due (monotonic); infinity when there is none."""
    return min((item.due for item in items), default=float("inf"))


def _schedule(failures: list[tuple[_Pending, str]], give_up_at: float) -> list[_Pending]:
    now = time.monotonic()
    retry: list[_Pending] = []
    expired: list[_Pending] = []
    for item, _ in failures:
        item.attempts += 1
        pause = ACK_BACKOFF_SECONDS[min(item.attempts - 1, len(ACK_BACKOFF_SECONDS) - 1)]
        item.due = now + pause
        if item.due > item.ack.expires - ACK_EXPIRY_MARGIN_SECONDS or item.due > give_up_at:
            expired.append(item)
        else:
            retry.append(item)
    reason = failures[0][1]
    if retry:
        log.warning(
            "sqsd: SQS failed to take %d delete(s)/visibility change(s) (%s); retrying in "
            "%.1fs, for as long as their visibility timeout lasts",
            len(retry),
            reason,
            min(item.due for item in retry) - now,
        )
    _give_up(expired, f"their visibility timeout ends before another try ({reason})")
    return retry


def _give_up(items: list[_Pending], why: str) -> None:
    for item in items:
        log.error(
            "sqsd: gave up trying to %s message %s after %d attempt(s): %s; SQS will make it "
            "visible again when its visibility timeout ends (a deleted job then runs again)",
            item.ack.action,
            item.ack.message_id,
            max(item.attempts, 1),
            why,
        )


def _log_refused(ack: Ack, reason: str) -> None:
    log.error(
        "sqsd: SQS refused to %s message %s (%s); it becomes visible again when its "
        "visibility timeout ends",
        ack.action,
        ack.message_id,
        reason,
    )
