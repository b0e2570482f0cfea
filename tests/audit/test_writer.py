"""Write-behind: job events leave the job's thread and reach the database in batches."""

from __future__ import annotations

import threading

from pyramid_elasticjobs.audit.writer import Write, WriteBehind, batches

START, END = 2, 4


def _write(job: str, rank: int) -> Write:
    return Write(statement=f"statement {rank}", rank=rank, job_id=job, params={"job": job})


def test_a_batch_writes_each_job_in_order_and_groups_kinds_of_rows() -> None:
    """Starts before ends whatever their arrival; a second start after an end splits the batch."""
    writes = [_write("a", START), _write("b", START), _write("a", END), _write("b", END)]
    writes += [_write("a", START), _write("a", END)]  # a's retry, in the same batch
    parts = batches(writes)
    assert [[(w.job_id, w.rank) for w in part] for part in parts] == [
        [("a", START), ("b", START), ("a", END), ("b", END)],
        [("a", START), ("a", END)],
    ]


def test_events_are_written_off_the_callers_thread_and_flush_waits_for_them() -> None:
    """submit() returns at once; flush() returns once the writer has handed everything on."""
    written: list[tuple[str, str]] = []
    threads: set[str] = set()
    release = threading.Event()

    def write_batch(writes: list[Write]) -> None:
        release.wait(10)
        threads.add(threading.current_thread().name)
        written.extend((w.job_id, w.statement) for w in writes)

    writer = WriteBehind(write_batch, interval=0.01)
    for job in ("a", "b", "c"):
        writer.submit([_write(job, START)])
    assert written == []  # the caller did not wait for the database
    release.set()
    writer.flush()
    assert sorted(job for job, _ in written) == ["a", "b", "c"]
    assert threads == {"elasticjobs-audit-writer"}
