"""What every benchmark shares: a throwaway environment, a local SQS, interleaved timing."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent

#: Throwaway values: nothing here reaches AWS.
SECRET = "bench-secret-0123456789-abcdefghijklmnop"
REGION = "us-east-1"
QUEUE_PREFIX = "bench-"
#: Where apps that never send point their SQS client (a closed port: a send would fail loudly).
UNUSED_ENDPOINT = "http://127.0.0.1:9"

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables that would otherwise override the settings the benchmark apps are built with.
_OVERRIDES = ("AWS_REGION", "AWS_DEFAULT_REGION", "ELASTICJOBS_SECRET", "PROCESS_ELASTIC_JOBS")


def use_fake_aws() -> None:
    """Fake credentials and no instance-metadata lookups, for this process and its children."""
    os.environ.update(_FAKE_AWS)
    for name in _OVERRIDES:
        os.environ.pop(name, None)


def app_settings(endpoint_url: str = UNUSED_ENDPOINT) -> dict[str, str]:
    return {
        "elasticjobs.secret": SECRET,
        "elasticjobs.aws_region": REGION,
        "elasticjobs.endpoint_url": endpoint_url,
        "elasticjobs.queue_prefix": QUEUE_PREFIX,
        "elasticjobs.process_jobs": "true",
        # wrk and the daemon connect straight to waitress: no proxy in between.
        "elasticjobs.remote_addr_is_client": "true",
    }


@contextlib.contextmanager
def local_sqs(*queues: str) -> Iterator[tuple[str, Any]]:
    """moto's SQS HTTP server on a free loopback port, ``queues`` created: (endpoint, client)."""
    # werkzeug logs every request moto serves unless told otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
        for queue in queues:
            sqs.create_queue(QueueName=QUEUE_PREFIX + queue)
        yield endpoint, sqs
    finally:
        server.stop()


@contextlib.contextmanager
def spawned_server(
    module: str, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[int, int]]:
    """Run ``python -m module args``, a server that prints ``PORT <n>``: yield (port, pid).

    ``env`` is added to this process's environment for the server.
    """
    command = [sys.executable, "-m", module, *args]
    environment = {**os.environ, **(env or {})}
    # Our own modules with fixed arguments.
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=environment
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("PORT "):
            raise BenchmarkError(f"{' '.join(command[1:])} did not start (said {line!r})")
        yield int(line.split()[1]), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def machine() -> str:
    """CPUs, CPU model, Python and the load average: what the figures depend on."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load average {load}"
    )


class BenchmarkError(RuntimeError):
    """A benchmark saw something other than success: its figures would be meaningless."""


@dataclass(frozen=True, slots=True)
class Goal:
    """``ratio <= limit`` (a slowdown) or ``ratio >= limit`` (a speed-up)."""

    limit: float
    at_least: bool = False

    def met(self, ratio: float) -> bool:
        return ratio >= self.limit if self.at_least else ratio <= self.limit

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.limit:g}"


@dataclass(frozen=True, slots=True)
class Result:
    """One line of the table: medians of both sides and of the per-round ratios."""

    key: str
    title: str
    unit: str
    ours: float
    baseline: float
    ratios: list[float]
    goal: Goal | None  # None: a figure to read, with no goal
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def passed(self) -> bool:
        return self.goal is None or self.goal.met(self.ratio)


def calibrate(call: Callable[[], object], seconds: float) -> int:
    """How many calls of ``call`` take about ``seconds`` of CPU (warming it up on the way)."""
    count = 1
    while True:
        started = time.process_time()
        for _ in range(count):
            call()
        elapsed = time.process_time() - started
        if elapsed >= 0.05:
            return max(1, round(count * seconds / elapsed))
        count *= 4


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per call: elapsed, and CPU of this whole process (all its threads)."""

    wall: float
    cpu: float


def interleave(
    ours: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int,
    iterations: int,
) -> tuple[list[Timing], list[Timing]]:
    """Time each side per round; the sides alternate who goes first.

    Alternating in short rounds spreads the machine's drift (other processes, CPU
    frequency) over both sides instead of charging it to whichever ran last.
    """
    sides = {"ours": ours, "baseline": baseline}
    times: dict[str, list[Timing]] = {"ours": [], "baseline": []}
    for round_number in range(rounds):
        order = ("ours", "baseline") if round_number % 2 == 0 else ("baseline", "ours")
        for side in order:
            call = sides[side]
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(iterations):
                call()
            times[side].append(
                Timing(
                    (time.perf_counter() - wall) / iterations,
                    (time.process_time() - cpu) / iterations,
                )
            )
    return times["ours"], times["baseline"]


def timed_result(
    key: str,
    title: str,
    ours: Callable[[], object],
    baseline: Callable[[], object],
    *,
    goal: Goal,
    rounds: int,
    seconds_per_round: float,
) -> Result:
    """CPU per call of two callables in interleaved rounds; the ratio is ours / baseline.

    CPU time, not elapsed time: other processes on a shared machine then slow
    neither side (a CPU-bound call in one thread is all this measures).
    """
    iterations = calibrate(ours, seconds_per_round)
    calibrate(baseline, seconds_per_round)  # warm the baseline up as much
    ours_times, baseline_times = interleave(ours, baseline, rounds=rounds, iterations=iterations)
    ours_cpu = [timing.cpu for timing in ours_times]
    baseline_cpu = [timing.cpu for timing in baseline_times]
    return Result(
        key,
        title,
        "us",
        statistics.median(ours_cpu) * 1e6,
        statistics.median(baseline_cpu) * 1e6,
        [o / b for o, b in zip(ours_cpu, baseline_cpu, strict=True)],
        goal,
        [f"{iterations:,} calls per side per round, {rounds} rounds, CPU time per call"],
    )


def format_table(results: list[Result]) -> str:
    """An aligned table: both figures, the median ratio with its spread, the goal, PASS/MISS."""
    header = ("benchmark", "ours", "baseline", "ratio", "spread", "goal", "result")
    rows = [header] + [
        (
            result.title,
            f"{result.ours:,.1f} {result.unit}",
            f"{result.baseline:,.1f} {result.unit}",
            f"{result.ratio:.3f}",
            f"{min(result.ratios):.2f}-{max(result.ratios):.2f}",
            str(result.goal or "-"),
            "-" if result.goal is None else "PASS" if result.passed else "MISS",
        )
        for result in results
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        # Names read left-aligned, figures right-aligned so their digits line up.
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells)

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])
