"""The worker side: a tween that turns the daemon's POSTs back into jobs and runs them.

The daemon only looks at the status code: exactly 200 deletes the message, anything
else makes it visible again for a retry (and, after MaxRetries, moves it to the
dead-letter queue). So 200 means "done or never worth retrying", 500 means "try
again", and 4xx means "this message is wrong" (it will end in the dead-letter queue,
where an operator can look at it).

Answers carry the outcome, the job id and at most an exception's class: the daemon
logs them, and argument values do not belong in its logs.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyramid.response import Response

from . import events, protocol
from .commit import settle
from .context import JobContext
from .defaults import MAX_DELAY_SECONDS, RUN_AT_TOLERANCE_SECONDS
from .envelope import Envelope, encode_json
from .exceptions import (
    ConfigurationError,
    EnqueueError,
    EnvelopeError,
    InvalidJobArguments,
    UnknownJobError,
    UnsupportedEnvelopeVersion,
)
from .jobs import JobDefinition
from .ledger import get_ledger
from .resent import ResentMemory
from .runtime import Runtime, get_runtime
from .signing import signed_message

if TYPE_CHECKING:
    from pyramid.registry import Registry
    from pyramid.request import Request

log = logging.getLogger(__name__)

Handler = Callable[["Request"], Response]


def worker_tween_factory(handler: Handler, registry: Registry) -> Handler:
    """Install the worker tween, or nothing at all when job processing is off."""
    runtime = get_runtime(registry)
    settings = runtime.settings
    if not settings.process_jobs:
        return handler
    unique = sorted(definition.name for definition in runtime.jobs if definition.unique)
    if unique and get_ledger(registry) is None:
        raise ConfigurationError(
            f"job(s) {', '.join(unique)} are declared unique=True, which needs a record of past "
            "runs: enable the audit log (elasticjobs.audit.url, or "
            "config.include('pyramid_elasticjobs.audit'))"
        )
    periodic_route = settings.periodic_tasks_route
    worker = Worker(runtime, registry)

    def elasticjobs_worker_tween(request: Request) -> Response:
        environ = request.environ
        # Cheapest tests first: almost every request is not from the daemon.
        if not protocol.is_daemon_user_agent(environ.get("HTTP_USER_AGENT", "")):
            return handler(request)
        periodic = environ.get("PATH_INFO") == periodic_route
        if not periodic and environ.get(protocol.ORIGIN_KEY) != protocol.ORIGIN:
            return handler(request)  # another SQS consumer of the app: not ours
        return worker.handle(request, periodic)

    return elasticjobs_worker_tween


class Worker:
    """Checks, decodes and runs one delivery; answers with the status the daemon acts on."""

    def __init__(self, runtime: Runtime, registry: Registry) -> None:
        self.runtime = runtime
        self.registry = registry
        self.resent = ResentMemory()
        self.ledger = get_ledger(registry)
        settings = runtime.settings
        self._source_of = protocol.SourceCheck(
            settings.trusted_networks, settings.remote_addr_is_client
        )
        self._warned_unknown_source = False

    def handle(self, request: Request, periodic: bool) -> Response:
        environ = request.environ
        if request.method != "POST":
            return _answer(405, "method_not_allowed")
        refusal = self._check_source(environ)
        if refusal is not None:
            return refusal
        delivery = protocol.Delivery.from_environ(environ)
        if periodic:
            return self._periodic(request, delivery)
        body = _body(request)
        if not self.runtime.signer.verify(body, environ.get(protocol.SIGNATURE_KEY, "")):
            log.warning("refused message %s: missing or invalid signature", delivery.message_id)
            return _answer(403, "invalid_signature")
        try:
            envelope = Envelope.from_json(body)
        except UnsupportedEnvelopeVersion as error:
            log.error("refused message %s: %s", delivery.message_id, error)
            return _answer(422, "unsupported_envelope")
        except EnvelopeError as error:
            log.error("refused message %s: %s", delivery.message_id, error)
            return _answer(400, "malformed_message")
        now = datetime.now(UTC)
        if now >= envelope.expires_at:
            return self._expired(envelope, delivery)
        if envelope.run_at is not None:
            early = (envelope.run_at - now).total_seconds()
            if early > RUN_AT_TOLERANCE_SECONDS:
                return self._reschedule(envelope, delivery, early)
        try:
            definition = self.runtime.jobs.get(envelope.name)
        except UnknownJobError as error:
            return self._reject(envelope, delivery, "unknown_job", str(error))
        return self._run(request, envelope, delivery, definition)

    def _check_source(self, environ: Mapping[str, Any]) -> Response | None:
        """None when the request may come from the daemon; else the refusal to answer."""
        source = self._source_of(environ)
        if source is protocol.Source.TRUSTED:
            return None
        if source is protocol.Source.UNKNOWN:
            if not self._warned_unknown_source:
                self._warned_unknown_source = True
                log.warning(
                    "refusing daemon requests: %s deletes X-Forwarded-For and Forwarded from "
                    "requests it does not get from its trusted_proxy, so a proxied internet "
                    "request cannot be told from the daemon's. If nothing proxies to this app "
                    "(the daemon connects straight to the server), or waitress's trusted_proxy "
                    "is set so that REMOTE_ADDR is the client, set "
                    "elasticjobs.remote_addr_is_client = true; or have the proxy send "
                    "X-Real-IP (Elastic Beanstalk's nginx does). Logged once.",
                    environ.get("SERVER_SOFTWARE"),
                )
            return _answer(403, "source_unknown")
        log.warning(
            "refused a daemon request from an untrusted source: REMOTE_ADDR=%s "
            "X-Forwarded-For=%s X-Real-IP=%s Forwarded=%s (see elasticjobs.trusted_networks)",
            environ.get("REMOTE_ADDR"),
            environ.get(protocol.FORWARDED_FOR),
            environ.get(protocol.REAL_IP),
            environ.get(protocol.FORWARDED),
        )
        return _answer(403, "untrusted_source")

    def _periodic(self, request: Request, delivery: protocol.Delivery) -> Response:
        task = delivery.task_name
        if not task:
            return _answer(400, "missing_task_name")
        now = datetime.now(UTC)
        enqueued_at = delivery.sent_at or delivery.scheduled_at or now
        envelope = Envelope(
            name=task,
            job_id=delivery.message_id or uuid.uuid4().hex,
            queue=delivery.queue or self.runtime.settings.default_queue,
            arguments={},
            enqueued_at=enqueued_at,
            run_at=None,
            expires_at=enqueued_at,  # not signed, so nothing to expire
        )
        try:
            definition = self.runtime.jobs.get(task)
        except UnknownJobError as error:
            return self._reject(envelope, delivery, "unknown_job", str(error))
        # Periodic requests carry no signature, so anything on a trusted network could send
        # one: only jobs declared for cron.yaml may start this way.
        if not definition.periodic:
            return self._reject(
                envelope,
                delivery,
                "not_periodic",
                f"job {task!r} is not declared periodic, so a periodic-task request cannot start "
                "it; declare it with @job(periodic=True) (every schema field needs a default)",
            )
        return self._run(request, envelope, delivery, definition)

    def _run(
        self,
        request: Request,
        envelope: Envelope,
        delivery: protocol.Delivery,
        definition: JobDefinition,
    ) -> Response:
        try:
            loaded = definition.load(envelope.arguments)
        except InvalidJobArguments as error:
            return self._reject(
                envelope, delivery, "invalid_arguments", str(error), sorted(error.errors)
            )
        if self._is_duplicate(definition, envelope, delivery):
            log.info("job %s (%s) already ran: not run again", envelope.name, envelope.job_id)
            events.notify(self.registry, events.JobDuplicate(envelope, self.registry, delivery))
            return _answer(200, "duplicate", envelope.job_id)
        ctx = JobContext(
            job_id=envelope.job_id,
            name=envelope.name,
            queue=envelope.queue,
            attempt=delivery.receive_count,
            message_id=delivery.message_id,
            enqueued_at=envelope.enqueued_at,
            first_received_at=delivery.first_received_at,
            scheduled_at=delivery.scheduled_at,
            request=request,
            registry=self.registry,
        )
        return self._execute(definition, ctx, loaded, envelope, delivery)

    def _is_duplicate(
        self, definition: JobDefinition, envelope: Envelope, delivery: protocol.Delivery
    ) -> bool:
        """Whether the ledger (the audit log) has seen this run succeed already.

        Only successes count, so a failed run is retried; two copies delivered at the same
        moment can both run (at-least-once), one delivered after a success does not.
        """
        ledger = self.ledger
        if ledger is None:
            return False
        try:
            task, scheduled_at = delivery.task_name, delivery.scheduled_at
            if task and scheduled_at:
                return ledger.periodic_run_succeeded(task, scheduled_at)
            return definition.unique and ledger.has_succeeded(envelope.job_id)
        except Exception:
            # The record of runs must never decide a job's fate: run it (at least once).
            log.exception("could not ask the audit log about job %s; running it", envelope.job_id)
            return False

    def _execute(
        self,
        definition: JobDefinition,
        ctx: JobContext,
        arguments: dict[str, Any],
        envelope: Envelope,
        delivery: protocol.Delivery,
    ) -> Response:
        registry = self.registry
        events.notify(registry, events.JobStarted(envelope, registry, delivery))
        started = time.perf_counter()
        try:
            definition(ctx, arguments)
        except definition.discard_on as error:
            _doom_transaction(ctx.request)
            settle(ctx.request, _Ended(self, ctx, envelope, delivery, started, error))
            return _answer(200, "discarded", ctx.job_id, error=type(error).__name__)
        except Exception as error:
            duration = time.perf_counter() - started
            _doom_transaction(ctx.request)
            log.exception("job %s (%s) failed on attempt %d", ctx.name, ctx.job_id, ctx.attempt)
            last = self._is_last_attempt(ctx)
            events.notify(
                registry, events.JobFailed(envelope, registry, delivery, error, duration, last)
            )
            return _answer(500, "failed", ctx.job_id, error=type(error).__name__)
        settle(ctx.request, _Ended(self, ctx, envelope, delivery, started))
        return _answer(200, "succeeded", ctx.job_id)

    def _is_last_attempt(self, ctx: JobContext) -> bool:
        """After this failure SQS dead-letters the message instead of delivering it again."""
        limit = self.runtime.transport.max_receive_count(ctx.queue)
        if limit is None or ctx.attempt < limit:
            return False
        log.warning(
            "job %s (%s) failed its last attempt (%d of the queue's maxReceiveCount %d): SQS "
            "moves it to the dead-letter queue",
            ctx.name,
            ctx.job_id,
            ctx.attempt,
            limit,
        )
        return True

    def _reject(
        self,
        envelope: Envelope,
        delivery: protocol.Delivery,
        status: str,
        reason: str,
        fields: list[str] | None = None,
        code: int = 422,
    ) -> Response:
        # The reason goes to the log only: it can name the registered jobs or quote values.
        log.error("refused job %s (%s): %s", envelope.name, envelope.job_id, reason)
        events.notify(
            self.registry, events.JobRejected(envelope, self.registry, delivery, code, reason)
        )
        return _answer(code, status, envelope.job_id, fields=fields)

    def _expired(self, envelope: Envelope, delivery: protocol.Delivery) -> Response:
        """A message past its signed expiry is a replay (SQS keeps none that long): refuse it."""
        return self._reject(
            envelope,
            delivery,
            "expired",
            f"the message expired at {envelope.expires_at.isoformat()}, so it is not run: "
            "SQS keeps no message that long, so this one was sent again (a replay); enqueue "
            "the job anew if it should still run",
            code=410,
        )

    def _reschedule(
        self, envelope: Envelope, delivery: protocol.Delivery, early: float
    ) -> Response:
        """A message with a run_at beyond SQS's 15-minute delay came back early: send it on.

        Each early message is re-sent at most once by this process: a replayed copy (the
        same job at the same hop) is answered 200 and dropped.
        """
        key = (envelope.job_id, envelope.resent)
        if not self.resent.claim(key):
            log.warning(
                "job %s (%s) was already re-sent from this message (hop %d); dropped a copy",
                envelope.name,
                envelope.job_id,
                envelope.resent,
            )
            return _answer(200, "already_rescheduled", envelope.job_id)
        delay = min(MAX_DELAY_SECONDS, math.ceil(early))
        onward = replace(envelope, resent=envelope.resent + 1)
        message = signed_message(self.runtime, onward.to_json(), onward.name, delay_seconds=delay)
        try:
            message_id, _ = self.runtime.transport.send(envelope.queue, message)
        except EnqueueError as error:
            self.resent.release(key)
            # Not 200: the daemon keeps the message and retries, so nothing is lost.
            log.error("could not re-send early job %s: %s", envelope.job_id, error)
            return _answer(500, "reschedule_failed", envelope.job_id)
        log.info(
            "job %s (%s) is due in %.0fs: re-sent as %s with a %ds delay",
            envelope.name,
            envelope.job_id,
            early,
            message_id,
            delay,
        )
        events.notify(
            self.registry,
            events.JobRescheduled(envelope, self.registry, delivery, message_id, delay),
        )
        return _answer(200, "rescheduled", envelope.job_id)


class _Ended:
    """A job that returned (or was discarded): announced once its transaction has committed."""

    def __init__(
        self,
        worker: Worker,
        ctx: JobContext,
        envelope: Envelope,
        delivery: protocol.Delivery,
        started: float,
        discarded: BaseException | None = None,
    ) -> None:
        self.registry = worker.registry
        self.ctx = ctx
        self.envelope = envelope
        self.delivery = delivery
        self.duration = time.perf_counter() - started
        self.discarded = discarded

    def committed(self) -> None:
        ctx, error, registry = self.ctx, self.discarded, self.registry
        if error is None:
            log.info("job %s (%s) succeeded in %.3fs", ctx.name, ctx.job_id, self.duration)
            events.notify(
                registry, events.JobSucceeded(self.envelope, registry, self.delivery, self.duration)
            )
            return
        log.warning(
            "job %s (%s) discarded after %s: %s", ctx.name, ctx.job_id, type(error).__name__, error
        )
        events.notify(
            registry,
            events.JobDiscarded(self.envelope, registry, self.delivery, error, self.duration),
        )

    def commit_failed(self, error: Exception) -> None:
        ctx = self.ctx
        log.error(
            "job %s (%s) returned on attempt %d, but its transaction failed to commit",
            ctx.name,
            ctx.job_id,
            ctx.attempt,
            exc_info=error,
        )
        events.notify(
            self.registry,
            events.JobFailed(self.envelope, self.registry, self.delivery, error, self.duration),
        )


def _body(request: Request) -> bytes:
    """The request body, read once straight from the server when its length is known.

    webob's ``request.body`` re-reads Content-Length about ten times and makes the body
    seekable for later readers; nothing reads a delivery after the worker.
    """
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    body: bytes
    if length and length.isdigit() and "webob._parsed_post_vars" not in environ:
        body = environ["wsgi.input"].read(int(length))
    else:
        body = request.body
    return body


def _doom_transaction(request: Request) -> None:
    """Make pyramid_tm abort instead of committing what a failed job half did."""
    environ = request.environ
    if environ.get("tm.active"):
        environ["tm.manager"].doom()


def _answer(
    status: int,
    outcome: str,
    job_id: str | None = None,
    *,
    error: str | None = None,
    fields: list[str] | None = None,
) -> Response:
    payload: dict[str, Any] = {"status": outcome}
    if job_id is not None:
        payload["job_id"] = job_id
    if error is not None:
        payload["error"] = error
    if fields is not None:
        payload["fields"] = fields
    body = encode_json(payload)
    # A ready header list: webob's content-type and charset setters double the cost.
    return Response(
        body=body,
        status=status,
        headerlist=[("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
