"""No PostgreSQL server: its tests skip locally, saying how to run them; under CI they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .support import POSTGRESQL_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
ONE_POSTGRESQL_TEST = "tests/audit/test_values.py::test_arguments_round_trip_as_json[postgresql]"
PYTEST_OPTIONS = ("-p", "no:cacheprovider", ONE_POSTGRESQL_TEST)


def _run_without_server(ci: str | None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in (POSTGRESQL_VARIABLE, "CI")}
    if ci is not None:
        environ["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "--no-cov", *PYTEST_OPTIONS],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_postgresql_tests_skip_locally_saying_how_to_run_them() -> None:
    """Locally, a missing server skips with the variable to set and `bash .ci/run`."""
    result = _run_without_server(None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert POSTGRESQL_VARIABLE in result.stdout
    assert "bash .ci/run" in result.stdout


def test_postgresql_tests_fail_under_ci_without_a_server() -> None:
    """With CI=true a missing server is a failure, not a skip."""
    result = _run_without_server("true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "CI must test on PostgreSQL" in result.stdout
