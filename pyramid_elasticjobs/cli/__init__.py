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
SUBCOMMANDS: dict[str, str] = {"sqsd": "sqsd", "dev": "dev"}


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
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
