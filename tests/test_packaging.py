"""The wheel ships the package, its typing marker, dashboard and migrations inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run from the installed wheel: where each part resolves from, and what migrations ship.
RESOLVE = """
import importlib.resources, sys
import pyramid_elasticjobs, pyramid_elasticjobs.audit, pyramid_elasticjobs.migrations
for module in (pyramid_elasticjobs, pyramid_elasticjobs.audit, pyramid_elasticjobs.migrations):
    print(module.__name__, module.__file__)
files = importlib.resources.files("pyramid_elasticjobs.migrations")
for name in ("env.py", "script.py.mako", "versions/0001_audit_log_tables.py"):
    print(name, files.joinpath(name).is_file())
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel, once for this module."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = folder.glob("pyramid_elasticjobs-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own (dependencies come from this venv)."""
    target = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "-t", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def _run_installed(installed: Path, cwd: Path, *arguments: str) -> str:
    """Run python with the installed wheel first on the path, outside the source tree."""
    result = subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_wheel_contains_subpackages_and_marker(wheel: Path) -> None:
    """dashboard/ and migrations/ install as pyramid_elasticjobs.dashboard / .migrations, with
    the dashboard's templates and static files; the demo stays in the repository."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "pyramid_elasticjobs/__init__.py",
        "pyramid_elasticjobs/py.typed",
        "pyramid_elasticjobs/dashboard/__init__.py",
        "pyramid_elasticjobs/migrations/__init__.py",
        "pyramid_elasticjobs/migrations/env.py",
        "pyramid_elasticjobs/migrations/script.py.mako",
        "pyramid_elasticjobs/migrations/versions/0001_audit_log_tables.py",
        "pyramid_elasticjobs/audit/__init__.py",
        "pyramid_elasticjobs/audit/store.py",
        "pyramid_elasticjobs/cli/__init__.py",
        "pyramid_elasticjobs/daemon/daemon.py",
        "pyramid_elasticjobs/devstack/stack.py",
        "pyramid_elasticjobs/deadletters/service.py",
        "pyramid_elasticjobs/dashboard/templates/base.jinja2",
        "pyramid_elasticjobs/dashboard/static/dashboard.js",
        "pyramid_elasticjobs/dashboard/static/dashboard.css",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert not [name for name in names if name.startswith("elasticjobs_demo/")]
    entry_points = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith("entry_points.txt")))
        .decode()
    )
    assert "elasticjobs = pyramid_elasticjobs.cli:main" in entry_points
    assert "demo" not in entry_points


def test_audit_and_migrations_resolve_from_the_installed_wheel(
    installed: Path, tmp_path: Path
) -> None:
    """pyramid_elasticjobs.audit and .migrations (env.py, script.py.mako, versions/) load from
    the installed wheel, not from the source tree."""
    lines = _run_installed(installed, tmp_path, "-c", RESOLVE).splitlines()
    modules = dict(line.split(" ", 1) for line in lines[:3])
    for name, path in modules.items():
        assert Path(path).is_relative_to(installed), f"{name} loaded from {path}"
    assert lines[3:] == [
        "env.py True",
        "script.py.mako True",
        "versions/0001_audit_log_tables.py True",
    ]


def test_alembic_upgrade_works_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    """`alembic upgrade head` with script_location = pyramid_elasticjobs.migrations: creates
    the audit log's tables from the installed wheel."""
    database = tmp_path / "audit.sqlite"
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        "script_location = pyramid_elasticjobs.migrations:\n"
        f"sqlalchemy.url = sqlite:///{database}\n",
        encoding="utf-8",
    )
    _run_installed(installed, tmp_path, "-m", "alembic", "-c", str(ini), "upgrade", "head")
    tables = _run_installed(
        installed,
        tmp_path,
        "-c",
        "import sqlite3, sys; print(' '.join(sorted(r[0] for r in sqlite3.connect(sys.argv[1])"
        ".execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\"))))",
        str(database),
    ).split()
    assert tables == [
        "elasticjobs_actions",
        "elasticjobs_alembic_version",
        "elasticjobs_attempts",
        "elasticjobs_dead_letters",
        "elasticjobs_jobs",
        "elasticjobs_periodic_runs",
        "elasticjobs_rollups",
    ]
