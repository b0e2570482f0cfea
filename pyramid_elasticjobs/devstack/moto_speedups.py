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
what moto answers, only how fast, and why they apply only to a moto they were
written against: a release series in ``KNOWN_SERIES`` that has every attribute in
``REQUIRED``. On any other moto the embedded SQS runs on plain moto, with a warning.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: moto release series (major, minor) these substitutions were written against; keep
#: in step with the moto bound of the 'local' extra in pyproject.toml.
KNOWN_SERIES: tuple[tuple[int, int], ...] = ((5, 2),)

#: Every attribute the substitutions replace or read: (owner, attribute), where the
#: owner is a module or class of moto.sqs.models, or a "Queue()"/"Message()" instance.
REQUIRED: tuple[tuple[str, str], ...] = (
    ("models", "unix_time_millis"),
    ("models", "ReceiptHandleIsInvalid"),
    ("SQSBackend", "is_message_valid_based_on_retention_period"),
    ("SQSBackend", "get_queue"),
    ("Queue", "approximate_number_of_messages_delayed"),
    ("Queue", "approximate_number_of_messages_not_visible"),
    ("Queue", "approximate_number_of_messages"),
    ("Queue", "delete_message"),
    ("Queue()", "message_retention_period"),
    ("Queue()", "_messages"),
    ("Queue()", "deleted_messages"),
    ("Queue()", "pending_messages"),
    ("Message()", "sent_timestamp"),
    ("Message()", "delayed_until"),
    ("Message()", "visible_at"),
    ("Message()", "receipt_handle"),
    ("Message()", "_old_receipt_handles"),
    ("Message()", "all_receipt_handles"),
)
#: The counts are replaced by properties: they must be properties today.
_PROPERTIES = frozenset(
    {
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages",
    }
)

_applied = False


def version_problem(version: str) -> str | None:
    """Why these speed-ups do not know moto ``version``, or None if they do."""
    try:
        series = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        series = ()
    if series in KNOWN_SERIES:
        return None
    known = ", ".join(f"{major}.{minor}.x" for major, minor in KNOWN_SERIES)
    return f"moto {version} is not a release they were written for ({known})"


def missing_attributes(models: Any, core_utils: Any) -> list[str]:
    """The attributes of :data:`REQUIRED` that ``moto.sqs.models`` lacks (or has changed)."""
    try:
        owners = probe_owners(models)
    except Exception as error:  # any change of what is probed means "unknown moto"
        return [f"moto.sqs.models as probed here ({type(error).__name__}: {error})"]
    return missing_from(owners, core_utils)


def probe_owners(models: Any) -> dict[str, Any]:
    """Each owner named in :data:`REQUIRED`, with a Queue and a Message built to probe."""
    return {
        "models": models,
        "SQSBackend": models.SQSBackend,
        "Queue": models.Queue,
        "Message": models.Message,
        "Queue()": models.Queue("elasticjobs-probe", region="us-east-1", account_id="123456789012"),
        "Message()": models.Message("probe", "probe"),
    }


def missing_from(owners: Mapping[str, Any], core_utils: Any) -> list[str]:
    """What :data:`REQUIRED` names that ``owners`` lack; the counts must be properties."""
    missing = []
    for owner, attribute in REQUIRED:
        if not hasattr(owners[owner], attribute):
            missing.append(f"moto.sqs.models.{owner}.{attribute}")
        elif attribute in _PROPERTIES and not isinstance(
            getattr(owners[owner], attribute), property
        ):
            missing.append(f"moto.sqs.models.{owner}.{attribute} (no longer a property)")
    models = owners["models"]
    if hasattr(models, "unix_time_millis") and models.unix_time_millis is not getattr(
        core_utils, "unix_time_millis", None
    ):
        missing.append("moto.sqs.models.unix_time_millis (no longer moto.core.utils')")
    return missing


def apply() -> bool:
    """Patch moto's SQS models once; True if they are patched.

    On a moto these speed-ups do not know, leave it alone and log a warning.
    """
    global _applied
    if _applied:
        return True
    # Typed as Any: this module rewrites moto's internals, which mypy rightly forbids.
    moto: Any = importlib.import_module("moto")
    core_utils: Any = importlib.import_module("moto.core.utils")
    models: Any = importlib.import_module("moto.sqs.models")
    problem = version_problem(str(getattr(moto, "__version__", "unknown")))
    if problem is None:
        missing = missing_attributes(models, core_utils)
        if missing:
            problem = "moto's SQS internals changed: " + ", ".join(missing)
    if problem is not None:
        log.warning(
            "the embedded SQS runs on plain moto, without its speed-ups (slow with thousands "
            "of queued messages): %s; install the moto of pyramid_elasticjobs's 'local' extra",
            problem,
        )
        return False
    _patch(models, core_utils)
    _applied = True
    return True


def _patch(models: Any, core_utils: Any) -> None:
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
    models.SQSBackend.is_message_valid_based_on_retention_period = retention_check
    queue_class = models.Queue
    queue_class.approximate_number_of_messages_delayed = property(delayed)
    queue_class.approximate_number_of_messages_not_visible = property(not_visible)
    queue_class.approximate_number_of_messages = property(visible)
    queue_class.delete_message = delete_message
