"""The wheel ships the package, its typing marker, dashboard and migrations inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_subpackages_and_marker(tmp_path: Path) -> None:
    """dashboard/ and migrations/ install as pyramid_elasticjobs.dashboard / .migrations."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("pyramid_elasticjobs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "pyramid_elasticjobs/__init__.py",
        "pyramid_elasticjobs/py.typed",
        "pyramid_elasticjobs/dashboard/__init__.py",
        "pyramid_elasticjobs/migrations/__init__.py",
        "pyramid_elasticjobs/cli/__init__.py",
        "pyramid_elasticjobs/daemon/daemon.py",
        "pyramid_elasticjobs/devstack/stack.py",
        "elasticjobs_demo/templates/home.jinja2",
        "elasticjobs_demo/static/demo.css",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "elasticjobs = pyramid_elasticjobs.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
