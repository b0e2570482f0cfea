"""What the commands that work on an application share: loading it from an ini file, tables.

Loading follows Pyramid's own scripts (``pshell``, ``proutes``): the ini file's logging
sections apply, then the ``[app:main]`` application is built and its registry made
current. A mistake in the file is a :class:`CommandError` saying what to fix.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyramid.exceptions import ConfigurationError as PyramidConfigurationError

if TYPE_CHECKING:
    from pyramid.registry import Registry

CONFIG_HELP = "ini file (or file.ini#name) of the application, e.g. production.ini"


class CommandError(Exception):
    """A command cannot go on: ``message`` says why and what to do; ``status`` is the exit."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def fail(command: str, message: str, status: int) -> int:
    print(f"elasticjobs {command}: error: {message}", file=sys.stderr)
    return status


def check_config_file(config_uri: str) -> str:
    """The ini file's path; :class:`CommandError` if there is none."""
    path = config_uri.partition("#")[0]
    if not os.path.isfile(path):
        raise CommandError(
            f"config file {path!r} not found; give the path of the application's ini file, "
            "such as development.ini or production.ini"
        )
    return path


def setup_logging(config_uri: str) -> None:
    """Logging as the ini file says; :class:`CommandError` if the file is missing or wrong."""
    from pyramid.paster import setup_logging as paster_setup_logging

    check_config_file(config_uri)
    try:
        paster_setup_logging(config_uri)
    except (configparser.Error, KeyError, ValueError) as error:
        raise CommandError(f"the logging sections of {config_uri!r} are invalid: {error}") from None


def app_settings(config_uri: str) -> dict[str, Any]:
    """The ``[app:...]`` section's settings as written (no application is built)."""
    from pyramid.paster import get_appsettings

    try:
        return dict(get_appsettings(config_uri))
    except (LookupError, configparser.Error, ValueError) as error:
        raise CommandError(
            f"cannot read the application section of {config_uri!r}: {error}; the file needs "
            "an [app:main] section (or give file.ini#name)"
        ) from None


def server_settings(config_uri: str) -> dict[str, Any] | None:
    """``[server:main]`` as written, or None when the file has none."""
    parser = configparser.ConfigParser(interpolation=None)
    path = check_config_file(config_uri)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise CommandError(f"cannot read {path!r}: {error}") from None
    if not parser.has_section("server:main"):
        return None
    return dict(parser.items("server:main"))


@contextmanager
def loaded_app(config_uri: str, overrides: Mapping[str, str] | None = None) -> Iterator[Registry]:
    """Build the application of the ini file and yield its registry (made current).

    ``overrides`` replace keys of the application's section, which ``get_app``'s
    options cannot (they only fill ``%(name)s`` variables).
    """
    from pyramid.config import global_registries
    from pyramid.paster import get_app
    from pyramid.scripting import prepare

    from pyramid_elasticjobs.devstack.apps import paste_app_factory

    check_config_file(config_uri)
    try:
        app = paste_app_factory(config_uri)(overrides) if overrides else get_app(config_uri)
    except PyramidConfigurationError as error:  # ours too: a subclass
        # Pyramid wraps errors raised at commit; the original says what to fix.
        raise CommandError(
            f"the application of {config_uri!r} does not start: {getattr(error, 'evalue', error)}"
        ) from None
    except LookupError as error:  # paste: no such section, or no such entry point
        raise CommandError(f"cannot load the application of {config_uri!r}: {error}") from None
    # A filter or pipeline hides the router; Pyramid remembers the last registry it made.
    registry = getattr(app, "registry", None) or global_registries.last
    if registry is None:
        raise CommandError(f"the application of {config_uri!r} is not a Pyramid application")
    environment = prepare(registry=registry)
    try:
        yield registry
    finally:
        environment["closer"]()


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    table = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(headers))]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
