"""The code stays ruff- and mypy-clean and keeps its layers: the test command checks it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
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
