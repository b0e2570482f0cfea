"""The code stays ruff- and mypy-clean and keeps its layers: the test command checks it."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pyramid_elasticjobs"
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        [sys.executable, "-m", "mypy"],
        # The contracts of [tool.importlinter] in pyproject.toml.
        [str(BIN / "lint-imports"), "--no-cache"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-layers"],
)
def test_code_passes(command: list[str]) -> None:
    """ruff (lint and format), mypy and import-linter report nothing."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layer_contract_names_every_core_module() -> None:
    """Each top-level module of the package is a source of the core contract: none escapes it."""
    [core] = [c for c in _contracts() if c["id"] == "core"]
    modules = {
        "pyramid_elasticjobs" if path.stem == "__init__" else f"pyramid_elasticjobs.{path.stem}"
        for path in PACKAGE.glob("*.py")
    }
    assert set(core["source_modules"]) == modules


def test_layer_contract_forbids_every_wing() -> None:
    """Each subpackage of the package (a new audit/, say) is a wing the core may not import."""
    [core] = [c for c in _contracts() if c["id"] == "core"]
    subpackages = {
        f"pyramid_elasticjobs.{path.parent.name}" for path in PACKAGE.glob("*/__init__.py")
    }
    assert subpackages <= set(core["forbidden_modules"])


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


#: The tools whose verdict is part of the test command, and the stubs they read.
CHECKERS = (
    "ruff",
    "mypy",
    "import-linter",
    "grimp",
    "boto3-stubs",
    "botocore-stubs",
    "mypy-boto3-sqs",
    "types-s3transfer",
    "types-PyYAML",
)


def test_checkers_are_pinned_exactly_and_installed_at_their_pins() -> None:
    """A new ruff, mypy, import-linter or stub release cannot change the verdict unasked."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {}
    for requirement in config["project"]["optional-dependencies"]["dev"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^;\s]+)", requirement)
        if match:
            pins[match.group(1)] = match.group(2)
    assert set(CHECKERS) <= set(pins), f"not pinned with ==: {set(CHECKERS) - set(pins)}"
    installed = {name: version(name) for name in CHECKERS}
    assert installed == {name: pins[name] for name in CHECKERS}, (
        "reinstall: pip install -e '.[dev]'"
    )
