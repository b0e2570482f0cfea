"""Build a WSGI application from a PasteDeploy ini file, with settings overridden.

``pyramid.paster.get_app(options=...)`` only fills ``%(name)s`` variables: it cannot
replace a key of ``[app:main]``. The stack must, since the embedded SQS's port is
known only once it runs, so it edits the app section's settings before creating it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from paste.deploy import loadwsgi  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


def paste_app_factory(
    config_uri: str,
) -> Callable[[Mapping[str, str]], WSGIApplication]:
    """A factory: settings overrides -> the app of ``file.ini`` or ``file.ini#name``."""
    path, _, name = config_uri.partition("#")
    uri = "config:" + os.path.abspath(path)

    def build(overrides: Mapping[str, str]) -> WSGIApplication:
        context = loadwsgi.loadcontext(loadwsgi.APP, uri, name=name or "main")
        _application_context(context).local_conf.update(overrides)
        app: WSGIApplication = context.create()
        return app

    return build


def _application_context(context: Any) -> Any:
    """The ``[app:...]`` section behind a pipeline or filters."""
    while True:
        inner = getattr(context, "app_context", None) or getattr(context, "next_context", None)
        if inner is None:
            return context
        context = inner
