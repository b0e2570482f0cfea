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
from dataclasses import dataclass
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
from .defaults import (
    ACK_DRAIN_SECONDS,
    RECEIVE_BACKOFF_SECONDS,
    SQS_CALL_READ_TIMEOUT,
    SQS_MAX_ATTEMPTS,
    SQS_READ_MARGIN_SECONDS,
)
from .delivery import Request, build_request
from .options import DaemonOptions, flag, is_url
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
_SQS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
_QUEUE_MISSING = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)
_UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
)


@dataclass(frozen=True, slots=True)
class Received:
    """A received message, and the ``time.monotonic()`` at which its visibility timeout ends."""

    message: Mapping[str, Any]
    expires: float


class SqsDaemon:
    """Polls one SQS queue and POSTs each message to the application, like ``aws-sqsd``.

    Use: ``daemon.start()`` returns at once; ``daemon.stop()`` (from any thread, any
    number of times) returns as soon as the running requests are answered, without
    waiting for long polls. Or ``daemon.run()`` blocks until another thread calls stop.
    ``sqs_client`` replaces both boto3 clients the daemon otherwise creates (one for
    long polls, one for the other calls, each with timeouts taken from the options).
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
                "support periodic tasks; use a standard queue for cron.yaml, or unset "
                "elasticjobs.sqsd.cron_path (--cron)"
            )
        self._client = sqs_client
        self._poll_client = sqs_client
        self._now = now or (lambda: datetime.now(UTC))
        self._queue_url: str | None = None
        self._counters = Counters()
        self._slots = Slots(options.http_connections)
        self._batch_size = min(RECEIVE_LIMIT, options.http_connections)
        self._work: queue.SimpleQueue[Received | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._finished = threading.Event()
        self._receive_failing = threading.Event()  # set from a failed poll to the next success
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
        """The boto3 SQS client for everything but long polls (created on first use)."""
        if self._client is None:
            self._client = _create_client(self.options, SQS_CALL_READ_TIMEOUT, SQS_MAX_ATTEMPTS)
        return self._client

    @property
    def poll_read_timeout(self) -> float:
        """How long a ReceiveMessage may take before SQS counts as stalled."""
        return self.options.wait_time_seconds + SQS_READ_MARGIN_SECONDS

    def _poller_client(self) -> Any:
        if self._poll_client is None:
            # One attempt: the poll loop retries with its own pauses, and says so.
            self._poll_client = _create_client(self.options, self.poll_read_timeout, 1)
        return self._poll_client

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
        self._check_timeouts()
        self._check_redrive_policy()
        self._poller_client()  # created here: boto3 client creation is not thread-safe
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
        """Stop receiving and return once running requests are answered and acknowledged.

        Waits at most ``timeout`` seconds (default: the inactivity timeout) for running
        requests; one still running then keeps its message invisible until its
        visibility timeout, and its answer is still acted on if it comes. It does not
        wait for long polls: a poll still open hands back (releases) whatever it
        receives, so a Ctrl-C takes as long as the running jobs, not a 20 s poll.
        Idempotent; :attr:`stopping` is true from the first call.
        """
        with self._state_lock:
            if not self._started or self._stop_begun:
                return
            self._stop_begun = True
        with self._dispatch_lock:
            self._stopping.set()
        self._slots.close()
        wait = self.options.inactivity_timeout if timeout is None else timeout
        for _ in self._deliverers:
            self._work.put(None)  # after any queued message, which is released
        busy = _join(self._deliverers, time.monotonic() + wait)
        if busy:
            log.warning(
                "sqsd: %d request(s) still running after %gs; their messages will be "
                "delivered again after the visibility timeout",
                busy,
                wait,
            )
        if self._acks is not None and not self._acks.close(ACK_DRAIN_SECONDS):
            log.error(
                "sqsd: SQS did not take the last deletes within %gs; those messages will be "
                "delivered again after their visibility timeout",
                ACK_DRAIN_SECONDS,
            )
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
        failures = 0
        while not self._stopping.is_set():
            wanted = self._slots.take(self._batch_size, self._batch_size, GATHER_SECONDS)
            if not wanted:
                return
            self._counters.add(receiving=1)
            # SQS starts each message's visibility timeout no earlier than this.
            asked = time.monotonic()
            try:
                messages = self._receive(wanted)
            except _SQS_ERRORS as error:
                self._counters.add(receiving=-1)
                self._slots.give(wanted)
                failures += 1
                self._receive_failed(error, failures)
                continue
            failures = 0
            if self._receive_failing.is_set():
                self._receive_failing.clear()
                log.info("sqsd: SQS answers ReceiveMessage again")
            self._counters.add(receiving=-1, received=len(messages))
            self._slots.give(wanted - len(messages))
            if messages:
                expires = asked + self.options.visibility_timeout
                self._dispatch([Received(message, expires) for message in messages])

    def _receive(self, wanted: int) -> list[dict[str, Any]]:
        options = self.options
        messages: list[dict[str, Any]] = (
            self._poller_client()
            .receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=options.wait_time_seconds,
                VisibilityTimeout=options.visibility_timeout,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            .get("Messages", [])
        )
        return messages

    def _receive_failed(self, error: Exception, failures: int) -> None:
        if self._stopping.is_set():
            log.debug("sqsd: ReceiveMessage failed while stopping: %s", error)
            return
        self._receive_failing.set()
        pause = RECEIVE_BACKOFF_SECONDS[min(failures, len(RECEIVE_BACKOFF_SECONDS)) - 1]
        endpoint = self.options.endpoint_url or f"AWS ({self.options.region})"
        if isinstance(error, botocore.exceptions.ReadTimeoutError):
            problem = (
                f"SQS at {endpoint} did not answer ReceiveMessage within "
                f"{self.poll_read_timeout:g}s (the long poll plus {SQS_READ_MARGIN_SECONDS:g}s): "
                "it is stalled or unreachable"
            )
        elif isinstance(error, _UNREACHABLE):
            problem = f"cannot reach SQS at {endpoint} ({error}); check --endpoint-url"
        else:
            problem = f"ReceiveMessage failed ({error})"
        log.error("sqsd: %s; retrying in %gs", problem, pause)
        self._stopping.wait(pause)

    def _dispatch(self, received: list[Received]) -> None:
        with self._dispatch_lock:
            if not self._stopping.is_set():
                for item in received:
                    self._work.put(item)
                return
        for item in received:  # received during stop: hand back at once
            self._release(item)
            self._slots.give(1)

    def _deliver_loop(self) -> None:
        host, port = self._worker_address
        options = self.options
        connection = WorkerConnection(
            host, port, options.connect_timeout, options.inactivity_timeout
        )
        try:
            while (item := self._work.get()) is not None:
                try:
                    if self._stopping.is_set():
                        self._release(item)
                    else:
                        self._deliver(connection, item)
                except Exception:
                    log.exception(
                        "sqsd: unexpected error with message %s; it will be delivered again "
                        "after its visibility timeout",
                        item.message.get("MessageId"),
                    )
                finally:
                    self._slots.give(1)
        finally:
            connection.close()

    def _deliver(self, connection: WorkerConnection, item: Received) -> None:
        request = build_request(item.message, self.options)
        self._counters.add(in_flight=1)
        try:
            self._post(connection, item, request)
        finally:
            self._counters.add(in_flight=-1, delivered=1)

    def _post(self, connection: WorkerConnection, item: Received, request: Request) -> None:
        message_id, label = item.message["MessageId"], request.label
        started = time.perf_counter()
        try:
            status = connection.post(request.path, request.body, request.headers)
        except TimeoutError:
            self._counters.add(timed_out=1)
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
            self._counters.add(failed=1)
            self._retry_later(item)
            log.warning(
                "sqsd: message %s (%s): %s; not sent again on this receive (the job may have "
                "started), retrying in %ds",
                message_id,
                label,
                str(error) or type(error).__name__,
                self.options.error_visibility_timeout,
            )
            return
        elapsed = (time.perf_counter() - started) * 1000
        if status == 200:
            self._counters.add(succeeded=1)
            self._submit(item, None)
        else:
            self._counters.add(failed=1)
            self._retry_later(item)
        log.info("sqsd: message %s (%s): HTTP %d in %.1f ms", message_id, label, status, elapsed)

    def _retry_later(self, item: Received) -> None:
        self._submit(item, self.options.error_visibility_timeout)

    def _release(self, item: Received) -> None:
        self._counters.add(released=1)
        self._submit(item, 0)

    def _submit(self, item: Received, visibility: int | None) -> None:
        if self._acks is not None:
            message = item.message
            self._acks.submit(
                Ack(message["MessageId"], message["ReceiptHandle"], visibility, item.expires)
            )

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

    def _check_timeouts(self) -> None:
        """Warn when a job can outlive its message's visibility: SQS would hand it out again."""
        options = self.options
        if options.inactivity_timeout < options.visibility_timeout:
            return
        log.warning(
            "sqsd: inactivity_timeout (%gs) is not shorter than visibility_timeout (%ds), so a "
            "job still running when its message becomes visible again runs a second time in "
            "parallel; set %s (elasticjobs.sqsd.visibility_timeout) above %g",
            options.inactivity_timeout,
            options.visibility_timeout,
            flag("visibility_timeout"),
            options.inactivity_timeout,
        )

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


def _create_client(options: DaemonOptions, read_timeout: float, attempts: int) -> Any:
    """A client that gives up on a stalled SQS instead of waiting botocore's silent 60 s."""
    config = botocore.config.Config(
        connect_timeout=options.connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": attempts},
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
