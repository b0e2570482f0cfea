"""The ``elasticjobs`` console command: one subcommand per module of this package.

Each subcommand module has ``add_parser(subparsers)``, which registers its
arguments and sets ``run`` (``run(args) -> int``) as the parser's default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Subcommand name -> module in this package; modules are imported only when listed
#: here, so ``elasticjobs --help`` does not load moto or waitress.
SUBCOMMANDS: dict[str, str] = {
    "sqsd": "sqsd",
    "dev": "dev",
    "db": "db",
    "doctor": "doctor",
    "jobs": "jobs",
    "cron": "cron",
    "enqueue": "enqueue",
    "dlq": "dlq",
}

#: Top-level module -> the extra of pyramid_elasticjobs that installs it (pyproject.toml).
EXTRA_MODULES: dict[str, str] = {
    **dict.fromkeys(("moto", "werkzeug", "flask", "flask_cors", "waitress"), "local"),
    **dict.fromkeys(("croniter", "yaml", "pyramid_jinja2"), "local"),
    **dict.fromkeys(("pyramid_tm", "transaction"), "tm"),
    **dict.fromkeys(("sqlalchemy", "alembic"), "audit"),
}


def missing_module(error: ModuleNotFoundError) -> str:
    """The top-level module (the package to install) that the error misses."""
    return (error.name or "").partition(".")[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elasticjobs",
        description="Background jobs for Pyramid on Elastic Beanstalk: local tools.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(f"{__name__}.{module_name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``elasticjobs``; returns the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(arguments)
    # ModuleNotFoundError only: a name missing from an installed module (a wrong version)
    # is not a missing extra.
    try:
        status: int = args.run(args)
    except ModuleNotFoundError as error:
        module = missing_module(error)
        extra = EXTRA_MODULES.get(module)
        if extra is None:
            raise
        print(
            f"elasticjobs {args.command}: error: the module {module!r} is missing: this "
            f"command needs the '{extra}' extra; install it with "
            f"pip install 'pyramid_elasticjobs[{extra}]'",
            file=sys.stderr,
        )
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
