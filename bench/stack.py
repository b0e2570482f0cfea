"""(e) The local stack end to end: jobs/s through the daemon emulator against the app's ceiling.

Four processes: moto's SQS as ``elasticjobs dev`` runs it (``python -m bench.sqs_serve``),
the app under waitress (``python -m bench.serve``), wrk, and this one, which enqueues
and runs :class:`SqsDaemon`. Each round the daemon drains a queue of no-op jobs and wrk
POSTs the same kind of signed delivery straight to the same app with as many
connections; a third side at 10 connections drains the queue with a bare
receive + delete loop, moto's own ceiling. CPU time is read per process from /proc,
so each message's cost is split by who pays it.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pyramid_elasticjobs import get_client
from pyramid_elasticjobs.daemon import DaemonOptions, SqsDaemon

from . import apps, jobs
from .common import QUEUE_PREFIX, REGION, BenchmarkError, Goal, Result, spawned_server
from .http import wrk, wrk_script
from .serve import THREADS
from .traffic import daemon_delivery

CONNECTIONS = (1, 10, 50)
#: The issue's goal: at 10 connections the emulator delivers half the app's ceiling or more.
GOAL = Goal(0.5, at_least=True)
GOAL_CONNECTIONS = 10
#: One connection delivers one message per ReceiveMessage: fewer jobs keep its rounds short.
SINGLE_CONNECTION_SHARE = 4
#: How often the benchmark reads the daemon's counts; it stops the clock at the last delete.
POLL_SECONDS = 0.005
#: This long without a delete means a message is stuck, not that the machine is slow.
STALL_SECONDS = 30.0
_QUEUE_COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        # After the command name, which may hold spaces: utime and stime are the 12th and 13th.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu() -> float:
    """CPU seconds the whole machine has spent idle so far (all CPUs, idle + iowait)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()  # cpu user nice system idle iowait ...
    return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Sample:
    """One side of one round: what got done, in how long, and each process's CPU seconds."""

    count: int
    seconds: float
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def per_message(self, process: str) -> float:
        """Microseconds of CPU per message."""
        return self.cpu[process] / self.count * 1e6

    def cores(self, process: str) -> float:
        """How many CPUs the process kept busy on average."""
        return self.cpu[process] / self.seconds


class CpuMeter:
    """CPU seconds of the SQS and app processes, of this one without its main thread, and
    the machine's idle time.

    The main thread only enqueues (outside the measured windows) and watches the
    daemon's counts, so the rest of this process's CPU is the daemon's threads'.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        readings = {name: process_cpu(pid) for name, pid in self.pids.items()}
        readings["daemon"] = time.process_time() - time.thread_time()
        readings["main"] = time.thread_time()
        readings["idle"] = idle_cpu()
        return readings

    @contextmanager
    def measuring(self, into: dict[str, float]) -> Iterator[None]:
        """Fill ``into`` with the CPU seconds each process spends inside the block."""
        before = self.read()
        yield
        after = self.read()
        into.update({name: after[name] - before[name] for name in before})


class Stack:
    """moto's SQS and the app, each in its own process, and a queue to feed them."""

    def __init__(self, sqs_port: int, app_port: int, pids: dict[str, int]) -> None:
        self.endpoint = f"http://127.0.0.1:{sqs_port}"
        self.app_url = f"http://127.0.0.1:{app_port}"
        self.meter = CpuMeter(pids)
        self.sqs: Any = boto3.client("sqs", region_name=REGION, endpoint_url=self.endpoint)
        self.queue_url: str = self.sqs.create_queue(QueueName=QUEUE_PREFIX + "default")["QueueUrl"]
        self.client = get_client(apps.with_include(self.endpoint).registry)
        self._daemon_client: Any = None

    @classmethod
    @contextmanager
    def running(cls, threads: int) -> Iterator[Stack]:
        with ExitStack() as started:
            sqs_port, sqs_pid = started.enter_context(spawned_server("bench.sqs_serve"))
            app_port, app_pid = started.enter_context(
                spawned_server("bench.serve", "with-include", "--threads", str(threads))
            )
            yield cls(sqs_port, app_port, {"sqs": sqs_pid, "app": app_pid})

    def fill(self, count: int) -> None:
        """Enqueue ``count`` signed no-op jobs through the application's client."""
        self._check_empty("before enqueueing")
        self.client.enqueue_many(jobs.noop, [{}] * count)

    def drain_with_daemon(self, connections: int, count: int) -> Sample:
        """Run a fresh SqsDaemon until it has deleted ``count`` jobs after a 200 each."""
        self.fill(count)
        options = DaemonOptions(
            queue=self.queue_url,
            region=REGION,
            endpoint_url=self.endpoint,
            worker_url=self.app_url,
            http_connections=connections,
            wait_time_seconds=1,
            summary_interval=0,
        )
        # One boto3 client for every round, as a long-running daemon has (creating one
        # costs more CPU than a hundred deliveries).
        daemon = SqsDaemon(options, sqs_client=self._daemon_client)
        self._daemon_client = daemon.sqs
        cpu: dict[str, float] = {}
        try:
            with self.meter.measuring(cpu):
                daemon.start()
                seconds = _watch(daemon, count)
        finally:
            daemon.stop()
        stats = daemon.stats
        counts = (stats.received, stats.delivered, stats.succeeded, stats.deleted)
        if counts != (count,) * 4:
            raise BenchmarkError(
                f"the daemon received {stats.received}, delivered {stats.delivered}, had "
                f"{stats.succeeded} answered 200 and deleted {stats.deleted} of {count} jobs; "
                "each should be exactly once"
            )
        self._check_empty("after the daemon's round")
        return Sample(count, seconds, cpu)

    def drain_bare(self, count: int) -> Sample:
        """moto's ceiling: one loop of ReceiveMessage (10, all attributes) + DeleteMessageBatch."""
        self.fill(count)
        cpu: dict[str, float] = {}
        done = 0
        with self.meter.measuring(cpu):
            started = time.perf_counter()
            while done < count:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=300,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    raise BenchmarkError(f"moto returned no message after {done} of {count}")
                answer = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )
                if answer.get("Failed"):
                    raise BenchmarkError(f"moto failed to delete: {answer['Failed']}")
                done += len(messages)
            seconds = time.perf_counter() - started
        cpu["loop"] = cpu.pop("main")
        self._check_empty("after the bare loop")
        return Sample(count, seconds, cpu)

    def _check_empty(self, when: str) -> None:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=_QUEUE_COUNTS
        )["Attributes"]
        left = {name: int(attributes[name]) for name in _QUEUE_COUNTS}
        if any(left.values()):
            raise BenchmarkError(f"the queue is not empty {when}: {left}")


def _watch(daemon: SqsDaemon, count: int) -> float:
    """Seconds from the first received message to the ``count``-th delete; fail on any error."""
    first: float | None = None
    deleted = 0
    stall_deadline = time.monotonic() + STALL_SECONDS
    while True:
        stats = daemon.stats
        now = time.perf_counter()
        if first is None and stats.received:
            first = now
        if stats.failed or stats.timed_out:
            raise BenchmarkError(
                f"{stats.failed} deliveries were not answered 200 and {stats.timed_out} timed "
                "out; the app must answer every no-op job with 200"
            )
        if stats.deleted >= count:
            return now - (first or now)
        if stats.deleted != deleted:
            deleted, stall_deadline = stats.deleted, time.monotonic() + STALL_SECONDS
        elif time.monotonic() > stall_deadline:
            raise BenchmarkError(
                f"no delete for {STALL_SECONDS:.0f}s after {deleted} of {count} jobs: {stats}"
            )
        time.sleep(POLL_SECONDS)


def _wrk_side(stack: Stack, script: Path, connections: int, seconds: int) -> Sample:
    cpu: dict[str, float] = {}
    with stack.meter.measuring(cpu):
        load = wrk(stack.app_url + "/", script, seconds, connections)
    return Sample(load.requests, load.seconds, cpu)


def _median(samples: list[Sample], measure: Callable[[Sample], float]) -> float:
    return statistics.median(measure(sample) for sample in samples)


def _cpu(samples: list[Sample], process: str) -> str:
    """``420 us (0.85 CPU)``: medians of CPU per message, and of the CPUs kept busy."""
    per_message = _median(samples, lambda sample: sample.per_message(process))
    return f"{per_message:,.0f} us ({_median(samples, lambda s: s.cores(process)):.2f} CPU)"


def _stack_cpu(sample: Sample) -> float:
    return sum(sample.per_message(process) for process in ("daemon", "sqs", "app"))


def measure_at(
    connections: int, script: Path, *, rounds: int, count: int, wrk_seconds: int
) -> list[Result]:
    """The emulator against wrk at ``connections``, in rounds that alternate who goes first."""
    threads = max(THREADS, connections)
    with Stack.running(threads) as stack:
        sides: dict[str, Callable[[], Sample]] = {
            "daemon": lambda: stack.drain_with_daemon(connections, count),
            "wrk": lambda: _wrk_side(stack, script, connections, wrk_seconds),
        }
        if connections == GOAL_CONNECTIONS:
            sides["bare"] = lambda: stack.drain_bare(count)
        # Warm-up: imports, first connections, waitress's threads, the daemon's client.
        stack.drain_with_daemon(connections, max(2 * connections, 100))
        _wrk_side(stack, script, connections, 1)
        samples: dict[str, list[Sample]] = {side: [] for side in sides}
        names = list(sides)
        for round_number in range(rounds):
            shift = round_number % len(names)
            for side in names[shift:] + names[:shift]:
                samples[side].append(sides[side]())
    daemon, load = samples["daemon"], samples["wrk"]
    notes = [
        f"{rounds} rounds of {count:,} jobs and {wrk_seconds} s of wrk -c{connections}; waitress "
        f"{threads} threads; ratio = emulator jobs/s / wrk req/s",
        f"CPU per job: daemon {_cpu(daemon, 'daemon')}, moto {_cpu(daemon, 'sqs')}, app "
        f"{_cpu(daemon, 'app')}, together {_median(daemon, _stack_cpu):,.0f} us; under wrk "
        f"the app spends {_cpu(load, 'app')} per request",
        f"idle CPUs on the machine: {_median(daemon, lambda s: s.cores('idle')):.2f} while the "
        f"daemon ran, {_median(load, lambda s: s.cores('idle')):.2f} under wrk",
    ]
    results = [
        Result(
            f"stack-{connections}",
            f"(e) local stack vs wrk, {connections} connection{'s' * (connections > 1)}",
            "/s",
            _median(daemon, lambda s: s.rate),
            _median(load, lambda s: s.rate),
            [d.rate / w.rate for d, w in zip(daemon, load, strict=True)],
            GOAL if connections == GOAL_CONNECTIONS else None,
            notes,
        )
    ]
    if "bare" in samples:
        bare = samples["bare"]
        sqs_cost = _median(bare, lambda s: s.per_message("sqs"))
        results.append(
            Result(
                "stack-sqs",
                f"(e) local stack at {connections} connections vs moto alone",
                "/s",
                _median(daemon, lambda s: s.rate),
                _median(bare, lambda s: s.rate),
                [d.rate / b.rate for d, b in zip(daemon, bare, strict=True)],
                None,
                [
                    "moto alone = one loop of ReceiveMessage (10, all attributes) + "
                    f"DeleteMessageBatch: moto {_cpu(bare, 'sqs')} per message (a whole CPU "
                    f"would serve {1e6 / sqs_cost:,.0f}/s), the loop's boto3 client "
                    f"{_cpu(bare, 'loop')}"
                ],
            )
        )
    return results


def measure(rounds: int, count: int, wrk_seconds: int) -> list[Result]:
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "delivery.lua"
        script.write_text(wrk_script(daemon_delivery()))
        results: list[Result] = []
        for connections in CONNECTIONS:
            jobs_per_round = count // SINGLE_CONNECTION_SHARE if connections == 1 else count
            results += measure_at(
                connections, script, rounds=rounds, count=jobs_per_round, wrk_seconds=wrk_seconds
            )
    return results
