"""``python -m bench``: run the benchmarks and print their ratios in one table.

Each comparison runs both sides in alternating rounds within this one run and
reports medians, so a noisy (shared, 2-core) machine shifts both sides alike.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import audit, dashboard, enqueue, http, peers, stack, wsgi
from .common import Result, format_table, machine, use_fake_aws


@dataclass(frozen=True, slots=True)
class Plan:
    """How long to measure: rounds per comparison and the length of each side's turn."""

    rounds: int
    seconds: float
    http_rounds: int
    http_seconds: int
    batch_rounds: int
    stack_rounds: int
    stack_jobs: int
    batch_jobs: int = 1_000


FULL = Plan(
    rounds=9,
    seconds=0.4,
    http_rounds=6,
    http_seconds=3,
    batch_rounds=3,
    stack_rounds=3,
    stack_jobs=1_000,
)
QUICK = Plan(
    rounds=5,
    seconds=0.15,
    http_rounds=3,
    http_seconds=1,
    batch_rounds=2,
    stack_rounds=2,
    stack_jobs=400,
)

Benchmark = Callable[[Plan], list[Result]]

BENCHMARKS: dict[str, Benchmark] = {
    "get": lambda plan: [wsgi.measure_get(plan.rounds, plan.seconds)],
    "get-tm": lambda plan: [wsgi.measure_get(plan.rounds, plan.seconds, tm=True)],
    "get-http": lambda plan: [http.measure_get(plan.http_rounds, plan.http_seconds)],
    "job": lambda plan: [wsgi.measure_job(plan.rounds, plan.seconds)],
    "job-http": lambda plan: [http.measure_job(plan.http_rounds, plan.http_seconds)],
    "enqueue": lambda plan: [enqueue.measure_enqueue(plan.rounds, plan.seconds)],
    "batch": lambda plan: enqueue.measure_batch(plan.batch_rounds, plan.batch_jobs),
    "stack": lambda plan: stack.measure(plan.stack_rounds, plan.stack_jobs, plan.http_seconds),
    # Installs django-eb-sqs-worker from PyPI into a venv of its own on first use.
    "peers": lambda plan: peers.measure(plan.http_rounds, plan.http_seconds),
    "audit-http": lambda plan: audit.measure_http(plan.http_rounds, plan.http_seconds),
    # 4 million rows per database: about half an hour on 2 shared cores (--quick: a tenth).
    "audit-scale": lambda plan: audit.measure_scale(
        *audit.scale_plan(plan is QUICK), days=30, prune_days=20, batch=5_000
    ),
    # Builds 1M jobs + 3M attempts once (cached in var/bench/ for 6 h), copies them into a
    # throwaway PostgreSQL; --quick: a tenth, and the 1,000th page instead of the 10,000th.
    "dashboard": lambda plan: dashboard.measure(plan.rounds * 2, quick=plan is QUICK),
}
#: Run only when named (--only): they take far longer than the rest together.
ON_REQUEST = {"audit-scale", "dashboard"}
GROUPS = {
    "a": ("get", "get-tm", "get-http"),
    "b": ("job", "job-http"),
    "c": ("enqueue",),
    "d": ("batch",),
    "e": ("stack",),
    "http": ("get-http", "job-http"),
    "audit": ("audit-http", "audit-scale"),
}
#: The in-process comparisons whose "ours" side --profile can run under cProfile.
PROFILED: dict[str, Callable[[], tuple[Callable[[], object], Callable[[], object]]]] = {
    "get": wsgi.get_pair,
    "get-tm": functools.partial(wsgi.get_pair, tm=True),
    "job": wsgi.job_pair,
    "enqueue": enqueue.enqueue_pair,
}

#: PROTOCOL.md's figures for the worker endpoint on this kind of machine.
FLOOR_REFERENCE = 5_700
PEERS = {"django-eb-sqs-worker": 0.48, "active_elastic_job (Rails 6.1, puma)": 0.57}


def selection(text: str | None) -> list[str]:
    if not text:
        return [key for key in BENCHMARKS if key not in ON_REQUEST]
    chosen: list[str] = []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        keys = GROUPS.get(name, (name,))
        for key in keys:
            if key not in BENCHMARKS:
                raise argparse.ArgumentTypeError(
                    f"unknown benchmark {name!r}; choose from {', '.join([*GROUPS, *BENCHMARKS])}"
                )
            if key not in chosen:
                chosen.append(key)
    return sorted(chosen, key=list(BENCHMARKS).index)


def peer_comparison(result: Result) -> str:
    """Where our worker endpoint stands against the peers' share of their own floors."""
    share = 1 / result.ratio
    peers = "; ".join(
        f"{name} reaches {peer:.2f} ({1 / peer:.2f}x slower)" for name, peer in PEERS.items()
    )
    return (
        f"worker endpoint over HTTP reaches {share:.2f} of its decode-only floor "
        f"({result.ratio:.2f}x slower); {peers}. Floor measured: {result.baseline:,.0f} req/s "
        f"(PROTOCOL.md: about {FLOOR_REFERENCE:,})"
    )


def profile(key: str, seconds: float = 3.0, top: int = 30) -> None:
    """Run our side of an in-process comparison under cProfile; print where the time goes."""
    ours, _ = PROFILED[key]()
    for _ in range(100):
        ours()
    profiler = cProfile.Profile()
    calls = 0
    deadline = time.perf_counter() + seconds
    profiler.enable()
    while time.perf_counter() < deadline:
        ours()
        calls += 1
    profiler.disable()
    print(f"{key}: {calls:,} calls under cProfile (per-call times are inflated by it)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        type=selection,
        default=selection(None),
        metavar="NAMES",
        help="comma-separated benchmarks or groups: "
        f"{', '.join(BENCHMARKS)}; groups {', '.join(GROUPS)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~1 min)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILED),
        help="instead of measuring, profile our side of one in-process comparison",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any goal is missed"
    )
    args = parser.parse_args(argv)
    use_fake_aws()
    if args.profile:
        profile(args.profile)
        return 0
    plan = QUICK if args.quick else FULL
    print(f"pyramid_elasticjobs benchmark: {machine()}", flush=True)
    results: list[Result] = []
    for key in args.only:
        started = time.perf_counter()
        results += BENCHMARKS[key](plan)
        print(f"  {key}: done in {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print(format_table(results))
    print()
    for result in results:
        for note in result.notes:
            print(f"{result.key}: {note}")
        if result.key == "job-http":
            print(f"{result.key}: {peer_comparison(result)}")
    print(f"finished: {machine()}")
    missed = [result.key for result in results if not result.passed]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
