"""Make moto's SQS keep up with a local stack holding thousands of messages.

moto 5.2 recomputes a queue's approximate message counts on every SendMessage and,
through its retention check, for every message ReceiveMessage returns; each count
reads the clock once per stored message through a datetime round trip (~4 us).
Sends and receives therefore slow down with queue depth: about 25 sends/s with
1,000 messages queued, which makes a 5,000-job load test take hours. Two
substitutions keep moto's behaviour and remove the cost:

- the clock moto's SQS models read is ``time.time()`` (same value, ~40x cheaper);
- the three counts read the clock once per count, not once per message;
- the retention check reads the queue's retention period instead of all its
  attributes (which include the counts);
- DeleteMessage finds the message in one pass instead of two, comparing handles
  directly.

The embedded SQS server applies them when it starts. They patch moto for the whole
process (moto keeps one backend per process), which is why they must not change
what moto answers, only how fast.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

_applied = False


def apply() -> None:
    """Patch moto's SQS models once; skip (with a warning) if moto's internals changed."""
    global _applied
    if _applied:
        return
    # Typed as Any: this module rewrites moto's internals, which mypy rightly forbids.
    core_utils: Any = importlib.import_module("moto.core.utils")
    models: Any = importlib.import_module("moto.sqs.models")

    backend = models.SQSBackend
    if not (
        getattr(models, "unix_time_millis", None) is core_utils.unix_time_millis
        and hasattr(backend, "is_message_valid_based_on_retention_period")
    ):
        log.warning("moto's SQS internals changed: embedded SQS runs without speed-ups")
        return

    def unix_time_millis(moment: Any = None) -> float:
        return time.time() * 1000.0 if moment is None else core_utils.unix_time_millis(moment)

    def retention_check(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    def delayed(queue: Any) -> int:
        now = time.time() * 1000.0
        return sum(1 for m in queue._messages if now < m.delayed_until)

    def not_visible(queue: Any) -> int:
        now = time.time() * 1000.0
        return sum(1 for m in queue._messages if now <= m.visible_at)

    def visible(queue: Any) -> int:
        now = time.time() * 1000.0
        return sum(1 for m in queue._messages if now > m.visible_at and now >= m.delayed_until)

    def delete_message(queue: Any, receipt_handle: str) -> None:
        if receipt_handle in queue.deleted_messages:
            return  # deleting twice is allowed
        messages = queue._messages
        for index, message in enumerate(messages):
            if (
                message.receipt_handle == receipt_handle
                or receipt_handle in message._old_receipt_handles
            ):
                # A new list, as moto does: other server threads may be iterating the old one.
                queue._messages = messages[:index] + messages[index + 1 :]
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
                return
        raise models.ReceiptHandleIsInvalid()

    models.unix_time_millis = unix_time_millis
    backend.is_message_valid_based_on_retention_period = retention_check
    queue_class = models.Queue
    queue_class.approximate_number_of_messages_delayed = property(delayed)
    queue_class.approximate_number_of_messages_not_visible = property(not_visible)
    queue_class.approximate_number_of_messages = property(visible)
    queue_class.delete_message = delete_message
    _applied = True
