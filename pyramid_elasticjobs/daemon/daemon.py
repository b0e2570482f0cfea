"""A local stand-in for Elastic Beanstalk's SQS daemon (``aws-sqsd``).

Threads, all started once: pollers long-poll the queue, delivery threads (one
per HTTP connection, each with its own keep-alive connection) POST the messages,
one thread batches the deletes and visibility changes, and optional ones fire the
cron.yaml schedule and log a summary. A poller only asks SQS for as many messages
as there are idle delivery threads, so a received message never waits for a
connection while its visibility timeout runs.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from pyramid_elasticjobs.exceptions import ConfigurationError

from .acks import Ack, Acknowledger
from .connection import WorkerConnection, WorkerUnreachable
from .cron import PeriodicTask, load_cron
from .delivery import build_request
from .options import DaemonOptions, is_url
from .slots import Slots
from .stats import Counters, DaemonStats

log = logging.getLogger("pyramid_elasticjobs.daemon")

#: ReceiveMessage returns at most ten messages.
RECEIVE_LIMIT = 10
#: One poller per ten connections, at least two (one asks SQS while the other's batch is
#: being delivered), at most ten (each holds an HTTP connection to SQS for a long poll).
MIN_POLLERS = 2
MAX_POLLERS = 10
#: A poller that could ask for only a few messages waits this long for a full batch of
#: idle connections: a ReceiveMessage costs SQS (and far more, moto) the same for one
#: message as for ten.
GATHER_SECONDS = 0.02
#: How often the scheduler looks at the clock (it fires once per minute that passes).
SCHEDULER_TICK_SECONDS = 1.0
#: After stop's deadline, how long the acknowledging thread still gets to send its batches.
ACK_DRAIN_SECONDS = 30.0
_RECEIVE_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0)
_SQS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_QUEUE_MISSING = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


class SqsDaemon:
    """Polls one SQS queue and POSTs each message to the application, like ``aws-sqsd``.

    ``now`` (UTC-aware) drives the cron.yaml schedule, so tests can move time.
    Raises :class:`ConfigurationError` for a bad cron.yaml here, and for a
    missing queue in :meth:`start`.
    """

    def __init__(
        self,
        options: DaemonOptions,
        *,
        sqs_client: Any | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = options
        self.tasks: tuple[PeriodicTask, ...] = (
            load_cron(options.cron_path) if options.cron_path else ()
        )
        if self.tasks and options.is_fifo:
            raise ConfigurationError(
                f"queue {options.queue_name!r} is a FIFO queue, where Elastic Beanstalk does not "
                "support periodic tasks; use a standard queue for cron.yaml, or drop --cron"
            )
        self._client = sqs_client
        self._now = now or (lambda: datetime.now(UTC))
        self._queue_url: str | None = None
        self._counters = Counters()
        self._slots = Slots(options.http_connections)
        self._batch_size = min(RECEIVE_LIMIT, options.http_connections)
        self._work: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self._state_lock = threading.Lock()
        self._dispatch_lock = threading.Lock()
        self._started = False
        self._stop_begun = False
        self._pollers: list[threading.Thread] = []
        self._deliverers: list[threading.Thread] = []
        self._helpers: list[threading.Thread] = []
        self._acks: Acknowledger | None = None
        worker = urlsplit(options.worker_url)
        self._worker_address = (worker.hostname or "127.0.0.1", worker.port or 80)

    @property
    def stats(self) -> DaemonStats:
        return self._counters.snapshot()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` has begun: nothing new is dispatched."""
        return self._stopping.is_set()

    @property
    def sqs(self) -> Any:
        """The boto3 SQS client (created on first use when none was given)."""
        if self._client is None:
            self._client = _create_client(self.options)
        return self._client

    @property
    def queue_url(self) -> str:
        """The queue's URL (looked up once); ConfigurationError if the queue does not exist."""
        if self._queue_url is None:
            self._queue_url = self._resolve_queue_url()
        return self._queue_url

    def start(self) -> None:
        """Check the queue, start every thread, and return at once."""
        with self._state_lock:
            if self._started:
                raise RuntimeError("this SqsDaemon was already started; create a new one")
            self._started = True
        options = self.options
        self._check_redrive_policy()
        self._acks = Acknowledger(self.sqs, self.queue_url, self._counters)
        self._acks.start()
        self._deliverers = [
            _thread(self._deliver_loop, f"sqsd-http-{number}")
            for number in range(options.http_connections)
        ]
        wanted = math.ceil(options.http_connections / RECEIVE_LIMIT)
        pollers = min(MAX_POLLERS, max(MIN_POLLERS, wanted))
        self._pollers = [_thread(self._poll_loop, f"sqsd-poll-{n}") for n in range(pollers)]
        if self.tasks:
            self._helpers.append(_thread(self._schedule_loop, "sqsd-cron"))
        if options.summary_interval > 0:
            self._helpers.append(_thread(self._summary_loop, "sqsd-summary"))
        log.info(
            "sqsd: polling %s, posting to %s%s with up to %d connections; %d periodic task(s)",
            self.queue_url,
            options.worker_url,
            options.http_path,
            options.http_connections,
            len(self.tasks),
        )

    def run(self) -> None:
        """Start, then block until :meth:`stop` (called from another thread or a signal) is done."""
        self.start()
        self._finished.wait()

    def stop(self, timeout: float | None = None) -> None:
        """Stop receiving, release undispatched messages, let in-flight requests finish.

        Waits at most ``timeout`` seconds (default: the inactivity timeout) for
        pollers and requests; a request still running then keeps its message
        invisible until its visibility timeout, so nothing is lost either way.
        """
        with self._state_lock:
            if not self._started or self._stop_begun:
                return
            self._stop_begun = True
        with self._dispatch_lock:
            self._stopping.set()
        self._slots.close()
        wait = self.options.inactivity_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        _join(self._pollers, deadline)
        for _ in self._deliverers:
            self._work.put(None)
        busy = _join(self._deliverers, deadline)
        if busy:
            log.warning(
                "sqsd: %d request(s) still running after %.1fs; their messages will be "
                "delivered again after the visibility timeout",
                busy,
                wait,
            )
        if self._acks is not None and not self._acks.close(
            max(deadline - time.monotonic(), ACK_DRAIN_SECONDS)
        ):
            log.error("sqsd: SQS did not take the last deletes in time; they may be redelivered")
        _join(self._helpers, time.monotonic() + SCHEDULER_TICK_SECONDS)
        self._log_summary("stopped", self.stats, None)
        self._finished.set()

    def fire_periodic_tasks(self, when: datetime) -> list[str]:
        """Send a message for each task due in the minute of ``when``; return their names."""
        minute = when.astimezone(UTC).replace(second=0, microsecond=0)
        sent = []
        for task in self.tasks:
            if not task.is_due(minute):
                continue
            try:
                self.sqs.send_message(QueueUrl=self.queue_url, **task.message(minute))
            except _SQS_ERRORS as error:
                log.error(
                    "sqsd: could not send periodic task %s due at %s (%s); it is skipped this time",
                    task.name,
                    minute.isoformat(),
                    error,
                )
                continue
            self._counters.add(periodic_sent=1)
            sent.append(task.name)
            log.info("sqsd: periodic task %s due at %s sent", task.name, minute.isoformat())
        return sent

    # -- threads --------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        options = self.options
        failures = 0
        while not self._stopping.is_set():
            wanted = self._slots.take(self._batch_size, self._batch_size, GATHER_SECONDS)
            if not wanted:
                return
            self._counters.add(receiving=1)
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=wanted,
                    WaitTimeSeconds=options.wait_time_seconds,
                    VisibilityTimeout=options.visibility_timeout,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except _SQS_ERRORS as error:
                self._counters.add(receiving=-1)
                self._slots.give(wanted)
                pause = _RECEIVE_BACKOFF_SECONDS[min(failures, len(_RECEIVE_BACKOFF_SECONDS) - 1)]
                failures += 1
                log.error("sqsd: ReceiveMessage failed (%s); retrying in %.0fs", error, pause)
                self._stopping.wait(pause)
                continue
            failures = 0
            self._counters.add(receiving=-1, received=len(messages))
            self._slots.give(wanted - len(messages))
            if messages:
                self._dispatch(messages)

    def _dispatch(self, messages: list[dict[str, Any]]) -> None:
        with self._dispatch_lock:
            if not self._stopping.is_set():
                for message in messages:
                    self._work.put(message)
                return
        for message in messages:  # received during stop: hand back at once
            self._release(message)
            self._slots.give(1)

    def _deliver_loop(self) -> None:
        host, port = self._worker_address
        options = self.options
        connection = WorkerConnection(
            host, port, options.connect_timeout, options.inactivity_timeout
        )
        try:
            while (message := self._work.get()) is not None:
                try:
                    if self._stopping.is_set():
                        self._release(message)
                    else:
                        self._deliver(connection, message)
                except Exception:
                    log.exception(
                        "sqsd: unexpected error with message %s; it will be delivered again "
                        "after its visibility timeout",
                        message.get("MessageId"),
                    )
                finally:
                    self._slots.give(1)
        finally:
            connection.close()

    def _deliver(self, connection: WorkerConnection, message: Mapping[str, Any]) -> None:
        request = build_request(message, self.options)
        message_id, label = message["MessageId"], request.label
        self._counters.add(in_flight=1)
        started = time.perf_counter()
        try:
            status = connection.post(request.path, request.body, request.headers)
        except TimeoutError:
            self._counters.add(in_flight=-1, delivered=1, timed_out=1)
            log.warning(
                "sqsd: message %s (%s): no answer within %gs (inactivity timeout); left "
                "invisible until its visibility timeout (%ds), then delivered again",
                message_id,
                label,
                self.options.inactivity_timeout,
                self.options.visibility_timeout,
            )
            return
        # ValueError: a periodic task's path that cannot be sent; retried, then dead-lettered.
        except (WorkerUnreachable, OSError, http.client.HTTPException, ValueError) as error:
            self._counters.add(in_flight=-1, delivered=1, failed=1)
            self._retry_later(message)
            log.warning(
                "sqsd: message %s (%s): %s; retrying in %ds",
                message_id,
                label,
                error,
                self.options.error_visibility_timeout,
            )
            return
        elapsed = (time.perf_counter() - started) * 1000
        if status == 200:
            self._counters.add(in_flight=-1, delivered=1, succeeded=1)
            self._submit(message, None)
        else:
            self._counters.add(in_flight=-1, delivered=1, failed=1)
            self._retry_later(message)
        log.info("sqsd: message %s (%s): HTTP %d in %.1f ms", message_id, label, status, elapsed)

    def _retry_later(self, message: Mapping[str, Any]) -> None:
        self._submit(message, self.options.error_visibility_timeout)

    def _release(self, message: Mapping[str, Any]) -> None:
        self._counters.add(released=1)
        self._submit(message, 0)

    def _submit(self, message: Mapping[str, Any], visibility: int | None) -> None:
        if self._acks is not None:
            self._acks.submit(Ack(message["MessageId"], message["ReceiptHandle"], visibility))

    def _schedule_loop(self) -> None:
        last = self._now().replace(second=0, microsecond=0)
        while not self._stopping.wait(SCHEDULER_TICK_SECONDS):
            minute = self._now().replace(second=0, microsecond=0)
            if minute > last:
                last = minute
                self.fire_periodic_tasks(minute)

    def _summary_loop(self) -> None:
        interval = self.options.summary_interval
        previous = self.stats
        while not self._stopping.wait(interval):
            current = self.stats
            self._log_summary(
                "summary", current, (current.delivered - previous.delivered) / interval
            )
            previous = current

    def _log_summary(self, what: str, stats: DaemonStats, rate: float | None) -> None:
        log.info(
            "sqsd %s: received=%d delivered=%d succeeded=%d failed=%d timed_out=%d "
            "in_flight=%d deleted=%d released=%d periodic_sent=%d%s",
            what,
            stats.received,
            stats.delivered,
            stats.succeeded,
            stats.failed,
            stats.timed_out,
            stats.in_flight,
            stats.deleted,
            stats.released,
            stats.periodic_sent,
            "" if rate is None else f" rate={rate:.1f}/s",
        )

    # -- set-up ---------------------------------------------------------------------------

    def _resolve_queue_url(self) -> str:
        options = self.options
        if is_url(options.queue):
            return options.queue
        try:
            url: str = self.sqs.get_queue_url(QueueName=options.queue)["QueueUrl"]
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _QUEUE_MISSING:
                raise
            raise ConfigurationError(
                f"SQS queue {options.queue!r} does not exist in {options.region} "
                f"({options.endpoint_url or 'AWS'}); create it first (elasticjobs dev creates "
                "the application's queues) or check --queue, --region and --endpoint-url"
            ) from None
        return url

    def _check_redrive_policy(self) -> None:
        """Say whether the queue's maxReceiveCount matches max_retries: SQS enforces it, not us."""
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
        except _SQS_ERRORS as error:
            log.debug("sqsd: cannot read the queue's redrive policy: %s", error)
            return
        policy = attributes.get("RedrivePolicy")
        if not policy:
            log.info(
                "sqsd: queue %s has no dead-letter queue: a failing message is retried until "
                "it expires (max_retries=%d needs a RedrivePolicy)",
                self.options.queue_name,
                self.options.max_retries,
            )
        elif _max_receive_count(policy) != self.options.max_retries:
            log.warning(
                "sqsd: queue %s has RedrivePolicy %s, but max_retries is %d; SQS applies the "
                "queue's maxReceiveCount",
                self.options.queue_name,
                policy,
                self.options.max_retries,
            )


def _max_receive_count(policy: str) -> int | None:
    try:
        return int(json.loads(policy)["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        return None


def _create_client(options: DaemonOptions) -> Any:
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=MAX_POLLERS + 5,
    )
    return boto3.session.Session().client(
        "sqs", region_name=options.region, endpoint_url=options.endpoint_url, config=config
    )


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _join(threads: list[threading.Thread], deadline: float) -> int:
    """Join until the deadline; return how many are still alive."""
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in threads)
